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

    /// Fields a `Connection` header may not nominate in a request to this proxy, because removing them as
    /// hop-by-hop would change how the message is framed, where it goes, or what the proxy itself writes
    /// (RFC 9110 §7.6.1: a sender must not nominate fields meant for every recipient; RFC 9112 §6.3: the
    /// framing decides where the next message starts). Such a request is refused, not "repaired".
    /// `Max-Forwards` is here because the proxy rewrites it (RFC 9110 §7.6.2).
    ///
    /// `TE` is deliberately *not* here: RFC 9110 §10.1.4 requires a client that sends `TE` (gRPC sends
    /// `TE: trailers`) to list it in `Connection`. It stays hop-by-hop and is dropped as usual.
    public static let protectedConnectionOptions = [
        "content-length", "transfer-encoding", "host", "via", "max-forwards", "authorization",
        "proxy-authorization",
    ]

    /// The first `Connection` option that names a protected field (see `protectedConnectionOptions`),
    /// or nil. Costs nothing when there is no `Connection` field.
    public func firstProtectedConnectionOption() -> Substring? {
        guard firstIndex(of: .connection) != nil else { return nil }
        return listElements(for: "connection").first { option in
            Self.protectedConnectionOptions.contains { String(option).asciiCaseInsensitiveEquals($0) }
        }
    }

    /// Removes the hop-by-hop fields from `headers` (see `hopByHopFieldNames`), and in the same pass every
    /// field named in `extra` (lowercase).
    public static func removeHopByHop(from headers: inout HTTPHeaders, alsoRemoving extra: [String] = []) {
        // The `Connection` options, read once as offsets into the fields' bytes as they were (a response
        // nearly always has `Connection: keep-alive`); options that name a field hop-by-hop anyway are
        // skipped, so the usual case collects nothing and allocates nothing.
        var nominated: [Range<Int>] = []
        if headers.firstIndex(of: .connection) != nil {
            headers.bytes.withUnsafeBufferPointer { storage in
                headers.forEachListElement(in: "connection") { option in
                    if !KnownFieldName(option).isHopByHop {
                        let start = option.baseAddress! - storage.baseAddress!
                        nominated.append(start..<start + option.count)
                    }
                    return true
                }
            }
        }
        let storage = headers.bytes  // the options' bytes stay valid while spans are dropped
        headers.removeSpans { span, name in
            if span.known.isHopByHop { return true }
            if !extra.isEmpty, extra.contains(where: { equalsIgnoringCase(name, $0) }) { return true }
            guard !nominated.isEmpty else { return false }
            return storage.withUnsafeBufferPointer { bytes in
                nominated.contains { range in
                    range.count == name.count
                        && zip(bytes[range], name).allSatisfy { asciiLowercased($0) == asciiLowercased($1) }
                }
            }
        }
    }

    /// Removes the hop-by-hop fields and the `extra` ones (see `removeHopByHop(from:alsoRemoving:)`).
    public mutating func removeHopByHop(alsoRemoving extra: [String] = []) {
        Self.removeHopByHop(from: &self, alsoRemoving: extra)
    }

    /// Replaces whatever `Content-Length` and `Transfer-Encoding` the fields hold with the ones `framing`
    /// calls for (RFC 9112 §6): `Content-Length: N` in plain decimal (leading zeros never survive),
    /// `Transfer-Encoding: chunked`, or neither for `.none` and `.untilClose`. The one place a forwarded
    /// message's framing is written, so no field the peer sent, and no `Connection` option, can unframe it.
    public mutating func setFraming(_ framing: HTTPBodyFraming) {
        spans.removeAll { $0.known == .contentLength || $0.known == .transferEncoding }
        switch framing {
        case .contentLength(let length): add(name: "Content-Length", value: String(length))
        case .chunked: add(name: "Transfer-Encoding", value: "chunked")
        case .none, .untilClose: break
        }
    }
}
