#if canImport(Glibc)
    import Glibc
#endif

/// The host a leaf certificate is minted for: a DNS name (lower case, no trailing dot) or an IP
/// address literal (brackets removed). Anything else is refused before it reaches OpenSSL's
/// extension syntax, so a name can never smuggle a second subjectAltName entry in.
struct LeafHostName: Hashable, Sendable {
    /// The name as written into the certificate and used as the cache key.
    let value: String
    /// True for an IPv4 or IPv6 literal (an iPAddress SAN); false for a DNS name (a dNSName SAN).
    let isIPAddress: Bool

    /// Normalizes `host` ("API.Example." → "api.example", "[::1]" → "::1"); `nil` when it is
    /// neither a valid DNS name (RFC 1035 §2.3.4 lengths; letters, digits, '-', '_') nor an IP literal.
    init?(_ host: String) {
        var name = Substring(host)
        if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        if name.hasSuffix(".") { name = name.dropLast() }
        let text = String(name)
        if TLSEngine.isIPLiteral(text) {
            value = text
            isIPAddress = true
            return
        }
        guard Self.isDNSName(text.utf8) else { return nil }
        value = text.lowercased()
        isIPAddress = false
    }

    /// The subjectAltName entry in OpenSSL's configuration syntax: "DNS:name" or "IP:address".
    var subjectAltName: String { (isIPAddress ? "IP:" : "DNS:") + value }

    private static func isDNSName(_ name: String.UTF8View) -> Bool {
        guard (1...253).contains(name.count) else { return false }
        var labelLength = 0
        for byte in name {
            switch byte {
            case UInt8(ascii: "."):
                guard labelLength > 0 else { return false }
                labelLength = 0
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                labelLength += 1
                guard labelLength <= 63 else { return false }
            default:
                return false
            }
        }
        return labelLength > 0
    }
}
