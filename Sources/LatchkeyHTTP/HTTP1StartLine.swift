#if canImport(Glibc)
import Glibc
#endif

/// Request-line and status-line grammar (RFC 9112 §3, §4). Lines arrive without CRLF and
/// already free of CR and NUL (checked by `HTTP1Decoder`).
enum HTTP1StartLine {
    private static let space: UInt8 = 0x20

    /// request-line = method SP request-target SP HTTP-version, single spaces only.
    static func parseRequestLine(
        _ line: UnsafeRawBufferPointer, limit: Int
    ) throws(HTTP1ParseError) -> (method: String, target: String, version: HTTPVersion) {
        // The target runs to the next SP (found with `memchr`: targets run to hundreds of bytes) and so holds
        // none; it is checked a word at a time. A byte at a time, both cost about 25 instructions a byte.
        guard let base = line.baseAddress, let firstSpace = line.firstIndex(of: space), firstSpace > 0,
            let found = memchr(base + firstSpace + 1, Int32(space), line.count - firstSpace - 1),
            case let secondSpace = base.distance(to: UnsafeRawPointer(found)), secondSpace > firstSpace + 1
        else {
            throw HTTP1ParseError(.invalidRequestLine, "malformed request line: \(HTTP1ParseError.quote(line))")
        }
        let method = line[0..<firstSpace]
        guard method.allSatisfy(HTTPField.isTokenByte) else {
            throw HTTP1ParseError(.invalidMethod, "the method is not a token: \(HTTP1ParseError.quote(method))")
        }
        let target = line[(firstSpace + 1)..<secondSpace]
        guard ByteWords.isSpaceOrVisibleASCII(base + firstSpace + 1, count: target.count) else {
            throw HTTP1ParseError(
                .invalidTarget, "the request-target has a control or non-ASCII byte: \(HTTP1ParseError.quote(target))")
        }
        let versionBytes = line[(secondSpace + 1)...]
        let version = try parseVersion(versionBytes, otherwise: .invalidRequestLine)
        return (Self.method(UnsafeRawBufferPointer(rebasing: method)), String(decoding: target, as: UTF8.self), version)
    }

    /// The methods of RFC 9110 §9 and PATCH, as the literals they equal (methods are case-sensitive, §9.1):
    /// nearly every request has one, and a literal needs neither UTF-8 decoding nor a string built (about
    /// 300 instructions each, per request). Any other token is decoded.
    static func method(_ bytes: UnsafeRawBufferPointer) -> String {
        @inline(__always) func equals(_ known: StaticString) -> Bool {
            bytes.count == known.utf8CodeUnitCount && memcmp(bytes.baseAddress!, known.utf8Start, bytes.count) == 0
        }
        switch bytes.count {
        case 3:
            if equals("GET") { return "GET" }
            if equals("PUT") { return "PUT" }
        case 4:
            if equals("POST") { return "POST" }
            if equals("HEAD") { return "HEAD" }
        case 5:
            if equals("PATCH") { return "PATCH" }
            if equals("TRACE") { return "TRACE" }
        case 6:
            if equals("DELETE") { return "DELETE" }
        case 7:
            if equals("OPTIONS") { return "OPTIONS" }
            if equals("CONNECT") { return "CONNECT" }
        default:
            break
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// status-line = HTTP-version SP status-code SP [ reason-phrase ]. The SP after the code may
    /// be missing (`HTTP/1.1 200`), which many servers send. The reason is decoded leniently
    /// (invalid UTF-8 becomes U+FFFD): it carries no semantics (RFC 9112 §4).
    static func parseStatusLine(
        _ line: UnsafeRawBufferPointer, limit: Int
    ) throws(HTTP1ParseError) -> (version: HTTPVersion, status: Int, reason: String) {
        // Built only when thrown: quoting the line costs more than parsing it.
        var malformed: HTTP1ParseError { HTTP1ParseError(.invalidStatusLine, "malformed status line: \(HTTP1ParseError.quote(line))") }
        guard let firstSpace = line.firstIndex(of: space) else { throw malformed }
        let version = try parseVersion(line[0..<firstSpace], otherwise: .invalidStatusLine)
        let codeStart = firstSpace + 1
        guard line.count >= codeStart + 3 else { throw malformed }
        var status = 0
        for byte in line[codeStart..<(codeStart + 3)] {
            guard byte >= 0x30 && byte <= 0x39 else { throw malformed }
            status = status * 10 + Int(byte - 0x30)
        }
        guard status >= 100 && status <= 599 else { throw malformed }
        var reason = ""
        if line.count > codeStart + 3 {
            guard line[codeStart + 3] == space else { throw malformed }
            let reasonBytes = line[(codeStart + 4)...]
            guard reasonBytes.allSatisfy(HTTPField.isValueByte) else { throw malformed }
            reason = Self.reason(UnsafeRawBufferPointer(rebasing: reasonBytes), status: status)
        }
        return (version, status, reason)
    }

    /// The registered phrase of `status` when the bytes are exactly it (nearly every response: a literal, no
    /// decoding), else the bytes decoded.
    private static func reason(_ bytes: UnsafeRawBufferPointer, status: Int) -> String {
        let registered = HTTPReasonPhrase.phrase(for: status)
        let same = registered.utf8.withContiguousStorageIfAvailable { phrase in
            phrase.count == bytes.count && (bytes.isEmpty || memcmp(bytes.baseAddress!, phrase.baseAddress!, bytes.count) == 0)
        }
        return same == true ? registered : String(decoding: bytes, as: UTF8.self)
    }

    /// Exactly `HTTP/1.1` or `HTTP/1.0`; another `HTTP/d.d` is unsupported (505), anything else
    /// is malformed.
    private static func parseVersion(
        _ bytes: Slice<UnsafeRawBufferPointer>, otherwise code: HTTP1ParseError.Code
    ) throws(HTTP1ParseError) -> HTTPVersion {
        let isDigit = { (byte: UInt8) in byte >= 0x30 && byte <= 0x39 }
        // "HTTP/" as one 32-bit word and a byte (a generic `starts(with:)` over a String's UTF-8 cost ~300
        // instructions, twice per proxied request).
        let httpSlash = UInt32(ascii: "HTTP")
        guard bytes.count == 8,
            UnsafeRawBufferPointer(rebasing: bytes).loadUnaligned(as: UInt32.self) == httpSlash,
            bytes[bytes.startIndex + 4] == UInt8(ascii: "/"),
            isDigit(bytes[bytes.startIndex + 5]), bytes[bytes.startIndex + 6] == UInt8(ascii: "."),
            isDigit(bytes[bytes.startIndex + 7])
        else {
            throw HTTP1ParseError(code, "malformed HTTP version: \(HTTP1ParseError.quote(bytes))")
        }
        let major = Int(bytes[bytes.startIndex + 5] - 0x30)
        let minor = Int(bytes[bytes.startIndex + 7] - 0x30)
        guard major == 1, minor <= 1 else {
            throw HTTP1ParseError(.unsupportedVersion, "HTTP/\(major).\(minor) is not supported")
        }
        return HTTPVersion(major: major, minor: minor)
    }
}

extension UInt32 {
    /// Four ASCII characters as they lie in memory, for comparing with a word loaded from a buffer.
    fileprivate init(ascii text: StaticString) {
        precondition(text.utf8CodeUnitCount == 4)
        self = UnsafeRawPointer(text.utf8Start).loadUnaligned(as: UInt32.self)
    }
}
