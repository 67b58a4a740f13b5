import LatchkeyHTTP
import Testing

struct Rejection: Sendable, CustomTestStringConvertible {
    let name: String
    let wire: [UInt8]
    let code: HTTP1ParseError.Code
    let status: Int
    var limits = HTTP1Limits()
    var testDescription: String { name }

    init(_ name: String, _ wire: String, _ code: HTTP1ParseError.Code, _ status: Int = 400, limits: HTTP1Limits = .init()) {
        self.init(name, bytes(wire), code, status, limits: limits)
    }

    init(_ name: String, _ wire: [UInt8], _ code: HTTP1ParseError.Code, _ status: Int = 400, limits: HTTP1Limits = .init()) {
        self.name = name
        self.wire = wire
        self.code = code
        self.status = status
        self.limits = limits
    }
}

private let host = "Host: a\r\n"
private func post(_ fields: String, body: String = "") -> String {
    "POST / HTTP/1.1\r\n\(host)\(fields)\r\n\(body)"
}
private func chunked(_ body: String) -> String { post("Transfer-Encoding: chunked\r\n", body: body) }

let requestRejections: [Rejection] = [
    // Request line (RFC 9112 §3).
    Rejection("no spaces", "GET\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("double space before version", "GET /  HTTP/1.1\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("double space before target", "GET  / HTTP/1.1\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("leading space", " GET / HTTP/1.1\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("method not a token", "G(T / HTTP/1.1\r\n\(host)\r\n", .invalidMethod),
    Rejection("target with DEL", "GET /\u{7F} HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
    Rejection("target with non-ASCII", "GET /caf\u{E9} HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
    Rejection("target with tab", "GET /\t/ HTTP/1.1\r\n\(host)\r\n", .invalidTarget),
    Rejection("HTTP/2.0", "GET / HTTP/2.0\r\n\(host)\r\n", .unsupportedVersion, 505),
    Rejection("HTTP/1.2", "GET / HTTP/1.2\r\n\(host)\r\n", .unsupportedVersion, 505),
    Rejection("lower-case version", "GET / http/1.1\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("HTTP/1.10", "GET / HTTP/1.10\r\n\(host)\r\n", .invalidRequestLine),
    Rejection("trailing space", "GET / HTTP/1.1 \r\n\(host)\r\n", .invalidRequestLine),
    Rejection(
        "request line too long", "GET /aaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\n\(host)\r\n", .requestLineTooLong, 414,
        limits: HTTP1Limits(maxRequestLineBytes: 16)),
    Rejection(
        "request line one byte too long", "GET /a HTTP/1.1\r\n\(host)\r\n", .requestLineTooLong, 414,
        limits: HTTP1Limits(maxRequestLineBytes: 14)),
    Rejection("two empty lines first", "\r\n\r\nGET / HTTP/1.1\r\n\(host)\r\n", .tooManyEmptyLines),
    // Line endings and forbidden bytes (RFC 9112 §2.2).
    Rejection("bare LF after request line", "GET / HTTP/1.1\n\(host)\r\n", .bareLF),
    Rejection("bare LF after field", "GET / HTTP/1.1\r\nHost: a\n\r\n", .bareLF),
    Rejection("bare LF ends header section", "GET / HTTP/1.1\r\n\(host)\n", .bareLF),
    Rejection("bare LF as leading empty line", "\nGET / HTTP/1.1\r\n\(host)\r\n", .bareLF),
    Rejection("bare CR in request line", "GET /\r HTTP/1.1\r\n\(host)\r\n", .bareCR),
    Rejection("bare CR in value", "GET / HTTP/1.1\r\n\(host)X: a\rb\r\n\r\n", .bareCR),
    Rejection("bare CR as line end", "GET / HTTP/1.1\r\n\(host)X: a\r\r\n\r\n", .bareCR),
    Rejection("NUL in value", "GET / HTTP/1.1\r\n\(host)X: a\u{0}b\r\n\r\n", .nulByte),
    Rejection("NUL in request line", "GET /\u{0} HTTP/1.1\r\n\(host)\r\n", .nulByte),
    // A field line's NUL or CR is named as such, whatever else is wrong with the line.
    Rejection("NUL in field name", "GET / HTTP/1.1\r\n\(host)X\u{0}Y: a\r\n\r\n", .nulByte),
    Rejection("CR in field name", "GET / HTTP/1.1\r\n\(host)X\rY: a\r\n\r\n", .bareCR),
    Rejection("CR in a folded line", "GET / HTTP/1.1\r\n\(host)X: a\r\n b\rc\r\n\r\n", .bareCR),
    Rejection("NUL before CR", "GET / HTTP/1.1\r\n\(host)X: \u{0}a\rb\r\n\r\n", .nulByte),
    // Field lines (RFC 9112 §5, RFC 9110 §5).
    Rejection("name not a token", "GET / HTTP/1.1\r\n\(host)Fo(o: x\r\n\r\n", .invalidHeaderName),
    Rejection("empty name", "GET / HTTP/1.1\r\n\(host): x\r\n\r\n", .invalidHeaderName),
    Rejection("no colon", "GET / HTTP/1.1\r\n\(host)NoColon\r\n\r\n", .invalidHeaderName),
    Rejection("space inside name", "GET / HTTP/1.1\r\n\(host)Foo Bar: x\r\n\r\n", .invalidHeaderName),
    Rejection("space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", .whitespaceBeforeColon),
    Rejection("tab before colon", "GET / HTTP/1.1\r\n\(host)X\t: a\r\n\r\n", .whitespaceBeforeColon),
    Rejection("obs-fold", "GET / HTTP/1.1\r\n\(host)X: a\r\n b\r\n\r\n", .obsoleteLineFolding),
    Rejection("whitespace before first field", "GET / HTTP/1.1\r\n \(host)\r\n", .obsoleteLineFolding),
    Rejection("control byte in value", "GET / HTTP/1.1\r\n\(host)X: a\u{1}b\r\n\r\n", .invalidHeaderValue),
    Rejection("DEL in value", "GET / HTTP/1.1\r\n\(host)X: \u{7F}\r\n\r\n", .invalidHeaderValue),
    Rejection(
        "invalid UTF-8 in value", bytes("GET / HTTP/1.1\r\n\(host)X: ") + [0xFF, 0xFE] + bytes("\r\n\r\n"),
        .invalidHeaderValue),
    Rejection(
        "header section too large", "GET / HTTP/1.1\r\n\(host)X: 0123456789012345678901234567890\r\n\r\n",
        .headerSectionTooLarge, 431, limits: HTTP1Limits(maxHeaderBytes: 32)),
    Rejection(
        "header section one byte too large", "GET / HTTP/1.1\r\nHost: ab\r\n\r\n", .headerSectionTooLarge, 431,
        limits: HTTP1Limits(maxHeaderBytes: 9)),
    Rejection(
        "too many fields", "GET / HTTP/1.1\r\n\(host)A: 1\r\nB: 2\r\n\r\n", .tooManyHeaders, 431,
        limits: HTTP1Limits(maxHeaderCount: 2)),
    // Host (RFC 9112 §3.2).
    Rejection("missing Host", "GET / HTTP/1.1\r\nX: y\r\n\r\n", .missingHost),
    Rejection("two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", .multipleHost),
    Rejection("two Host fields on 1.0", "GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", .multipleHost),
    Rejection("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", .invalidHost),
    Rejection("Host list", "GET / HTTP/1.1\r\nHost: a, b\r\n\r\n", .invalidHost),
    Rejection("empty Host", "GET / HTTP/1.1\r\nHost:\r\n\r\n", .invalidHost),
    // Content-Length (RFC 9112 §6.3, RFC 9110 §8.6).
    Rejection("CL with sign", post("Content-Length: +5\r\n"), .invalidContentLength),
    Rejection("CL negative", post("Content-Length: -1\r\n"), .invalidContentLength),
    Rejection("CL hex", post("Content-Length: 0x5\r\n"), .invalidContentLength),
    Rejection("CL with junk", post("Content-Length: 5a\r\n"), .invalidContentLength),
    Rejection("CL empty", post("Content-Length:\r\n"), .invalidContentLength),
    Rejection("CL huge", post("Content-Length: 1234567890123456789\r\n"), .invalidContentLength),
    Rejection("CL inner space", post("Content-Length: 1 2\r\n"), .invalidContentLength),
    Rejection("CL differing list", post("Content-Length: 5, 6\r\n"), .conflictingContentLength),
    Rejection("CL identical list", post("Content-Length: 5, 5\r\n"), .conflictingContentLength),
    Rejection("CL differing fields", post("Content-Length: 5\r\nContent-Length: 6\r\n"), .conflictingContentLength),
    Rejection("CL identical fields", post("Content-Length: 5\r\nContent-Length: 5\r\n"), .conflictingContentLength),
    Rejection(
        "CL with TE", post("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), .contentLengthWithTransferEncoding),
    Rejection(
        "TE with CL", post("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), .contentLengthWithTransferEncoding),
    // Transfer-Encoding (RFC 9112 §6.1).
    Rejection("TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", .transferEncodingInHTTP10),
    Rejection("TE gzip", post("Transfer-Encoding: gzip\r\n"), .unsupportedTransferCoding, 501),
    Rejection("TE gzip then chunked", post("Transfer-Encoding: gzip, chunked\r\n"), .unsupportedTransferCoding, 501),
    Rejection("TE chunked with parameter", post("Transfer-Encoding: chunked;x=1\r\n"), .unsupportedTransferCoding, 501),
    Rejection("TE chunked not final", post("Transfer-Encoding: chunked, gzip\r\n"), .chunkedNotFinal),
    Rejection("TE chunked twice", post("Transfer-Encoding: chunked, chunked\r\n"), .repeatedChunked),
    Rejection(
        "TE chunked in two fields", post("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"),
        .repeatedChunked),
    Rejection("TE empty list", post("Transfer-Encoding: ,\r\n"), .invalidTransferEncoding),
    // Chunked coding (RFC 9112 §7.1).
    Rejection("chunk size not hex", chunked("zz\r\n"), .invalidChunkSize),
    Rejection("chunk size negative", chunked("-1\r\n"), .invalidChunkSize),
    Rejection("chunk size empty", chunked("\r\n"), .invalidChunkSize),
    Rejection("chunk size 0x prefix", chunked("0x5\r\n"), .invalidChunkExtension),
    Rejection("chunk size overflows", chunked("8000000000000000\r\n"), .invalidChunkSize),
    Rejection("chunk size trailing space", chunked("5 \r\nhello\r\n0\r\n\r\n"), .invalidChunkExtension),
    Rejection("chunk size leading space", chunked(" 5\r\nhello\r\n0\r\n\r\n"), .invalidChunkSize),
    Rejection("chunk extension without name", chunked("5;\r\nhello\r\n0\r\n\r\n"), .invalidChunkExtension),
    Rejection("chunk extension unterminated quote", chunked("5;a=\"x\r\nhello\r\n0\r\n\r\n"), .invalidChunkExtension),
    Rejection("chunk extension empty value", chunked("5;a=\r\nhello\r\n0\r\n\r\n"), .invalidChunkExtension),
    Rejection(
        "chunk-size line too long", chunked("5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\nhello\r\n0\r\n\r\n"), .chunkSizeLineTooLong,
        limits: HTTP1Limits(maxChunkSizeLineBytes: 16)),
    Rejection("chunk data too long", chunked("5\r\nhelloX\r\n0\r\n\r\n"), .invalidChunkTerminator),
    Rejection("chunk data LF only", chunked("5\r\nhello\n0\r\n\r\n"), .invalidChunkTerminator),
    Rejection("chunk data CR only", chunked("5\r\nhello\r0\r\n\r\n"), .invalidChunkTerminator),
    Rejection("chunk size bare LF", chunked("5\nhello\r\n0\r\n\r\n"), .bareLF),
    Rejection("trailer space before colon", chunked("0\r\nX : y\r\n\r\n"), .whitespaceBeforeColon),
    Rejection("trailer obs-fold", chunked("0\r\nX: y\r\n z\r\n\r\n"), .obsoleteLineFolding),
    Rejection("trailer bare LF", chunked("0\r\nX: y\n\r\n"), .bareLF),
    Rejection(
        "too many trailers", chunked("0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n"), .tooManyHeaders, 431,
        limits: HTTP1Limits(maxHeaderCount: 2)),
    // A valid request, then a bad pipelined one.
    Rejection("second pipelined request", "GET / HTTP/1.1\r\n\(host)\r\nGET / HTTP/1.1\r\n\r\n", .missingHost),
]

@Suite struct RequestRejectionTests {
    @Test(arguments: requestRejections)
    func rejectsWithCodeAndStatusWhicheverWayItIsSplit(_ rejection: Rejection) {
        let whole = parseRequest([rejection.wire], limits: rejection.limits).error
        #expect(whole?.code == rejection.code)
        #expect(whole?.status == rejection.status)
        for pieces in splits(rejection.wire) {
            #expect(parseRequest(pieces, limits: rejection.limits).error == whole, "split into \(pieces.map(\.count))")
        }
    }

    @Test func staysFailedWithTheSameError() {
        var parser = HTTP1RequestParser()
        let first = #expect(throws: HTTP1ParseError.self) { try parser.feed(bytes("GET / HTTP/1.1\r\nX : y\r\n")) }
        #expect(first?.code == .whitespaceBeforeColon)
        let second = #expect(throws: HTTP1ParseError.self) { try parser.feed(bytes("GET / HTTP/1.1\r\nHost: a\r\n\r\n")) }
        #expect(second == first)
        let third = #expect(throws: HTTP1ParseError.self) { try parser.feed([]) }
        #expect(third == first)
    }

    @Test func detailQuotesAtMost64BytesEscaped() {
        let long = String(repeating: "\u{1}", count: 500)
        let error = parseRequest([bytes("GET / HTTP/1.1\r\nHost: a\r\nX: \(long)\r\n\r\n")]).error
        #expect(error?.code == .invalidHeaderValue)
        let detail = error?.detail ?? ""
        #expect(!detail.utf8.contains { $0 < 0x20 || $0 == 0x7F })
        #expect(detail.contains("\\x01"))
        #expect(detail.count < 64 * 4 + 80)
        #expect(detail.hasSuffix("…"))
        #expect(error?.description.hasPrefix("400 invalid_header_value: ") == true)
    }

    @Test func codeRawValuesAreSnakeCase() {
        for code in HTTP1ParseError.Code.allCases {
            #expect(code.rawValue.allSatisfy { $0 == "_" || ($0.isASCII && ($0.isLowercase || $0.isNumber)) }, "\(code)")
        }
        #expect(HTTP1ParseError.Code.contentLengthWithTransferEncoding.rawValue == "content_length_with_transfer_encoding")
    }
}
