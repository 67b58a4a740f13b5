/// The origin an intercepted CONNECT named (`CONNECT host:port`): the one host and port every request inside
/// the tunnel must name too (its `Host`, and its absolute-form authority if it sends one), and the only host
/// whose routes can serve those requests.
public struct InterceptedOrigin: Sendable, Hashable, CustomStringConvertible {
    /// Canonical, as `Authority` makes it (lower-cased, IPv6 without brackets, no trailing dot).
    public let host: String
    public let port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// `host:port`, an IPv6 literal in brackets (RFC 3986 §3.2.2).
    public var authority: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    public var description: String { authority }

    /// Whether `host` and `port` (canonical, the port defaulted to 443 for `https`) name this origin.
    func matches(host: String, port: Int) -> Bool { host == self.host && port == self.port }
}
