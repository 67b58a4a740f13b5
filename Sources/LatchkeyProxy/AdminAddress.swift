/// URLs of the admin listener as a person or the authorization server's redirect reaches it.
enum AdminAddress {
    /// `http://host:port`; a wildcard bind (0.0.0.0, ::) is reached through loopback (a port-forward).
    static func baseURL(host: String, port: Int) -> String {
        let reachable: String
        switch host {
        case "0.0.0.0", "": reachable = "127.0.0.1"
        case "::": reachable = "[::1]"
        default: reachable = host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]" : host
        }
        return "http://\(reachable):\(port)"
    }
}
