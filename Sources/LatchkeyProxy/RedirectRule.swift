// Stand-in with the agreed API until the policy lands.
public enum RedirectRule {
    public static func follow(status: Int, method: String) -> (method: String, keepsBody: Bool)? {
        switch status {
        case 301, 302: return method == "POST" ? ("GET", false) : (method, true)
        case 303: return (method == "HEAD" ? "HEAD" : "GET", false)
        case 307, 308: return (method, true)
        default: return nil
        }
    }

    public static func resolve(location: String, scheme: String, host: String, port: Int, path: String)
        -> (scheme: String, host: String, port: Int, path: String)?
    {
        if location.hasPrefix("/") { return (scheme, host, port, location) }
        return nil
    }
}
