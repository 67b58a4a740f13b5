import LatchkeyHTTP
import LatchkeyNet

/// Why a listen address, host pattern or URL was rejected. Messages never quote the value: it may have
/// come from a secret, and a URL may carry user info.
struct ValueProblem: Error {
    let message: String
    init(_ message: String) { self.message = message }
}

enum ValueParsing {
    /// A port number; `allowZero` for listeners (the kernel picks one).
    static func port(_ text: Substring, allowZero: Bool) throws(ValueProblem) -> Int {
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text),
            port <= 65_535, allowZero || port > 0
        else { throw ValueProblem("invalid port; expected a number from \(allowZero ? 0 : 1) to 65535") }
        return port
    }

    /// Splits `host:port` / `[v6]:port` / `host` / `[v6]`; the host comes back without brackets.
    static func hostAndPort(_ text: String) throws(ValueProblem) -> (host: String, port: Substring?) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw ValueProblem("missing ']' after IPv6 address") }
            let host = String(text[text.index(after: text.startIndex)..<close])
            let after = text[text.index(after: close)...]
            guard isIPv6(host) else { throw ValueProblem("invalid IPv6 address in brackets") }
            if after.isEmpty { return (host, nil) }
            guard after.hasPrefix(":") else { throw ValueProblem("expected ':port' after ']'") }
            return (host, after.dropFirst())
        }
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        switch parts.count {
        case 1: return (text, nil)
        case 2: return (String(parts[0]), parts[1])
        default: throw ValueProblem("write IPv6 addresses in brackets, e.g. [::1]:3128")
        }
    }

    /// The scheme of a value written as a URL (`http://...`), nil otherwise.
    static func scheme(of text: String) -> String? {
        guard let range = text.range(of: "://") else { return nil }
        let scheme = text[..<range.lowerBound]
        guard let first = scheme.first, first.isASCII, first.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        return scheme.lowercased()
    }

    /// Four decimal octets, each 0...255.
    static func isIPv4(_ host: String) -> Bool {
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        return octets.count == 4
            && octets.allSatisfy { !$0.isEmpty && $0.count <= 3 && $0.allSatisfy(\.isASCII) && UInt8($0) != nil }
    }

    /// A DNS name or IPv4 literal: `EndpointURL.isHostName`, the one rule for host names written in config.
    static func isHostName(_ host: String) -> Bool { EndpointURL.isHostName(host) }

    static func isIPv6(_ host: String) -> Bool {
        host.contains(":") && host.unicodeScalars.allSatisfy { $0.properties.isASCIIHexDigit || $0 == ":" || $0 == "." }
    }
}

extension ListenAddress {
    /// Parses `host:port` or `[v6]:port` (port 0 lets the kernel choose). The host is what the server can
    /// bind: an IP literal or `localhost`, never a name to resolve (`run` would refuse it at start).
    static func parse(_ text: String) throws(ValueProblem) -> ListenAddress {
        if let scheme = ValueParsing.scheme(of: text) {
            throw ValueProblem("a listener is host:port without '\(scheme)://', e.g. 127.0.0.1:3128")
        }
        let (host, port) = try ValueParsing.hostAndPort(text)
        guard let port else { throw ValueProblem("expected host:port (or [v6]:port), e.g. 127.0.0.1:3128") }
        guard ValueParsing.isIPv6(host) || ValueParsing.isHostName(host) else {
            throw ValueProblem("invalid host name")
        }
        let number = try ValueParsing.port(port, allowZero: true)
        guard ValueParsing.isIPv6(host) || ValueParsing.isIPv4(host) || host.lowercased() == "localhost" else {
            throw ValueProblem(
                "a listener binds a local address, not a host name: use an IP address (127.0.0.1, 0.0.0.0, [::1]) or localhost")
        }
        return ListenAddress(host: host, port: number)
    }

    /// Whether both listeners would claim one port: the same port (not 0) on the same address, or on a
    /// wildcard address that covers the other.
    func overlaps(_ other: ListenAddress) -> Bool {
        guard port != 0, port == other.port else { return false }
        func normalized(_ host: String) -> String { host.lowercased() == "localhost" ? "127.0.0.1" : host }
        let (a, b) = (normalized(host), normalized(other.host))
        return a == b || ["0.0.0.0", "::"].contains(a) || ["0.0.0.0", "::"].contains(b)
    }
}

extension HostPattern {
    /// Parses `name`, `*.suffix`, either with `:port`, or `[v6]`; lower-cases the name.
    static func parse(_ text: String) throws(ValueProblem) -> HostPattern {
        if let scheme = ValueParsing.scheme(of: text) {
            throw ValueProblem(
                "a route's host is a host name (optionally with :port), not a URL: drop '\(scheme)://' (the scheme belongs in upstream)")
        }
        let (rawHost, rawPort) = try ValueParsing.hostAndPort(text.lowercased())
        let port = try rawPort.map { (p: Substring) throws(ValueProblem) in try ValueParsing.port(p, allowZero: false) }
        var host = rawHost
        if host.hasSuffix("."), !ValueParsing.isIPv6(host) { host.removeLast() }
        if host.hasPrefix("*.") {
            let suffix = String(host.dropFirst())
            guard ValueParsing.isHostName(String(suffix.dropFirst())) else {
                throw ValueProblem("invalid wildcard; expected '*.' followed by a domain, e.g. *.example.com")
            }
            return HostPattern(name: .wildcard(suffix: suffix), port: port)
        }
        if host.contains("*") {
            throw ValueProblem("invalid wildcard; only a leading '*.' is supported, e.g. *.example.com")
        }
        guard ValueParsing.isIPv6(host) || ValueParsing.isHostName(host) else {
            throw ValueProblem("invalid host name")
        }
        return HostPattern(name: .exact(host), port: port)
    }

    /// Whether every host this pattern matches is a loopback name or address.
    var isLoopback: Bool {
        switch name {
        case .exact(let host): AddressScope.isLoopback(host: host)
        case .wildcard(let suffix): suffix == ".localhost" || suffix.hasSuffix(".localhost")
        }
    }
}

extension UpstreamURL {
    /// Parses a route's `upstream` with the endpoint URL parser, then applies the route rule: a query is
    /// refused (forwarded requests bring their own), and a trailing '/' on the base path is dropped.
    static func parse(_ text: String) throws(ValueProblem) -> UpstreamURL {
        let url = try EndpointURL.parseForConfig(text)
        if url.query != nil { throw ValueProblem("an upstream URL must not have a query ('?...')") }
        var path = url.path
        while path.hasSuffix("/") { path.removeLast() }
        return UpstreamURL(scheme: url.scheme, host: url.host, port: url.port, basePath: path)
    }
}

extension EndpointURL {
    /// `EndpointURL.parse(_:)` with its refusal as a `ValueProblem`.
    static func parseForConfig(_ text: String) throws(ValueProblem) -> EndpointURL {
        do throws(EndpointURL.ParseError) {
            return try EndpointURL.parse(text)
        } catch {
            throw ValueProblem(error.message)
        }
    }
}
