extension HTTPHeaders {
    /// Fields a sender must not put in a trailer section and a recipient must not act on there
    /// (RFC 9110 §6.5.1): message framing (`Content-Length`, `Transfer-Encoding`, `Trailer`), routing
    /// (`Host`), request modifiers (controls such as `Expect`, `Max-Forwards`, `TE`, `Range`,
    /// `Cache-Control`, and the conditionals), authentication (`Authorization`, `Proxy-Authorization`,
    /// `Cookie`, `Set-Cookie` and the challenges), response control data and the content's own
    /// description (`Content-Type`, `Content-Encoding`, `Content-Range`), plus `Via`, which this proxy writes
    /// in heads only. A proxy drops them rather than forward what the next hop must ignore anyway, or worse,
    /// might act on.
    public static let fieldsNotAllowedInTrailers = [
        "content-length", "transfer-encoding", "trailer", "host", "te", "expect", "max-forwards", "range",
        "cache-control", "if-match", "if-none-match", "if-modified-since", "if-unmodified-since", "if-range",
        "authorization", "proxy-authorization", "www-authenticate", "proxy-authenticate", "cookie", "set-cookie",
        "content-type", "content-encoding", "content-range", "location", "retry-after", "age", "expires", "date",
        "vary", "via",
    ]

    /// Removes hop-by-hop fields (and what `Connection` names), every field in
    /// `fieldsNotAllowedInTrailers`, and the `extra` ones (lowercase): what is left may be forwarded as
    /// trailers on HTTP/1.1 or HTTP/2.
    public mutating func removeFieldsNotAllowedInTrailers(alsoRemoving extra: [String] = []) {
        removeHopByHop(alsoRemoving: Self.fieldsNotAllowedInTrailers + extra)
    }
}
