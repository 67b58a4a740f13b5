import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// Telling an HTTP/2 prior-knowledge connection from HTTP/1.1 by its first bytes (issue 13).
@Suite struct ClientPrefaceTests {
    @Test func thePrefaceSplitAtEveryOffsetWaitsThenIsHTTP2() {
        let preface = ClientPreface.bytes
        #expect(preface.count == 24)
        for end in 0..<preface.count {
            #expect(ClientPreface.classify(Array(preface[..<end])) == .needMore, "after \(end) bytes")
        }
        #expect(ClientPreface.classify(preface) == .http2)
        // The client's SETTINGS usually follow in the same read.
        #expect(ClientPreface.classify(preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]) == .http2)
    }

    @Test(arguments: ["GET / HTTP/1.1\r\n", "POST /x HTTP/1.1\r\n", "PUT /", "PATCH /", "PRI * HTTP/1.1\r\n", "p"])
    func http1RequestsAreHTTP1AsSoonAsTheyDiffer(_ start: String) {
        #expect(ClientPreface.classify(Array(start.utf8)) == .http1)
    }

    @Test func aPrefaceWithADifferentEndIsHTTP1() {
        var almost = ClientPreface.bytes
        almost[23] = UInt8(ascii: "X")
        #expect(ClientPreface.classify(almost) == .http1)
    }

    @Test func requestFramingFollowsEndStreamAndContentLength() {
        let bare = HTTPRequestHead(method: "POST", target: "/", version: .http2)
        #expect(HTTP2ClientConnection.framing(of: bare, endStream: true) == .none)
        #expect(HTTP2ClientConnection.framing(of: bare, endStream: false) == .chunked)
        var sized = bare
        sized.headers.add(name: "content-length", value: "12")
        #expect(HTTP2ClientConnection.framing(of: sized, endStream: false) == .contentLength(12))
        sized.headers.replaceOrAdd(name: "content-length", value: "0")
        #expect(HTTP2ClientConnection.framing(of: sized, endStream: false) == .none)
    }
}
