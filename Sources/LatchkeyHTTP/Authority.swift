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
        guard !bytes.isEmpty else { return nil }
        let host: String
        let afterHost: Int
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            let literal = UnsafeBufferPointer(rebasing: bytes[(bytes.startIndex + 1)..<close])
            guard literal.count >= 2, literal.contains(UInt8(ascii: ":")),
                literal.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return nil }
            host = lowercased(literal)
            afterHost = close + 1
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            guard let name = canonicalName(UnsafeBufferPointer(rebasing: bytes[bytes.startIndex..<end])) else { return nil }
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
                guard host.count >= 2,
                    host.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
                else { return nil }
                return lowercased(host)
            }
            return canonicalName(host)
        }
    }

    /// A reg-name or IPv4 address lower-cased without one trailing dot; nil for an empty name, an empty
    /// label, or a byte outside the reg-name set.
    private static func canonicalName(_ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        var name = bytes
        if name.last == UInt8(ascii: ".") { name = UnsafeBufferPointer(rebasing: name.dropLast()) }
        guard !name.isEmpty, name.first != UInt8(ascii: "."), name.last != UInt8(ascii: "."),
            name.allSatisfy(isRegNameByte)
        else { return nil }
        var previous: UInt8 = 0
        for byte in name {
            if byte == UInt8(ascii: "."), previous == UInt8(ascii: ".") { return nil }
            previous = byte
        }
        return lowercased(name)
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
