#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An absolute `http`/`https` URL of an endpoint the proxy calls (token, refresh, revocation, discovery,
/// authorization, an upstream origin): the one URL type and the one parser for them.
///
/// Contract: the path and the query are kept **byte for byte** as written — a trailing `/`, an empty
/// segment, percent-encoding (neither decoded nor re-encoded) — because servers compare them literally
/// (a Django server answers `POST /o/token` with a redirect to `/o/token/`; Azure B2C needs `?p=policy`).
/// Only the parts RFC 3986 makes case-insensitive are normalised: the scheme and the host are lower-cased
/// (§6.2.2.1), and an IPv6 literal is held without its brackets. Refused, with a message that never quotes
/// the value (it may come from a secret): any scheme but http/https, user info (§3.2.1; credentials belong
/// in a connection), a fragment (§3.5; never sent), an empty host, a port outside 1–65535, and any byte that
/// RFC 3986 §3.3/§3.4 does not allow in a path or query (spaces, controls, non-ASCII, `"<>\^`{|}`, a `%`
/// not followed by two hex digits).
public struct EndpointURL: Sendable, Hashable, CustomStringConvertible {
    /// "http" or "https".
    public var scheme: String
    /// Host name (lower-case) or IP literal (IPv6 without brackets).
    public var host: String
    /// The explicit port or the scheme's default.
    public var port: Int
    /// The path exactly as written, "" when the URL has none (the request-target is then "/").
    public var path: String
    /// The query exactly as written, without the `?`; nil when there is no `?`, "" for a bare `?`.
    public var query: String?

