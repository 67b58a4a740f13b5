import LatchkeyHTTP

/// What the access and debug logs leave out of a request: user info and query values of a target, and the
/// values of header fields that carry credentials, listed or not.
enum LogRedaction {
    static let placeholder = "<redacted>"

    /// Header fields always redacted, lower-cased.
    static let credentialFields: Set<String> = [
        "authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key",
    ]
    /// A field whose lower-cased name contains one of these is taken to carry a credential
    /// (`X-Auth-Token`, `X-Session-Id`, `Api-Key`, `X-Client-Secret`, `X-Password`, ...).
    static let credentialNameParts = [
        "token", "secret", "key", "auth", "session", "password", "passwd", "credential",
        "cookie", "signature",
    ]

    /// Whether a field named `name` has its value redacted in logs.
    static func isCredentialField(_ name: String) -> Bool {
        let lower = name.lowercased()
        return credentialFields.contains(lower) || credentialNameParts.contains { lower.contains($0) }
    }

    /// Header fields whose values are URLs: their query values are redacted, the rest kept.
    static let urlFields: Set<String> = ["location", "content-location", "referer"]

    /// `target` without user info (`http://user:pass@host/` → `http://host/`, RFC 9110 §4.2.4 forbids
    /// it anyway) and with every query value replaced: `/p?api_key=<redacted>&q=<redacted>`.
    static func target(_ target: String) -> String {
        var text = withoutUserInfo(target)
        guard let mark = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: mark)...]
        let fragmentStart = query.firstIndex(of: "#")
        let pairs = query[..<(fragmentStart ?? query.endIndex)].split(separator: "&", omittingEmptySubsequences: false)
        let redacted = pairs.map { pair -> String in
            guard let equals = pair.firstIndex(of: "=") else { return pair.isEmpty ? "" : placeholder }
            return pair[..<equals] + "=" + placeholder
        }
        text = String(text[...mark]) + redacted.joined(separator: "&")
        return text
    }

    /// `target` with any `userinfo@` removed from an absolute-form authority.
    static func withoutUserInfo(_ target: String) -> String {
        guard let scheme = target.range(of: "://") else { return target }
        let authorityStart = scheme.upperBound
        let authorityEnd =
            target[authorityStart...].firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? target.endIndex
        guard let at = target[authorityStart..<authorityEnd].lastIndex(of: "@") else { return target }
        return String(target[..<authorityStart]) + String(target[target.index(after: at)...])
    }

    /// A request line (`METHOD target [VERSION]`) with its target redacted; a status line as it is.
    static func startLine(_ line: String) -> String {
        var parts = line.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
        guard parts.count >= 2, !parts[0].hasPrefix("HTTP/") else { return line }
        parts[1] = target(parts[1])
        return parts.joined(separator: " ")
    }
}
