import LatchkeyHTTP
import Testing

struct ValidRequest: Sendable, CustomTestStringConvertible {
    let name: String
    let wire: String
    let expected: [HTTP1RequestEvent]
    var testDescription: String { name }
}

let validRequests: [ValidRequest] = [
    ValidRequest(
        name: "simple GET",
        wire: "GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n",
        expected: [
            .head(
                HTTPRequestHead(
                    method: "GET", target: "/index.html?q=1",
                    headers: ["Host": "example.com", "Accept": "*/*"]), .none),
            .end,
        ]),
    ValidRequest(
        name: "content-length body, OWS trimmed, duplicates and case kept",
        wire: "POST /p HTTP/1.1\r\nhost:a:8080\r\nContent-Length:  5 \r\nX-A: 1\r\nx-a:\t2\t\r\n\r\nhello",
        expected: [
            .head(
                HTTPRequestHead(
                    method: "POST", target: "/p",
                    headers: HTTPHeaders([("host", "a:8080"), ("Content-Length", "5"), ("X-A", "1"), ("x-a", "2")])),
                .contentLength(5)),
            .body(bytes("hello")), .end,
        ]),
    ValidRequest(
        name: "content-length zero",
        wire: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n",
        expected: [
            .head(HTTPRequestHead(method: "POST", target: "/", headers: ["Host": "a", "Content-Length": "0"]), .contentLength(0)),
            .end,
        ]),
    ValidRequest(
        name: "chunked with extensions and trailers",
        wire: "POST /u HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5;name=value\r\nhello\r\n"
            + "6 ; a=\"q\\\"x\" ;b\r\n world\r\n"
            + "A\r\n0123456789\r\n"
            + "0;last\r\nX-Trailer: t\r\nChecksum: 1\r\n\r\n",
        expected: [
            .head(
                HTTPRequestHead(method: "POST", target: "/u", headers: ["Host": "a", "Transfer-Encoding": "chunked"]),
                .chunked),
            .body(bytes("hello world0123456789")), .trailers(["X-Trailer": "t", "Checksum": "1"]), .end,
        ]),
    ValidRequest(
        name: "chunked, empty body, coding case-insensitive",
        wire: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: Chunked\r\n\r\n0\r\n\r\n",
        expected: [
            .head(HTTPRequestHead(method: "POST", target: "/", headers: ["Host": "a", "Transfer-Encoding": "Chunked"]), .chunked),
            .end,
        ]),
    ValidRequest(
        name: "one leading empty line, HTTP/1.0 without Host",
        wire: "\r\nGET / HTTP/1.0\r\n\r\n",
        expected: [.head(HTTPRequestHead(method: "GET", target: "/", version: .http1_0), .none), .end]),
    ValidRequest(
        name: "absolute-form, UTF-8 obs-text value, empty value",
        wire: "GET http://Example.com/x HTTP/1.1\r\nHost: example.com\r\nX-Name: caf\u{E9}\r\nX-Empty:\r\n\r\n",
        expected: [
            .head(
                HTTPRequestHead(
                    method: "GET", target: "http://Example.com/x",
                    headers: ["Host": "example.com", "X-Name": "caf\u{E9}", "X-Empty": ""]), .none),
            .end,
        ]),
    ValidRequest(
        name: "CONNECT",
        wire: "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        expected: [
            .head(HTTPRequestHead(method: "CONNECT", target: "example.com:443", headers: ["Host": "example.com:443"]), .none),
            .end,
        ]),
]

@Suite struct RequestParserTests {
    @Test(arguments: validRequests)
    func parsesTheSameWhicheverWayItIsSplit(_ request: ValidRequest) {
        for pieces in splits(bytes(request.wire)) {
            let result = parseRequest(pieces)
            #expect(result == .success(request.expected), "split into \(pieces.map(\.count))")
        }
    }

    @Test func pipelinedRequestsCoalescedInOneFeed() throws {
        // CONNECT last: after it the connection is a tunnel.
        let wire = validRequests.map(\.wire).joined()
        let expected = validRequests.flatMap(\.expected)
        var parser = HTTP1RequestParser()
        let events = try parser.feed(bytes(wire))
        #expect(normalized(events) == expected)
        #expect(parser.isTunneling)
        // And drip-fed, and split at every 7th byte.
        #expect(parseRequest(bytes(wire).map { [$0] }) == .success(expected))
        let all = bytes(wire)
        let sevens = stride(from: 0, to: all.count, by: 7).map { Array(all[$0..<min($0 + 7, all.count)]) }
        #expect(parseRequest(sevens) == .success(expected))
    }

    /// `feed(_:into:)` (a connection's kept queue) appends after what the queue holds, and appends nothing
    /// when the bytes are malformed, as `feed` returns nothing.
    @Test func feedingIntoAQueueAppendsAndLeavesItAloneOnAnError() throws {
        let wire = validRequests.map(\.wire).joined()
        var parser = HTTP1RequestParser()
        var queue: [HTTP1RequestEvent] = [.end]
        try parser.feed(bytes(wire), into: &queue)
        #expect(normalized(Array(queue.dropFirst())) == validRequests.flatMap(\.expected))
        #expect(queue.first == .end)

        var failing = HTTP1RequestParser()
        var held: [HTTP1RequestEvent] = [.end]
        #expect(throws: HTTP1ParseError.self) {
            try failing.feed(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHo st: a\r\n\r\n"), into: &held)
        }
        #expect(held == [.end])
    }

    @Test func bodyIsStreamedAsItArrives() throws {
        var parser = HTTP1RequestParser()
        let head = try parser.feed(bytes("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc"))
        #expect(head.count == 2)
        #expect(head.last == .body(bytes("abc")))
        #expect(try parser.feed(bytes("defg")) == [.body(bytes("defg"))])
        #expect(try parser.feed(bytes("hij")) == [.body(bytes("hij")), .end])
        #expect(parser.isAtMessageBoundary)
    }

    @Test func chunkedBodyIsStreamedMidChunk() throws {
        var parser = HTTP1RequestParser()
        _ = try parser.feed(bytes("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n8\r\nabc"))
        #expect(try parser.feed(bytes("de")) == [.body(bytes("de"))])
        #expect(try parser.feed(bytes("fgh\r\n0\r\n\r\n")) == [.body(bytes("fgh")), .end])
    }

    @Test func connectSwitchesToTunnel() throws {
        var parser = HTTP1RequestParser()
        let events = try parser.feed(bytes("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n\u{16}\u{3}\u{1}GET"))
        #expect(events.count == 2)
        #expect(parser.isTunneling)
        #expect(parser.takeTunnelBytes() == [0x16, 0x03, 0x01] + bytes("GET"))
        #expect(try parser.feed([1, 2]) == [])
        #expect(parser.takeTunnelBytes() == [1, 2])
    }

    @Test func limitsAreInclusive() {
        let limits = HTTP1Limits(maxRequestLineBytes: 14, maxHeaderBytes: 9, maxHeaderCount: 1)
        // "GET / HTTP/1.1" is 14 bytes; "Host: a\r\n" is 9.
        let wire = bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
        for pieces in splits(wire) {
            #expect(parseRequest(pieces, limits: limits).error == nil)
        }
    }

    @Test func unsafeBufferOverloadMatches() throws {
        var parser = HTTP1RequestParser()
        let wire = bytes(validRequests[1].wire)
        let events = try wire.withUnsafeBytes { raw throws(HTTP1ParseError) in try parser.feed(raw) }
        #expect(normalized(events) == validRequests[1].expected)
    }
}
