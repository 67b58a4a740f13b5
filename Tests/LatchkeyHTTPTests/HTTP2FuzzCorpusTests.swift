import Foundation
import LatchkeyHTTP
import Testing

/// The HTTP/2 fuzz seeds are real frames (written by `LatchkeyHTTP2Fuzz --write-seeds`): fed to the role
/// their first byte names, each must parse without error into the messages it was made from, so the
/// fuzzer starts from inputs that reach deep into the codec.
@Suite struct HTTP2FuzzCorpusTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("HTTP2FuzzCorpus")

    static func events(_ name: String) throws -> [HTTP2Event] {
        let data = try #require(FileManager.default.contents(atPath: directory.appendingPathComponent(name).path))
        let input = [UInt8](data)
        var events: [HTTP2Event] = []
        var output: [UInt8] = []
        if input[0] & 1 == 0 {
            let server = try HTTP2Session(role: .server)
            try server.receive(Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + input.dropFirst(), into: &events)
        } else {
            let client = try HTTP2Session(role: .client)
            _ = try client.submitRequest(
                HTTP2RequestHead(method: "POST", scheme: "https", authority: "a.example", path: "/"), endStream: false)
            try client.send(into: &output, events: &events)
            events = []
            try client.receive(Array(input.dropFirst()), into: &events)
        }
        return events
    }

    @Test func aClientPostWithTrailersIsARequest() throws {
        let events = try Self.events("client-post-trailers")
        #expect(events.contains { if case .request(1, let head, false) = $0 { head.path == "/pkg.Svc/Call" } else { false } })
        #expect(events.contains(.data(stream: 1, [0, 0, 0, 0, 3, 1, 2, 3])))
        #expect(events.contains(.trailers(stream: 1, ["x-checksum": "1"])))
    }

    @Test func twoGetsOneReset() throws {
        let events = try Self.events("client-two-gets-reset")
        #expect(events.contains { if case .request(1, _, true) = $0 { true } else { false } })
        #expect(events.contains { if case .goAway(_, .noError, _) = $0 { true } else { false } })
    }

    @Test func aServerResponseWithInterimAndTrailers() throws {
        let events = try Self.events("server-response-trailers")
        #expect(events.contains { if case .interimResponse(1, let head) = $0 { head.status == 103 } else { false } })
        #expect(events.contains { if case .response(1, let head, false) = $0 { head.status == 200 } else { false } })
        #expect(events.contains(.trailers(stream: 1, ["grpc-status": "0"])))
    }

    @Test func aServerGoAway() throws {
        let events = try Self.events("server-goaway")
        #expect(events.contains(.goAway(lastStreamID: 1, .enhanceYourCalm, debug: "calm")))
    }
}
