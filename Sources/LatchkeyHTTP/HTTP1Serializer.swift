/// Writes HTTP/1.1 heads and chunks (RFC 9112). The caller is responsible for valid field
/// names and values (`HTTPField`); heads produced by the parsers always are.
public enum HTTP1Serializer {
    /// `method SP target SP version CRLF`, the fields, then CRLF.
    public static func appendRequestHead(_ head: HTTPRequestHead, to buffer: inout [UInt8]) {
        buffer.append(contentsOf: head.method.utf8)
        buffer.append(0x20)
        buffer.append(contentsOf: head.target.utf8)
        buffer.append(0x20)
        appendVersion(head.version, to: &buffer)
        buffer.append(contentsOf: [0x0D, 0x0A])
        appendFields(head.headers, to: &buffer)
    }

    /// `version SP status SP reason CRLF` (the SP is written even for an empty reason), the
    /// fields, then CRLF.
    public static func appendResponseHead(_ head: HTTPResponseHead, to buffer: inout [UInt8]) {
        appendVersion(head.version, to: &buffer)
        buffer.append(0x20)
        let status = min(max(head.status, 0), 999)
        buffer.append(contentsOf: [
            UInt8(0x30 + status / 100), UInt8(0x30 + status / 10 % 10), UInt8(0x30 + status % 10), 0x20,
        ])
        buffer.append(contentsOf: head.reason.utf8)
        buffer.append(contentsOf: [0x0D, 0x0A])
        appendFields(head.headers, to: &buffer)
    }

    /// One chunk: hex size CRLF data CRLF. Empty data writes nothing (an empty chunk would end
    /// the body).
    public static func appendChunk(_ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        buffer.append(contentsOf: String(bytes.count, radix: 16).utf8)
        buffer.append(contentsOf: [0x0D, 0x0A])
        buffer.append(contentsOf: bytes)
        buffer.append(contentsOf: [0x0D, 0x0A])
    }

    /// The last chunk and an empty trailer section: `0 CRLF CRLF`.
    public static func appendLastChunk(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: [0x30, 0x0D, 0x0A, 0x0D, 0x0A])
    }

    /// The last chunk and the trailer section (RFC 9112 §7.1.2): `0 CRLF`, the fields, CRLF. The caller
    /// has removed fields that must not be sent in trailers.
    public static func appendLastChunk(trailers: HTTPHeaders, to buffer: inout [UInt8]) {
        guard trailers.count > 0 else { return appendLastChunk(to: &buffer) }
        buffer.append(contentsOf: [0x30, 0x0D, 0x0A])
        appendFields(trailers, to: &buffer)
    }

    private static func appendVersion(_ version: HTTPVersion, to buffer: inout [UInt8]) {
        // HTTP-version is "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), as every parsed version is: written
        // without a String.
        guard (0...9).contains(version.major), (0...9).contains(version.minor) else {
            buffer.append(contentsOf: version.description.utf8)
            return
        }
        buffer.append(contentsOf: "HTTP/".utf8)
        buffer.append(0x30 + UInt8(version.major))
        buffer.append(UInt8(ascii: "."))
        buffer.append(0x30 + UInt8(version.minor))
    }

    private static func appendFields(_ headers: HTTPHeaders, to buffer: inout [UInt8]) {
        headers.forEachField { name, value in
            assert(HTTPField.isValidName(name) && value.allSatisfy(HTTPField.isValueByte), "invalid field")
            buffer.append(contentsOf: name)
            buffer.append(UInt8(ascii: ":"))
            buffer.append(0x20)
            buffer.append(contentsOf: value)
            buffer.append(0x0D)
            buffer.append(0x0A)
        }
        buffer.append(0x0D)
        buffer.append(0x0A)
    }
}
