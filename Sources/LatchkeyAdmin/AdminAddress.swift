/// How the admin listener is reached, by a person, the CLI or an authorization server's redirect.
public enum AdminAddress {
    /// The host to connect to for a listener bound to `host`: a wildcard bind (0.0.0.0, ::) is reached
    /// through loopback (a port-forward arrives there too).
    public static func reachableHost(_ host: String) -> String {
        switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::": "::1"
        default: host
        }
    }

    /// `http://host:port` for a listener bound to `host:port`, the port always written: the result goes
    /// into redirect URIs, which providers compare as strings.
    public static func baseURL(host: String, port: Int) -> String {
        let reachable = reachableHost(host)
        let bracketed = reachable.utf8.contains(UInt8(ascii: ":")) ? "[\(reachable)]" : reachable
        return "http://\(bracketed):\(port)"
    }
}
