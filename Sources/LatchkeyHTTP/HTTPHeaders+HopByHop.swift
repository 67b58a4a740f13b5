extension HTTPHeaders {
    /// Fields that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1):
    /// `Connection` and every field it names, plus `Keep-Alive`, `Proxy-Connection` (legacy,
    /// RFC 9110 §7.6.1 note), `TE`, `Transfer-Encoding` (RFC 9112 §6.1), `Trailer` and `Upgrade`.
    ///
    /// `Proxy-Authenticate` and `Proxy-Authorization` are *not* removed here: they are addressed
    /// to this proxy and the pipeline handles them itself. A caller that drops `Transfer-Encoding`
    /// must re-frame the body it forwards.
    public static let hopByHopFieldNames = [
        "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "trailer", "upgrade",
    ]

    /// Removes the hop-by-hop fields from `headers` (see `hopByHopFieldNames`).
    public static func removeHopByHop(from headers: inout HTTPHeaders) {
        let named = headers.listElements(for: "connection").map { String($0) }
        headers.removeAll { field in
            hopByHopFieldNames.contains { field.name.asciiCaseInsensitiveEquals($0) }
                || named.contains { field.name.asciiCaseInsensitiveEquals($0) }
        }
    }

    /// Removes the hop-by-hop fields (see `removeHopByHop(from:)`).
    public mutating func removeHopByHop() { Self.removeHopByHop(from: &self) }
}
