// libFuzzer harness for the HTTP/2 glue (HTTP2Session over nghttp2). Built by scripts/fuzz with -DFUZZING and
// -sanitize=fuzzer (libFuzzer supplies main). A plain `swift build` compiles it without FUZZING, as a small
// executable that replays input files (`LatchkeyHTTP2Fuzz FILE...`) or writes the seed corpus
// (`LatchkeyHTTP2Fuzz --write-seeds DIR`).
import LatchkeyFuzzSupport
import LatchkeyHTTP

/// The client connection preface (RFC 9113 §3.4): a server session is fed it before the input.
let preface = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8)

/// Runs one input. The first byte picks the role fed the rest (even: a server reading a client's frames;
/// odd: a client that sent a request reading a server's frames) and where the input is split. Fed whole and
/// split in two, the session must report the same events (data merged) or the same error; fed in small
/// pieces while answering every request, no stream may report anything after it closed.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let input = Array(data)
    guard let first = input.first else { return }
    let frames = Array(input.dropFirst())
    let role: HTTP2Session.Role = first & 1 == 0 ? .server : .client
    let split = frames.isEmpty ? 0 : Int(first) * 7919 % (frames.count + 1)

    let whole = outcome(role: role, pieces: [frames])
    let halves = outcome(role: role, pieces: [Array(frames[..<split]), Array(frames[split...])])
    check(
        whole.untilGoAway == halves.untilGoAway || (whole.error != nil && halves.error != nil),
        "\(role): whole \(whole) != split at \(split) \(halves)")
    answering(role: role, frames: frames, pieceSize: 1 + Int(first >> 4))
}

/// What a session reports from the pieces, without answering: the events (data merged) and the error.
struct Outcome: Equatable {
    var events: [HTTP2Event] = []
    var error: HTTP2Error?

    /// The events up to the peer's first GOAWAY: after it the peer may open no stream, and nghttp2 drops
    /// what follows in a later read but not in the same one, so only what comes before is compared.
    var untilGoAway: Outcome {
        guard let index = events.firstIndex(where: { if case .goAway = $0 { true } else { false } }) else { return self }
        return Outcome(events: Array(events[...index]), error: nil)
    }
}

func makeSession(_ role: HTTP2Session.Role) -> (HTTP2Session, [UInt8])? {
    var settings = HTTP2Settings()
    settings.maxHeaderListSize = 4096
    settings.maxConcurrentStreams = 8
    settings.resetBurst = 5
    guard let session = try? HTTP2Session(role: role, settings: settings) else { return nil }
    guard role == .client else { return (session, preface) }
    _ = try? session.submitRequest(
        HTTP2RequestHead(method: "POST", scheme: "https", authority: "a.example", path: "/"), endStream: false)
    return (session, [])
}

func outcome(role: HTTP2Session.Role, pieces: [[UInt8]]) -> Outcome {
    guard let (session, lead) = makeSession(role) else { return Outcome() }
    var result = Outcome()
    var output: [UInt8] = []
    var ignored: [HTTP2Event] = []
    // The session's own SETTINGS (and the client's request) leave first, as on a real connection.
    try? session.send(into: &output, events: &ignored)
    do throws(HTTP2Error) {
        try session.receive(lead, into: &result.events)
        for piece in pieces { try session.receive(piece, into: &result.events) }
    } catch {
        result.error = error
    }
    result.events = merged(result.events)
    return result
}

/// Feeds the frames a few bytes at a time, answering every request with a body and trailers and consuming
/// every DATA byte, and checks each stream's events keep their order.
func answering(role: HTTP2Session.Role, frames: [UInt8], pieceSize: Int) {
    guard let (session, lead) = makeSession(role) else { return }
    var events: [HTTP2Event] = []
    var output: [UInt8] = []
    var closed: Set<Int32> = []
    var opened: Set<Int32> = []
    func process() {
        for event in events {
            switch event {
            case .request(let stream, let head, let endStream):
                check(!closed.contains(stream) && !opened.contains(stream), "request on a used stream \(stream)")
                opened.insert(stream)
                check(head.headers.allSatisfy { $0.name == $0.name.lowercased() }, "uppercase field name in \(head)")
                _ = head.http1Head
                try? session.submitResponse(
                    stream: stream, HTTPResponseHead(status: 200, headers: ["content-type": "text/plain"]), endStream: false)
                session.sendData(stream: stream, Array("answer".utf8))
                if endStream { session.endStream(stream: stream, trailers: ["grpc-status": "0"]) }
            case .data(let stream, let bytes):
                check(!closed.contains(stream), "data after stream \(stream) closed")
                session.consume(stream: stream, count: bytes.count)
            case .end(let stream), .trailers(let stream, _):
                check(!closed.contains(stream), "end after stream \(stream) closed")
                if role == .server { session.endStream(stream: stream) }
            case .streamClosed(let stream, _):
                check(!closed.contains(stream), "stream \(stream) closed twice")
                closed.insert(stream)
            case .response(let stream, _, _), .interimResponse(let stream, _), .headersTooLarge(let stream):
                check(!closed.contains(stream), "head after stream \(stream) closed")
            case .dataDrained, .goAway, .remoteSettings:
                break
            }
        }
        events.removeAll()
    }
    try? session.send(into: &output, events: &events)
    process()
    var offset = 0
    let all = lead + frames
    while offset < all.count {
        let end = min(offset + pieceSize, all.count)
        do throws(HTTP2Error) {
            try session.receive(Array(all[offset..<end]), into: &events)
        } catch {
            process()
            return
        }
        process()
        output.removeAll(keepingCapacity: true)
        try? session.send(into: &output, events: &events)
        process()
        offset = end
    }
}

func merged(_ events: [HTTP2Event]) -> [HTTP2Event] {
    var out: [HTTP2Event] = []
    for event in events {
        if case .data(let stream, let more) = event, case .data(stream, let previous)? = out.last {
            out[out.count - 1] = .data(stream: stream, previous + more)
        } else {
            out.append(event)
        }
    }
    return out
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// Without libFuzzer: replays the files named on the command line, or writes the seeds.
@main
struct ReplayMain {
    static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments.first == "--write-seeds", arguments.count == 2 {
            writeSeeds(to: arguments[1])
        } else {
            replayFuzzInputs(arguments, fuzzOne)
        }
    }
}
#endif
