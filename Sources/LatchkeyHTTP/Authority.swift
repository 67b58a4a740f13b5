/// `host [ ":" port ]` with host = IP-literal / IPv4address / reg-name (RFC 3986 §3.2.2): the one parser and
/// the one host normalisation for every request form — the CONNECT authority, the absolute-form target, the
/// `Host` field — so that the router, the destination rules and the upstream see one spelling of a host.
///
/// The host comes back canonical:
/// - lower-cased (RFC 3986 §6.2.2.1: the host is case-insensitive);
/// - an IPv6 literal without its brackets;
/// - a reg-name or IPv4 address without **one** trailing dot: `api.example.com.` is the fully qualified
///   spelling of `api.example.com` (RFC 1034 §3.1), and a route, a credential or a refusal that applies to
///   one applies to the other. Any other empty label (`a..b`, `.a`, `a..`, `.`) is refused: RFC 3986 would
///   let it through as a reg-name, but no DNS name has one (RFC 1035 §3.1), and a second spelling is how a
///   host slips past a rule written for the first (nginx refuses them in `Host` too).
///
/// reg-name is limited to letters, digits, "-", ".", "_" and "~" (no percent-encoding). The port is the
/// explicit one or `defaultPort`; without a default a port is required (CONNECT, RFC 9110 §9.3.6).
public enum Authority {
    /// Parses `bytes`; nil when malformed (userinfo, empty host or label, bad IPv6, empty or out-of-range port,
    /// stray bytes).
    public static func parse(_ bytes: ArraySlice<UInt8>, defaultPort: Int?) -> (host: String, port: Int)? {
        bytes.withUnsafeBufferPointer { parseBytes($0, defaultPort: defaultPort) }
    }

    /// `parse(_:defaultPort:)` over a string, read in place (no copy of its bytes: a `Host` field is parsed on
    /// every request).
    public static func parse(_ text: String, defaultPort: Int?) -> (host: String, port: Int)? {
        var text = text
        return text.withUTF8 { parseBytes($0, defaultPort: defaultPort) }
    }

    /// The parser, over contiguous bytes (not generic: specialised for slices and string storage it still
    /// walked them through collection protocols, ~1,000 instructions per `Host`).
    static func parseBytes(_ bytes: UnsafeBufferPointer<UInt8>, defaultPort: Int?) -> (host: String, port: Int)? {
        guard let found = scan(bytes, defaultPort: defaultPort) else { return nil }
        return (lowercased(UnsafeBufferPointer(rebasing: bytes[found.host])), found.port)
    }

    /// Whether `bytes` is a well-formed authority: the same rules as `parse`, building nothing (the request
    /// decoder checks every `Host` this way; routing parses it again for the canonical host).
    static func isValid(_ bytes: UnsafeBufferPointer<UInt8>, defaultPort: Int?) -> Bool {
        scan(bytes, defaultPort: defaultPort) != nil
    }

    /// Where the host lies in `bytes` (without brackets or the one trailing dot) and the port; nil when
    /// malformed.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>, defaultPort: Int?) -> (host: Range<Int>, port: Int)? {
        guard !bytes.isEmpty else { return nil }
        let host: Range<Int>
        let afterHost: Int
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = (bytes.startIndex + 1)..<close
            guard isIPv6Literal(UnsafeBufferPointer(rebasing: bytes[host])) else { return nil }
            afterHost = close + 1
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            guard let name = nameRange(UnsafeBufferPointer(rebasing: bytes[bytes.startIndex..<end])) else { return nil }
            host = name
            afterHost = end
        }
        let port: Int
        if afterHost == bytes.endIndex {
            guard let defaultPort else { return nil }
            port = defaultPort
        } else {
            guard bytes[afterHost] == UInt8(ascii: ":") else { return nil }
            let digits = bytes[(afterHost + 1)...]
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                return nil
            }
            port = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard port >= 1 && port <= 65535 else { return nil }
        }
        return (host, port)
    }

    /// A host already split from its port (config, a resolved `Location`), canonical as above: an IPv6
    /// literal with or without brackets, or a reg-name/IPv4 address; nil when malformed.
    public static func canonicalHost(_ host: String) -> String? {
        var host = host
        return host.withUTF8 { whole in
            var bytes = whole[...]
            if bytes.first == UInt8(ascii: "["), bytes.last == UInt8(ascii: "]") { bytes = bytes.dropFirst().dropLast() }
            let host = UnsafeBufferPointer(rebasing: bytes)
            if host.contains(UInt8(ascii: ":")) {
                return isIPv6Literal(host) ? lowercased(host) : nil
            }
            return nameRange(host).map { lowercased(UnsafeBufferPointer(rebasing: host[$0])) }
        }
    }

    /// The inside of `[...]`: hex digits, colons and dots, with at least one colon.
    private static func isIPv6Literal(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        bytes.count >= 2 && bytes.contains(UInt8(ascii: ":"))
            && bytes.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
    }

    /// A reg-name or IPv4 address without one trailing dot; nil for an empty name, an empty label, or a byte
    /// outside the reg-name set. One pass: a `Host` is checked on every request, twice.
    private static func nameRange(_ bytes: UnsafeBufferPointer<UInt8>) -> Range<Int>? {
        var end = bytes.endIndex
        if end > bytes.startIndex, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
        guard end > bytes.startIndex else { return nil }
        var previous = UInt8(ascii: ".")  // as if a dot came before: a leading dot is an empty label
        for index in bytes.startIndex..<end {
            let byte = bytes[index]
            guard isRegNameByte(byte), byte != UInt8(ascii: ".") || previous != UInt8(ascii: ".") else { return nil }
            previous = byte
        }
        guard previous != UInt8(ascii: ".") else { return nil }  // a second trailing dot: an empty label
        return bytes.startIndex..<end
    }

    /// ASCII lower-casing on bytes: no `String` case mapping (which is Unicode-aware and allocates twice).
    private static func lowercased(_ bytes: UnsafeBufferPointer<UInt8>) -> String {
        guard bytes.contains(where: { $0 >= UInt8(ascii: "A") && $0 <= UInt8(ascii: "Z") }) else {
            return String(decoding: bytes, as: UTF8.self)
        }
        return String(unsafeUninitializedCapacity: bytes.count) { text in
            for (index, byte) in bytes.enumerated() { text[index] = HTTPHeaders.asciiLowercased(byte) }
            return bytes.count
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
    }

    private static func isRegNameByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: "~"):
            true
        default: false
        }
    }
}
