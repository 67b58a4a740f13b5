import LatchkeyHTTP
import Testing

struct ResponseCase: Sendable, CustomTestStringConvertible {
    let name: String
    let methods: [String]
    let wire: String
    let eof: Bool
    let expected: [HTTP1ResponseEvent]
    var testDescription: String { name }
}

private func head(_ status: Int, _ reason: String, _ headers: HTTPHeaders = [:], version: HTTPVersion = .http1_1)
    -> HTTPResponseHead
{
    HTTPResponseHead(version: version, status: status, reason: reason, headers: headers)
}

let responseCases: [ResponseCase] = [
    ResponseCase(
        name: "content-length", methods: ["GET"], wire: "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc", eof: false,
        expected: [.head(head(200, "OK", ["Content-Length": "3"]), .contentLength(3)), .body(bytes("abc")), .end]),
    ResponseCase(
        name: "chunked with trailers", methods: ["GET"],
        wire: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nEtag: 1\r\n\r\n", eof: false,
        expected: [
            .head(head(200, "OK", ["Transfer-Encoding": "chunked"]), .chunked), .body(bytes("abc")),
            .trailers(["Etag": "1"]), .end,
        ]),
    ResponseCase(
        name: "HEAD has no body despite Content-Length", methods: ["HEAD"],
        wire: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", eof: false,
        expected: [.head(head(200, "OK", ["Content-Length": "10"]), .none), .end]),
    ResponseCase(
        name: "204 has no body", methods: ["DELETE"], wire: "HTTP/1.1 204 No Content\r\n\r\n", eof: false,
        expected: [.head(head(204, "No Content"), .none), .end]),
    ResponseCase(
        name: "304 has no body despite Content-Length", methods: ["GET"],
        wire: "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", eof: false,
        expected: [.head(head(304, "Not Modified", ["Content-Length": "5"]), .none), .end]),
    ResponseCase(
        name: "interim 100 and 103 before the final response", methods: ["POST"],
        wire: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n"
            + "HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
        eof: false,
        expected: [
            .informational(head(100, "Continue")), .informational(head(103, "Early Hints", ["Link": "</a>"])),
            .head(head(201, "Created", ["Content-Length": "0"]), .contentLength(0)), .end,
        ]),
    ResponseCase(
        name: "until close", methods: ["GET"], wire: "HTTP/1.0 200 OK\r\nServer: x\r\n\r\nsome\r\nbytes", eof: true,
        expected: [
            .head(head(200, "OK", ["Server": "x"], version: .http1_0), .untilClose), .body(bytes("some\r\nbytes")), .end,
        ]),
    ResponseCase(
        name: "until close, empty body", methods: ["GET"], wire: "HTTP/1.1 200 OK\r\n\r\n", eof: true,
        expected: [.head(head(200, "OK"), .untilClose), .end]),
    ResponseCase(
        name: "no reason phrase, with and without the space", methods: ["GET", "GET"],
        wire: "HTTP/1.1 204 \r\n\r\nHTTP/1.1 204\r\n\r\n", eof: true,
        expected: [.head(head(204, ""), .none), .end, .head(head(204, ""), .none), .end]),
    ResponseCase(
        name: "pipelined: HEAD then GET", methods: ["HEAD", "GET"],
        wire: "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody", eof: true,
        expected: [
            .head(head(200, "OK", ["Content-Length": "4"]), .none), .end,
            .head(head(200, "OK", ["Content-Length": "4"]), .contentLength(4)), .body(bytes("body")), .end,
        ]),
    ResponseCase(
        name: "CONNECT 200 opens a tunnel", methods: ["CONNECT"],
        wire: "HTTP/1.1 200 Connection Established\r\n\r\n", eof: true,
        expected: [.head(head(200, "Connection Established"), .none), .end]),
    ResponseCase(
        name: "CONNECT 407 has a body", methods: ["CONNECT"],
        wire: "HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 2\r\n\r\nno", eof: true,
        expected: [
            .head(head(407, "Proxy Authentication Required", ["Content-Length": "2"]), .contentLength(2)),
            .body(bytes("no")), .end,
        ]),
]

@Suite struct ResponseParserTests {
    @Test(arguments: responseCases)
    func framesTheSameWhicheverWayItIsSplit(_ response: ResponseCase) {
        for pieces in splits(bytes(response.wire)) {
            let result = parseResponse(pieces, methods: response.methods, eof: response.eof)
            #expect(result == .success(response.expected), "split into \(pieces.map(\.count))")
        }
    }

