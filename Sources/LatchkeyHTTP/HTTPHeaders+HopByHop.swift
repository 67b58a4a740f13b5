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
        guard contains("connection") else { return nil }
        return listElements(for: "connection").first { option in
            Self.protectedConnectionOptions.contains { String(option).asciiCaseInsensitiveEquals($0) }
        }
    }

    /// Removes the hop-by-hop fields from `headers` (see `hopByHopFieldNames`), and in the same pass every
    /// field named in `extra` (lowercase).
    public static func removeHopByHop(from headers: inout HTTPHeaders, alsoRemoving extra: [String] = []) {
        let nominates = headers.contains("connection")
        let view = headers  // the options are read from the fields as they were, while spans are dropped
        headers.removeFields { name in
            hopByHopFieldNames.contains { equalsIgnoringCase(name, $0) }
                || extra.contains { equalsIgnoringCase(name, $0) }
                || (nominates && view.connectionNominates(name))
        }
    }

    /// Whether a `Connection` option equals `name` (ASCII case-insensitive); compares bytes.
    private func connectionNominates(_ name: UnsafeBufferPointer<UInt8>) -> Bool {
        var found = false
        forEachListElement(in: "connection") { option in
            found = option.count == name.count
                && zip(option, name).allSatisfy { Self.asciiLowercased($0) == Self.asciiLowercased($1) }
            return !found
        }
        return found
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
        removeFields { name in
            Self.equalsIgnoringCase(name, "content-length") || Self.equalsIgnoringCase(name, "transfer-encoding")
        }
        switch framing {
        case .contentLength(let length): add(name: "Content-Length", value: String(length))
        case .chunked: add(name: "Transfer-Encoding", value: "chunked")
        case .none, .untilClose: break
        }
    }
}
