/// Says which part of a client's TLS policy (`min_version`, `ciphers`, `ciphersuites`, `curves`) a failed
/// handshake points at, so a 502 tells the operator what to change rather than only OpenSSL's alert text.
///
/// A server that refuses the offered versions answers with a `protocol_version` alert (OpenSSL: "tlsv1 alert
/// protocol version") or picks a version the client refused ("unsupported protocol"); one that shares no
/// cipher or group answers `handshake_failure` ("sslv3 alert handshake failure") or OpenSSL finds nothing to
/// offer ("no ciphers available", "no suitable key share").
enum TLSPolicyHint {
    static func explain(_ reason: String, policy: TLSClientConfiguration) -> String? {
        let text = reason.lowercased()
        if text.contains("protocol version") || text.contains("unsupported protocol") {
            switch policy.minimumVersion {
            case .tls13: return "the server offers only TLSv1.2 or older, and tls.min_version requires TLSv1.3"
            case .tls12: return "the server offers only TLS versions older than TLSv1.2, which Latchkey never uses (RFC 8996)"
            }
        }
        let restricted = [
            policy.cipherList.map { "tls.ciphers '\($0)'" }, policy.cipherSuites.map { "tls.ciphersuites '\($0)'" },
            policy.groups.map { "tls.curves '\($0)'" },
        ].compactMap { $0 }
        guard !restricted.isEmpty else { return nil }
        if text.contains("handshake failure") || text.contains("no shared cipher") || text.contains("no ciphers available")
            || text.contains("no suitable") || text.contains("insufficient security")
        {
            return "the server shares no cipher or curve with \(restricted.joined(separator: ", "))"
        }
        return nil
    }
}