    /// Builds a URL from parts the caller has already checked (discovery candidates, the admin client);
    /// text from config or from a provider goes through `parse(_:)`.
    public init(scheme: String, host: String, port: Int, path: String = "", query: String? = nil) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.path = path
        self.query = query
    }

    public var isTLS: Bool { scheme == "https" }

    /// `host` or `host:port` when the port is not the scheme's default, brackets for IPv6.
    public var authority: String { Self.authority(host: host, port: port, scheme: scheme) }

    /// The request-target to send (RFC 9112 §3.2.1 origin-form): the path and query as written, "/" for an
    /// empty path.
    public var requestTarget: String {
        let base = path.isEmpty ? "/" : path
        return query.map { base + "?" + $0 } ?? base
    }

    /// `scheme://authority` followed by the path and query as written.
    public var description: String { "\(scheme)://\(authority)\(path)" + (query.map { "?" + $0 } ?? "") }

    /// The authority (RFC 3986 §3.2) for `host`, `port` and `scheme`: brackets for an IPv6 literal, the port
    /// left out when it is the scheme's default. The one place every layer builds Host values and URLs with.
    public static func authority(host: String, port: Int, scheme: String) -> String {
        let h = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        return port == defaultPort(scheme) ? h : "\(h):\(port)"
    }

    /// 443 for https, 80 otherwise.
    public static func defaultPort(_ scheme: String) -> Int { scheme == "https" ? 443 : 80 }

    /// Why a URL was refused; `message` never contains the URL.
    public struct ParseError: Error, Equatable, Sendable, CustomStringConvertible {
        public let message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Parses `http(s)://host[:port][/path][?query]` (RFC 3986 §3). See the type's contract.
    public static func parse(_ text: String) throws(ParseError) -> EndpointURL {
        let bytes = Array(text.utf8)
        guard let colon = bytes.firstIndex(of: UInt8(ascii: ":")),
            bytes[colon...].starts(with: "://".utf8), colon > 0
        else { throw ParseError("expected an absolute http:// or https:// URL") }
        let scheme = String(decoding: bytes[..<colon], as: UTF8.self).lowercased()
        guard scheme == "http" || scheme == "https" else {
            throw ParseError("unsupported URL scheme; expected http or https")
        }
        let authorityStart = colon + 3
        if let bad = bytes[authorityStart...].first(where: { $0 <= 0x20 || $0 >= 0x7F }) {
            throw ParseError(
                bad == 0x20
                    ? "URL contains a space; percent-encode it as %20"
                    : "URL contains a control or non-ASCII character; percent-encode it")
        }
        if bytes[authorityStart...].contains(UInt8(ascii: "#")) {
            throw ParseError("URL must not have a fragment ('#...')")
        }
        let authorityEnd =
            bytes[authorityStart...].firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? bytes.endIndex
        let authority = bytes[authorityStart..<authorityEnd]
        if authority.contains(UInt8(ascii: "@")) {
            throw ParseError("URL must not contain user info; put credentials in a connection")
        }
        let (host, port) = try parseAuthority(authority, scheme: scheme)
        let queryMark = bytes[authorityEnd...].firstIndex(of: UInt8(ascii: "?"))
        let pathBytes = bytes[authorityEnd..<(queryMark ?? bytes.endIndex)]
        try checkComponent(pathBytes, allowingQuestionMark: false, what: "path")
        var query: String?
        if let queryMark {
            let queryBytes = bytes[(queryMark + 1)...]
            try checkComponent(queryBytes, allowingQuestionMark: true, what: "query")
            query = String(decoding: queryBytes, as: UTF8.self)
        }
        return EndpointURL(
            scheme: scheme, host: host, port: port, path: String(decoding: pathBytes, as: UTF8.self), query: query)
    }

    /// `host [":" port]` (RFC 3986 §3.2.2, §3.2.3): a DNS name or IPv4 address of non-empty labels, or an IPv6
    /// literal in brackets; no zone identifiers, no percent-encoding.
    private static func parseAuthority(_ bytes: ArraySlice<UInt8>, scheme: String) throws(ParseError) -> (String, Int) {
        guard !bytes.isEmpty else { throw ParseError("URL has no host") }
        let host: String
        let rest: ArraySlice<UInt8>
        if bytes.first == UInt8(ascii: "[") {
            guard let close = bytes.firstIndex(of: UInt8(ascii: "]")) else {
                throw ParseError("missing ']' after the IPv6 address in URL")
            }
            host = String(decoding: bytes[(bytes.startIndex + 1)..<close], as: UTF8.self).lowercased()
            var address = in6_addr()
            guard host.contains(":"), inet_pton(AF_INET6, host, &address) == 1 else {
                throw ParseError("invalid IPv6 address in brackets in URL")
            }
            rest = bytes[(close + 1)...]
        } else {
            if bytes.count(where: { $0 == UInt8(ascii: ":") }) > 1 {
                throw ParseError("write IPv6 addresses in URLs in brackets, e.g. http://[::1]:8080/")
            }
            let end = bytes.firstIndex(of: UInt8(ascii: ":")) ?? bytes.endIndex
            host = String(decoding: bytes[..<end], as: UTF8.self).lowercased()
            guard isHostName(host) else {
                throw ParseError(
                    host.isEmpty ? "URL has no host" : "invalid host name in URL (IPv6 addresses go in brackets)")
            }
            rest = bytes[end...]
        }
        if rest.isEmpty { return (host, defaultPort(scheme)) }
        let digits = rest.dropFirst()
        guard rest.first == UInt8(ascii: ":"), !digits.isEmpty, digits.count <= 5,
            digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            case let port = digits.reduce(0, { $0 * 10 + Int($1 - 0x30) }), port >= 1, port <= 65_535
        else { throw ParseError("invalid port in URL; expected a number from 1 to 65535") }
        return (host, port)
    }

    /// A DNS name or IPv4 literal: labels of letters, digits, '-' and '_' separated by single dots, each at
    /// most 63 bytes, 253 in all (RFC 1035 §2.3.4). The one rule for host names written in config (URLs,
    /// `listen`, route `host`, `tls.server_name`).
    public static func isHostName(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 253 else { return false }
        return host.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false).allSatisfy { label in
            !label.isEmpty && label.count <= 63
                && label.allSatisfy { byte in
                    switch byte {
                    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                        UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"):
                        true
                    default: false
                    }
                }
        }
    }

    /// RFC 3986 §3.3 path / §3.4 query characters: pchar (unreserved, pct-encoded, sub-delims, ":" and "@"),
    /// "/", and "?" in a query.
    private static func checkComponent(_ bytes: ArraySlice<UInt8>, allowingQuestionMark: Bool, what: String)
        throws(ParseError)
    {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                    isHexDigit(bytes[index + 1]), isHexDigit(bytes[index + 2])
                else { throw ParseError("URL \(what) has a '%' not followed by two hex digits") }
                index += 3
                continue
            }
            guard isPathByte(byte) || (allowingQuestionMark && byte == UInt8(ascii: "?")) else {
                throw ParseError("URL \(what) contains a character RFC 3986 does not allow there; percent-encode it")
            }
            index += 1
        }
    }

    private static func isHexDigit(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte | 0x20 >= 0x61 && byte | 0x20 <= 0x66)
    }

    private static func isPathByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default: "-._~!$&'()*+,;=:@/".utf8.contains(byte)
        }
    }
}
