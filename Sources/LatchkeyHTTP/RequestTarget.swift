/// A request-target classified by form (RFC 9112 §3.2) with the parts a forward proxy routes on.
public enum RequestTarget: Equatable, Sendable {
    /// origin-form: absolute-path [ "?" query ]; `path` keeps the query and starts with "/".
    case origin(path: String)
    /// absolute-form for `http` or `https`: scheme lower-cased, the host canonical (`Authority`: lower-cased,
    /// IPv6 without brackets, one trailing dot dropped), the port explicit or the scheme's default (80, 443),
    /// `path` "/" when empty, query kept.
    case absolute(scheme: String, host: String, port: Int, path: String)
    /// authority-form `host:port`, only for CONNECT (RFC 9110 §9.3.6); the port is required; the host
    /// canonical as in `absolute`.
    case authority(host: String, port: Int)
    /// asterisk-form, only for OPTIONS.
    case asterisk

    /// Classifies `target` for `method`, or `nil` when it is malformed or the form does not fit
    /// the method. Refused: userinfo (`user@host`, RFC 9110 §4.2.4), fragments, empty ports,
    /// schemes other than http/https, and bytes outside visible ASCII.
    public static func parse(_ target: String, method: String) -> RequestTarget? {
        var text = target
        return text.withUTF8 { bytes in  // the string's own bytes: every request's target passes here
            guard !bytes.isEmpty, bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }) else {
                return nil
            }
            if method == "CONNECT" {
                guard let (host, port) = Authority.parseBytes(bytes, defaultPort: nil) else { return nil }
                return .authority(host: host, port: port)
            }
            if bytes.count == 1, bytes[0] == UInt8(ascii: "*") { return method == "OPTIONS" ? .asterisk : nil }
            if bytes[0] == UInt8(ascii: "/") { return .origin(path: target) }
            return parseAbsolute(bytes)
        }
    }

    private static let http: StaticString = "http"
    private static let https: StaticString = "https"

    private static func parseAbsolute(_ bytes: UnsafeBufferPointer<UInt8>) -> RequestTarget? {
        guard let base = bytes.baseAddress, let colon = bytes.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        // The scheme compared as bytes, any case (RFC 3986 §3.1): no String until it is known. Words, not
        // `elementsEqual` over a `String.UTF8View`, which cost about 250 instructions a request.
        let scheme: String
        let defaultPort: Int
        if colon == 4, ByteWords.equalsLowercased(base, Self.http.utf8Start, count: 4) {
            (scheme, defaultPort) = ("http", 80)
        } else if colon == 5, ByteWords.equalsLowercased(base, Self.https.utf8Start, count: 5) {
            (scheme, defaultPort) = ("https", 443)
        } else {
            return nil
        }
        guard colon + 2 < bytes.count, bytes[colon + 1] == UInt8(ascii: "/"), bytes[colon + 2] == UInt8(ascii: "/")
        else { return nil }
        let authorityStart = colon + 3
        let authorityEnd =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        let authority = UnsafeBufferPointer(rebasing: bytes[authorityStart..<authorityEnd])
        guard let (host, port) = Authority.parseBytes(authority, defaultPort: defaultPort) else { return nil }
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
    /// The host canonical as `Authority` makes it (lower-cased, IPv6 without brackets, one trailing dot
    /// dropped) and the port, `defaultPort` when absent; `nil` when malformed (userinfo, empty host or label,
    /// empty or out-of-range port, stray bytes).
    public static func parse(_ value: String, defaultPort: Int) -> (host: String, port: Int)? {
        Authority.parse(value, defaultPort: defaultPort)
    }
}
