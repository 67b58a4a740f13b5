// libFuzzer harness for the HTTP/1.1 codec. Built by scripts/fuzz with -DFUZZING and
// -sanitize=fuzzer (libFuzzer supplies main). A plain `swift build` compiles it without
// FUZZING, as a small executable that replays input files through the same checks.
import LatchkeyHTTP
import LatchkeyFuzzSupport

/// Runs one input: each parser fed whole and split at an input-derived offset must agree on
/// the events (body chunks merged) or the error (a request asking to upgrade is declined, so what
/// follows it is parsed too); then the serializer output of every parsed
/// request head must parse back to the same head.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let input = Array(data)
    let split = input.isEmpty ? 0 : Int(input[0]) * 7919 % (input.count + 1)
    let limits = HTTP1Limits(maxRequestLineBytes: 256, maxHeaderBytes: 512, maxHeaderCount: 8, maxChunkSizeLineBytes: 32)

    let whole = requestOutcome([input], limits: limits)
    let halves = requestOutcome([Array(input[..<split]), Array(input[split...])], limits: limits)
    check(whole == halves, "request parser: whole \(whole) != split at \(split) \(halves)")
    let dripped = requestOutcome(input.map { [$0] }, limits: limits)
    check(whole == dripped, "request parser: whole \(whole) != byte by byte \(dripped)")

    if case .events(let events) = whole {
        checkBodies(events)
        for case .head(let head, _) in events {
            check(
                head.headers.allSatisfy { HTTPField.isValidName($0.name) && HTTPField.isValidValue($0.value) },
                "parsed head has an invalid field: \(head.headers)")
            var wire: [UInt8] = []
            HTTP1Serializer.appendRequestHead(head, to: &wire)
            var parser = HTTP1RequestParser(limits: HTTP1Limits())
            let reparsed = try? parser.feed(wire)
            check(reparsed?.first == .head(head, HTTP1RequestEvent.framing(of: reparsed?.first)), "request round trip")
            _ = RequestTarget.parse(head.target, method: head.method)
        }
    }

    checkChunkedRoundTrip(input)
    checkEndpointURL(input)

    let methods = input.count > 1 && input[1] & 1 == 1 ? ["HEAD", "GET"] : ["GET", "CONNECT"]
    let responseWhole = responseOutcome([input], methods: methods, limits: limits)
    let responseHalves = responseOutcome([Array(input[..<split]), Array(input[split...])], methods: methods, limits: limits)
    check(responseWhole == responseHalves, "response parser: whole \(responseWhole) != split at \(split) \(responseHalves)")
}

/// Whatever `EndpointURL.parse` accepts yields a request-target that cannot break the request line (no
/// space, control byte or '#') and a description that parses back to the same URL.
func checkEndpointURL(_ input: [UInt8]) {
    guard let url = try? EndpointURL.parse(String(decoding: input, as: UTF8.self)) else { return }
    check(
        url.requestTarget.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") },
        "endpoint URL request-target has a byte that breaks the request line: \(url.requestTarget.utf8.map { $0 })")
    check(url.requestTarget.hasPrefix("/"), "endpoint URL request-target is not origin-form")
    check((try? EndpointURL.parse(url.description)) == url, "endpoint URL does not round-trip: \(url)")
}

/// A body announced with Content-Length delivers exactly that many bytes before `.end`.
func checkBodies(_ events: [HTTP1RequestEvent]) {
    var expected: Int?
    var received = 0
    for event in events {
        switch event {
        case .head(_, let framing):
            if case .contentLength(let length) = framing { expected = length } else { expected = nil }
            received = 0
        case .body(let bytes):
            received += bytes.count
        case .trailers:
            break
        case .end:
            if let expected { check(received == expected, "body of \(received) bytes, Content-Length \(expected)") }
        }
    }
}

/// The input as a body, chunked at input-derived sizes, parses back to itself.
func checkChunkedRoundTrip(_ input: [UInt8]) {
    var wire = Array("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n".utf8)
    var index = 0
    while index < input.count {
        let size = min(input.count - index, Int(input[index]) + 1)
        HTTP1Serializer.appendChunk(input[index..<(index + size)], to: &wire)
        index += size
    }
    HTTP1Serializer.appendLastChunk(to: &wire)
    var parser = HTTP1RequestParser()
    let events = (try? parser.feed(wire)).map(merged)
    let body: [HTTP1RequestEvent] = input.isEmpty ? [] : [.body(input)]
    check(events.map { Array($0.dropFirst()) } == body + [.end], "chunked round trip")
}

enum Outcome<Event: Equatable>: Equatable {
    case events([Event])
    case failed(HTTP1ParseError)
}

func requestOutcome(_ pieces: [[UInt8]], limits: HTTP1Limits) -> Outcome<HTTP1RequestEvent> {
    var parser = HTTP1RequestParser(limits: limits)
    var events: [HTTP1RequestEvent] = []
    do {
        for piece in pieces {
            events += try parser.feed(piece)
            // Every upgrade is declined: the held bytes parse as what follows, wherever the input was split.
            while parser.isAwaitingUpgradeDecision { events += try parser.resumeAfterDeclinedUpgrade() }
        }
    } catch {
        return .failed(error)
    }
    events.append(.body(parser.takeTunnelBytes()))
    return .events(merged(events))
}

func responseOutcome(_ pieces: [[UInt8]], methods: [String], limits: HTTP1Limits) -> Outcome<HTTP1ResponseEvent> {
    var parser = HTTP1ResponseParser(limits: limits)
    for method in methods { parser.expectResponse(toMethod: method) }
    var events: [HTTP1ResponseEvent] = []
    do {
        for piece in pieces { events += try parser.feed(piece) }
        events += try parser.finishOnEOF()
    } catch {
        return .failed(error)
    }
    events.append(.body(parser.takeTunnelBytes()))
    return .events(merged(events))
}

func merged(_ events: [HTTP1RequestEvent]) -> [HTTP1RequestEvent] {
    var out: [HTTP1RequestEvent] = []
    for event in events {
        if case .body(let more) = event, case .body(let previous)? = out.last {
            out[out.count - 1] = .body(previous + more)
        } else {
            out.append(event)
        }
    }
    return out
}

func merged(_ events: [HTTP1ResponseEvent]) -> [HTTP1ResponseEvent] {
    var out: [HTTP1ResponseEvent] = []
    for event in events {
        if case .body(let more) = event, case .body(let previous)? = out.last {
            out[out.count - 1] = .body(previous + more)
        } else {
            out.append(event)
        }
    }
    return out
}

extension HTTP1RequestEvent {
    static func framing(of event: HTTP1RequestEvent?) -> HTTPBodyFraming {
        if case .head(_, let framing)? = event { framing } else { .none }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// Without libFuzzer: replays the files named on the command line (crash reproduction).
@main
struct ReplayMain {
    static func main() { replayFuzzInputs(CommandLine.arguments.dropFirst(), fuzzOne) }
}
#endif
