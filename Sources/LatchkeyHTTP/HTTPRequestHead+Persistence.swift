extension HTTPRequestHead {
    /// Whether the connection stays open after this request's answer. RFC 9112 §9.3: HTTP/1.1 persists
    /// unless "close" is listed in `Connection`; HTTP/1.0 closes (keep-alive for 1.0 is an old extension
    /// Latchkey does not offer).
    public var wantsKeepAlive: Bool {
        guard version == .http1_1 else { return false }
        return !headers.hasListElement("close", in: "Connection")
    }

    /// The path of an origin-form target without its query (`/a/b?x=1` → `/a/b`).
    public static func pathOnly(_ target: String) -> String {
        // Searched as UTF-8, not as Characters (grapheme breaking per character cost more than the rest).
        guard let query = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
        return String(target[..<query])
    }
}