    @Test func finishOnEOFMidMessageThrows() {
        let cases = [
            "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nabc",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "HTTP/1.1 200 OK\r\nContent-",
            "HTTP/1.1 2",
            "HTTP/1.1 100 Continue\r\n\r\n",
        ]
        for wire in cases {
            let error = parseResponse([bytes(wire)], eof: true).error
            #expect(error?.code == .unexpectedEOF, "\(wire)")
            #expect(error?.status == 400)
        }
    }

    @Test func finishOnEOFBetweenMessagesIsClean() throws {
        var parser = HTTP1ResponseParser()
        #expect(try parser.finishOnEOF() == [])
        var second = HTTP1ResponseParser()
        _ = try second.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
        #expect(try second.finishOnEOF() == [])
        let late = #expect(throws: HTTP1ParseError.self) { try second.feed(bytes("x")) }
        #expect(late?.code == .dataAfterEOF)
    }

    @Test func untilCloseStreamsAndEndsOnEOF() throws {
        var parser = HTTP1ResponseParser()
        parser.expectResponse(toMethod: "GET")
        #expect(try parser.feed(bytes("HTTP/1.1 200 OK\r\n\r\nab")) == [.head(head(200, "OK"), .untilClose), .body(bytes("ab"))])
        #expect(try parser.feed(bytes("HTTP/1.1 200")) == [.body(bytes("HTTP/1.1 200"))])
        #expect(try parser.finishOnEOF() == [.end])
    }

    @Test func tunnelKeepsTheBytesAfter101AndConnect() throws {
        var parser = HTTP1ResponseParser()
        parser.expectResponse(toMethod: "GET")
        let events = try parser.feed(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n") + [0x81, 0x00])
        #expect(events == [.head(head(101, "Switching Protocols", ["Upgrade": "websocket"]), .none), .end])
        #expect(parser.isTunneling)
        #expect(parser.takeTunnelBytes() == [0x81, 0x00])
        var connect = HTTP1ResponseParser()
        connect.expectResponse(toMethod: "CONNECT")
        _ = try connect.feed(bytes("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 garbage"))
        #expect(connect.takeTunnelBytes() == bytes("HTTP/1.1 garbage"))
    }

    static let rejections: [Rejection] = [
        Rejection("two-digit status", "HTTP/1.1 20 OK\r\n\r\n", .invalidStatusLine),
        Rejection("status 600", "HTTP/1.1 600 X\r\n\r\n", .invalidStatusLine),
        Rejection("status 099", "HTTP/1.1 099 X\r\n\r\n", .invalidStatusLine),
        Rejection("no space after status", "HTTP/1.1 200OK\r\n\r\n", .invalidStatusLine),
        Rejection("control byte in reason", "HTTP/1.1 200 O\u{1}K\r\n\r\n", .invalidStatusLine),
        Rejection("not HTTP", "ICY 200 OK\r\n\r\n", .invalidStatusLine),
        Rejection("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", .unsupportedVersion, 505),
        Rejection(
            "status line too long", "HTTP/1.1 200 OKOKOKOKOKOKOKOKOK\r\n\r\n", .statusLineTooLong,
            limits: HTTP1Limits(maxRequestLineBytes: 16)),
        Rejection("bare LF", "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n", .bareLF),
        Rejection("bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n", .bareCR),
        Rejection("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n\tb\r\n\r\n", .obsoleteLineFolding),
        Rejection("space before colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n", .whitespaceBeforeColon),
        Rejection("NUL", "HTTP/1.1 200 OK\r\nX: \u{0}\r\n\r\n", .nulByte),
        Rejection(
            "CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            .contentLengthWithTransferEncoding),
        Rejection("CL list", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\n", .conflictingContentLength),
        Rejection("TE gzip", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", .unsupportedTransferCoding, 501),
        Rejection("TE on 1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
        Rejection(
            "bad chunk terminator", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX\r\n",
            .invalidChunkTerminator),
        Rejection(
            "too many fields", "HTTP/1.1 200 OK\r\nA: 1\r\nB: 2\r\n\r\n", .tooManyHeaders, 431,
            limits: HTTP1Limits(maxHeaderCount: 1)),
    ]

    @Test(arguments: rejections)
    func rejectsWithCodeAndStatusWhicheverWayItIsSplit(_ rejection: Rejection) {
        let whole = parseResponse([rejection.wire], limits: rejection.limits).error
        #expect(whole?.code == rejection.code)
        #expect(whole?.status == rejection.status)
        for pieces in splits(rejection.wire) {
            #expect(parseResponse(pieces, limits: rejection.limits).error == whole, "split into \(pieces.map(\.count))")
        }
    }
}
