@testable import LatchkeyHTTP
import Testing

/// A start line's method and reason phrase come out as exactly the bytes received, whether they match a
/// known method or registered phrase (handed out as literals) or not (decoded).
@Suite struct StartLineTextTests {
    private func method(of line: String) throws -> String {
        try Array(line.utf8).withUnsafeBytes { try HTTP1StartLine.parseRequestLine($0, limit: 8192).method }
    }

    private func reason(of line: String) throws -> String {
        try Array(line.utf8).withUnsafeBytes { try HTTP1StartLine.parseStatusLine($0, limit: 8192).reason }
    }

    @Test(arguments: [
        "GET", "PUT", "POST", "HEAD", "PATCH", "TRACE", "DELETE", "OPTIONS", "CONNECT",
        // Same lengths as known ones, other bytes; case matters (RFC 9110 §9.1); extension methods.
        "get", "Get", "GOT", "PUTS", "POSTS", "DELETES", "OPTION", "PROPFIND", "M-SEARCH", "X",
    ])
    func theMethodIsTheBytesReceived(method expected: String) throws {
        let target = expected == "CONNECT" ? "example.com:443" : "/"
        #expect(try method(of: "\(expected) \(target) HTTP/1.1") == expected)
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK", "OK"),
        ("HTTP/1.1 204 No Content", "No Content"),
        ("HTTP/1.1 200 ok", "ok"),
        ("HTTP/1.1 200 Okay", "Okay"),
        ("HTTP/1.1 200 No Content", "No Content"),  // another status's phrase: decoded, the same text
        ("HTTP/1.1 299 OK", "OK"),  // no registered phrase for the code
        ("HTTP/1.1 200 ", ""),
        ("HTTP/1.1 200", ""),
        ("HTTP/1.1 404 Nicht gefunden", "Nicht gefunden"),
        ("HTTP/1.1 200 Gr\u{FC}n", "Gr\u{FC}n"),
    ])
    func theReasonIsTheBytesReceived(line: String, expected: String) throws {
        #expect(try reason(of: line) == expected)
    }
}
