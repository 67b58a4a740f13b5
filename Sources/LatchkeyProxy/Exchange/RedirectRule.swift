import LatchkeyHTTP

/// Following a redirect (RFC 9110 §15.4) when a route has `max_redirects` > 0: which statuses are followed,
/// with which method and body, and where the `Location` points. Pure; whether credentials go along (only to a
/// route with the same connection) is decided by the caller, which knows the routes.
public enum RedirectRule {
    /// RFC 9110 §15.4: for 301/302 a POST becomes GET without body (what user agents do and §15.4.2/3 allow),
    /// other methods kept; 303: GET without body (HEAD stays HEAD); 307/308: method and body kept; any other
    /// status → nil (300, 304, 305, 306 are not followed).
    public static func follow(status: Int, method: String) -> (method: String, keepsBody: Bool)? {
        let upper = method.uppercased()
        switch status {
        case 301, 302:
            return upper == "POST" ? ("GET", false) : (method, true)
        case 303:
            // §15.4.4: a GET or HEAD to the new location; HEAD keeps its meaning (no body either way).
            return upper == "HEAD" ? (method, false) : ("GET", false)
        case 307, 308:
            return (method, true)
        default:
            return nil
        }
    }

    /// Resolves a Location (absolute, scheme-relative, absolute-path or relative reference, RFC 3986 §5.2)
    /// against the current request URL (scheme, host, port, path+query); drops any fragment; nil for
    /// non-http(s) or unparseable. The returned host is lower-cased, without brackets for IPv6; the port is
    /// explicit or the scheme's default; the path is never empty and keeps the query.
    public static func resolve(
        location: String, scheme: String, host: String, port: Int, path: String
    ) -> (scheme: String, host: String, port: Int, path: String)? {
        var reference = Substring(location.trimmingSpaces())
        guard !reference.isEmpty,
            !reference.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F })
        else { return nil }
        if let hash = reference.firstIndex(of: "#") { reference = reference[..<hash] }

        // scheme ":" — RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), before any "/", "?".
        var targetScheme = scheme.lowercased()
        if let colon = reference.firstIndex(of: ":"), isScheme(reference[..<colon]) {
            targetScheme = reference[..<colon].lowercased()
            reference = reference[reference.index(after: colon)...]
            guard targetScheme == "http" || targetScheme == "https" else { return nil }
            // §5.2.2 strict: a scheme makes the reference absolute; http(s) without authority is unusable.
            guard reference.hasPrefix("//") else { return nil }
        }
        guard targetScheme == "http" || targetScheme == "https" else { return nil }

        if reference.hasPrefix("//") {
            let rest = reference.dropFirst(2)
            let end = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
            guard let authority = parseAuthority(rest[..<end], scheme: targetScheme) else { return nil }
            var newPath = String(rest[end...])
            newPath = removeDotSegments(inPathOf: newPath)
            if newPath.isEmpty || newPath.hasPrefix("?") { newPath = "/" + newPath }
            return (targetScheme, authority.host, authority.port, newPath)
        }

        let (basePath, baseQuery) = splitQuery(path.isEmpty ? "/" : path)
        let (refPath, refQuery) = splitQuery(String(reference))
        var newPath: String
        var newQuery: String?
        if refPath.isEmpty {
            newPath = basePath
            newQuery = refQuery ?? baseQuery
        } else if refPath.hasPrefix("/") {
            newPath = removeDotSegments(refPath)
            newQuery = refQuery
        } else {
            // §5.2.3 merge: everything up to the base's last "/" plus the reference.
            let directory = basePath.lastIndex(of: "/").map { String(basePath[...$0]) } ?? "/"
            newPath = removeDotSegments(directory + refPath)
            newQuery = refQuery
        }
        if newPath.isEmpty { newPath = "/" }
        let currentHost = Authority.canonicalHost(host) ?? host.lowercased()
        return (targetScheme, currentHost, port, newPath + (newQuery.map { "?" + $0 } ?? ""))
    }

    // MARK: Pieces

    private static func isScheme(_ text: Substring) -> Bool {
        func isAlpha(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
        guard let first = text.unicodeScalars.first, isAlpha(first) else { return false }
        return text.unicodeScalars.allSatisfy { isAlpha($0) || ("0"..."9").contains($0) || "+-.".unicodeScalars.contains($0) }
    }

    /// authority = [ userinfo "@" ] host [ ":" port ], read by the one authority parser (`Authority`), so the
    /// host comes back in the same canonical spelling as a request's (lower-cased, no brackets, no trailing
    /// dot) and the same-origin check compares like with like. Userinfo is refused (it would smuggle
    /// credentials); "host:" means the default port (RFC 3986 §3.2.3).
    private static func parseAuthority(_ text: Substring, scheme: String) -> (host: String, port: Int)? {
        var bytes = Array(text.utf8)[...]
        if bytes.last == UInt8(ascii: ":") { bytes = bytes.dropLast() }
        return Authority.parse(bytes, defaultPort: scheme == "https" ? 443 : 80)
    }

    private static func splitQuery(_ text: String) -> (path: String, query: String?) {
        guard let q = text.firstIndex(of: "?") else { return (text, nil) }
        return (String(text[..<q]), String(text[text.index(after: q)...]))
    }

    /// `removeDotSegments` on the path part of path-and-query.
    private static func removeDotSegments(inPathOf text: String) -> String {
        let (path, query) = splitQuery(text)
        return removeDotSegments(path) + (query.map { "?" + $0 } ?? "")
    }

    /// RFC 3986 §5.2.4 (the one implementation, `RequestPath`); a Location never climbs above the root:
    /// resolving a reference clamps, as the RFC says. The followed request is then planned like any other.
    static func removeDotSegments(_ path: String) -> String {
        RequestPath.removeDotSegments(path).path
    }
}

extension String {
    fileprivate func trimmingSpaces() -> String {
        var slice = Substring(self)
        while let c = slice.first, c == " " || c == "\t" { slice.removeFirst() }
        while let c = slice.last, c == " " || c == "\t" { slice.removeLast() }
        return String(slice)
    }
}
