import Yams

/// `tls:` — every TLS key is decoded here, for routes, OAuth connections (their token endpoints) and the
/// top-level defaults alike. The top-level block is decoded first; each route's or connection's block starts
/// from it and overrides only the keys it writes (per-key merge, the route's value wins).
///
/// Adding a key: its name in `tlsKeys` (and `topLevelOnlyExcluded` if a default makes no sense), one line in
/// `decodeTLSKeys`, a field on `TLSSettings`. OpenSSL-syntax strings are checked by `TLSPolicyCheck` after
/// load (this module does not link OpenSSL), at the position kept in their `TLSPolicyText`.
extension ConfigDecoder {
    static let tlsKeys = [
        "ca_file", "insecure_skip_verify", "cert_file", "key_file", "server_name", "min_version", "ciphers",
        "ciphersuites", "curves", "revocation", "crl_file",
    ]
    /// Keys a top-level default would make dangerous or meaningless: they belong to one upstream.
    static let routeOnlyTLSKeys: Set<String> = ["insecure_skip_verify", "server_name"]

    /// The top-level `tls:` block (also kept as `tlsDefaults` for `decodeTLS`).
    func decodeTLSDefaults(_ top: Fields) -> TLSSettings {
        guard let node = top["tls"],
            let map = fields(
                node, path: "tls", allowed: Self.tlsKeys.filter { !Self.routeOnlyTLSKeys.contains($0) },
                context: "the top-level tls: block (set it on the route or connection)", elsewhere: Self.routeOnlyTLSKeys)
        else { return tlsDefaults }
        var tls = TLSSettings()
        decodeTLSKeys(map, into: &tls)
        tlsDefaults = tls
        return tls
    }

    /// A route's or connection's `tls:` merged over the top-level defaults; the defaults when it has none.
    func decodeTLS(_ parent: Fields, _ key: String) -> TLSSettings {
        var tls = tlsDefaults
        guard let node = parent[key], let map = fields(node, path: parent.path(key), allowed: Self.tlsKeys) else {
            return tls
        }
        decodeTLSKeys(map, into: &tls)
        return tls
    }

    /// The keys written in `map`, over `tls`: a key not written keeps the value `tls` has. Files must be readable
    /// now; `cert_file` and `key_file` go together in one block (a certificate never pairs with an inherited key).
    func decodeTLSKeys(_ map: Fields, into tls: inout TLSSettings) {
        if map["ca_file"] != nil { tls.caFile = readableFile(map, "ca_file") }
        if map["cert_file"] != nil { tls.certFile = readableFile(map, "cert_file") }
        if map["key_file"] != nil { tls.keyFile = readableFile(map, "key_file") }
        if (map["cert_file"] == nil) != (map["key_file"] == nil) {
            let present = map["cert_file"] == nil ? "key_file" : "cert_file"
            fail(map.keyNode(present), map.path(present), "'cert_file' and 'key_file' must be given together")
        }
        if let skip = bool(map, "insecure_skip_verify") { tls.insecureSkipVerify = skip }
        if let name = string(map, "server_name") {
            if ValueParsing.isHostName(name.value) || ValueParsing.isIPv6(name.value) { tls.serverName = name.value } else {
                fail(name.node, name.path, "invalid server name '\(name.raw)'")
            }
        }
        if let version = minVersion(map) { tls.minVersion = version }
        if let text = policyText(map, "ciphers", separator: ":") { tls.ciphers = text }
        if let text = policyText(map, "ciphersuites", separator: ":") { tls.ciphersuites = text }
        if let text = policyText(map, "curves", separator: ":") { tls.curves = text }
        if let mode = revocationMode(map) { tls.revocation = mode }
        if map["crl_file"] != nil { tls.crlFile = readableFile(map, "crl_file") }
    }

    /// `revocation: off | soft | hard` (YAML 1.1 would read a bare `off` as false: its text is what counts).
    private func revocationMode(_ map: Fields) -> TLSRevocationMode? {
        guard let text = string(map, "revocation") else { return nil }
        let written = text.value == "false" ? "off" : text.value
        if let mode = TLSRevocationMode(rawValue: written) { return mode }
        fail(text.node, text.path, "invalid revocation mode '\(text.raw)'; expected off, soft or hard")
        return nil
    }

    /// `min_version: 1.2 | 1.3` (YAML reads an unquoted 1.2 as a number; its text is what counts).
    private func minVersion(_ map: Fields) -> TLSMinimumVersion? {
        guard let text = string(map, "min_version") else { return nil }
        let written = text.value.hasPrefix("TLSv") ? String(text.value.dropFirst(4)) : text.value
        if let version = TLSMinimumVersion(rawValue: written) { return version }
        fail(
            text.node, text.path, "invalid TLS version '\(text.raw)'; expected 1.2 or 1.3",
            suggestion: written == "1.0" || written == "1.1" ? "TLS 1.0 and 1.1 are deprecated by RFC 8996" : nil)
        return nil
    }

    /// An OpenSSL list written as one string (`A:B`) or a YAML list (`[A, B]`, joined with `separator`), kept with
    /// its position for `TLSPolicyCheck`. Empty is refused here: OpenSSL would take it as "nothing allowed".
    private func policyText(_ map: Fields, _ key: String, separator: String) -> TLSPolicyText? {
        guard let node = map[key] else { return nil }
        let items: [ScalarValue]?
        if case .sequence = node { items = stringList(map, key) } else { items = string(map, key).map { [$0] } }
        guard let items else { return nil }
        let value = items.map(\.value).joined(separator: separator)
        guard !value.isEmpty else {
            fail(node, map.path(key), "must not be empty; leave '\(key)' out for OpenSSL's defaults")
            return nil
        }
        guard value.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 0x20 && $0.value < 0x7F }) else {
            fail(node, map.path(key), "must be printable ASCII without spaces (OpenSSL list syntax, e.g. ECDHE+AESGCM:CHACHA20)")
            return nil
        }
        return TLSPolicyText(
            value,
            position: ConfigPosition(
                file: file, line: node.mark?.line ?? 0, column: node.mark?.column ?? 0, keyPath: map.path(key)))
    }
}
