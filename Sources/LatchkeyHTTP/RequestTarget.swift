/// A request-target classified by form (RFC 9112 §3.2) with the parts a forward proxy routes on.
public enum RequestTarget: Equatable, Sendable {
    /// origin-form: absolute-path [ "?" query ]; `path` keeps the query and starts with "/".
    case origin(path: String)
    /// absolute-form for `http` or `https`: scheme and host lower-cased, IPv6 without brackets,
    /// the port explicit or the scheme's default (80, 443), `path` "/" when empty, query kept.
    case absolute(scheme: String, host: String, port: Int, path: String)
    /// authority-form `host:port`, only for CONNECT (RFC 9110 §9.3.6); the port is required.
    case authority(host: String, port: Int)
    /// asterisk-form, only for OPTIONS.
    case asterisk

    /// Classifies `target` for `method`, or `nil` when it is malformed or the form does not fit
    /// the method. Refused: userinfo (`user@host`, RFC 9110 §4.2.4), fragments, empty ports,
    /// schemes other than http/https, and bytes outside visible ASCII.
    public static func parse(_ target: String, method: String) -> RequestTarget? {
        let bytes = Array(target.utf8)
        guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
            return nil
        }
        if method == "CONNECT" {
            guard let (host, port) = Authority.parse(bytes[...], defaultPort: nil) else { return nil }
            return .authority(host: host, port: port)
        }
        if bytes == [UInt8(ascii: "*")] { return method == "OPTIONS" ? .asterisk : nil }
        if bytes[0] == UInt8(ascii: "/") { return .origin(path: target) }
        return parseAbsolute(bytes)
    }

    private static func parseAbsolute(_ bytes: [UInt8]) -> RequestTarget? {
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        let defaultPort: Int
        switch scheme {
        case "http": defaultPort = 80
        case "https": defaultPort = 443
        default: return nil
        }
        let rest = bytes[(colon + 1)...]
        guard rest.starts(with: "//".utf8) else { return nil }
        let authorityStart = rest.startIndex + 2
        let authorityEnd =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        guard let (host, port) = Authority.parse(bytes[authorityStart..<authorityEnd], defaultPort: defaultPort) else {
            return nil
        }
        var path = String(decoding: bytes[authorityEnd...], as: UTF8.self)
        if path.isEmpty {
            path = "/"
        } else if path.utf8.first == UInt8(ascii: "?") {
            path = "/" + path
        }
        return .absolute(scheme: scheme, host: host, port: port, path: path)
    }
}

/// The Host field (RFC 9110 §7.2): `uri-host [ ":" port ]`.
public enum HostHeader {
    /// Host lower-cased (IPv6 without brackets) and the port, `defaultPort` when absent; `nil`
    /// when malformed (userinfo, empty host, empty or out-of-range port, stray bytes).
    public static func parse(_ value: String, defaultPort: Int) -> (host: String, port: Int)? {
        Authority.parse(Array(value.utf8)[...], defaultPort: defaultPort)
    }
}

/// `host [ ":" port ]` with host = IP-literal / IPv4address / reg-name (RFC 3986 §3.2.2).
/// reg-name is limited to letters, digits, "-", ".", "_" and "~" (no percent-encoding).
enum Authority {
    static func parse(_ bytes: ArraySlice<UInt8>, defaultPort: Int?) -> (host: String, port: Int)? {
        guard !bytes.isEmpty else { return nil }
        let host: ArraySlice<UInt8>
        let afterHost: ArraySlice<UInt8>.Index
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else { return nil }
            host = bytes[(bytes.startIndex + 1)..<close]
            guard host.count >= 2, host.contains(UInt8(ascii: ":")),
                host.allSatisfy({ isHexDigit($0) || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".") })
            else { return nil }
            afterHost = close + 1
        } else {
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            host = bytes[bytes.startIndex..<end]
            guard !host.isEmpty, host.allSatisfy(isRegNameByte) else { return nil }
            afterHost = end
        }
        let port: Int
        if afterHost == bytes.endIndex {
            guard let defaultPort else { return nil }
            port = defaultPort
        } else {
            guard bytes[afterHost] == UInt8(ascii: ":") else { return nil }
            let digits = bytes[(afterHost + 1)...]
            guard !digits.isEmpty, digits.count <= 5, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
            port = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard port >= 1 && port <= 65535 else { return nil }
        }
        return (String(decoding: host, as: UTF8.self).lowercased(), port)
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
