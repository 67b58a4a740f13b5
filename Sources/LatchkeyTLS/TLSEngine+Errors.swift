import COpenSSL

extension TLSEngine {
    /// Explains a failed handshake. Certificate problems are reported from the verification result
    /// (what users need to fix), everything else from the error queue (peer alerts, versions, ...).
    func handshakeError() -> TLSError {
        if let refused = refusedServerName {
            ERR_clear_error()
            return TLSError(
                .serverNameMismatch,
                "TLS handshake refused: the client asked for server name '\(refused)', "
                    + "but this connection is for '\(requiredServerName ?? "?")'")
        }
        let verifyResult = SSL_get_verify_result(ssl)
        guard verifyResult != Int(X509_V_OK) else {
            let error = OpenSSLErrorQueue.error(.handshake, "TLS handshake failed", fallback: "connection closed by peer")
            guard let policy = (contextOwner as? TLSClientContext)?.configuration,
                let hint = TLSPolicyHint.explain(error.reason, policy: policy)
            else { return error }
            return TLSError(.handshake, "\(error.reason) (\(hint))")
        }
        ERR_clear_error()
        let whose = role == .client ? "" : "client "
        let reason = String(cString: X509_verify_cert_error_string(verifyResult))
        let certificate = peerCertificateDescription()
        switch Int32(verifyResult) {
        case X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH:
            let name = serverName ?? "?"
            let kind = verifyResult == X509_V_ERR_HOSTNAME_MISMATCH ? "host name" : "IP address"
            return TLSError(
                .hostnameMismatch,
                "\(whose)certificate verify failed: \(reason): the server certificate\(certificate) is not valid for \(kind) '\(name)'"
            )
        default:
            return TLSError(.certificateVerification, "\(whose)certificate verify failed: \(reason)\(certificate)")
        }
    }

    /// " (subject '/CN=…', issuer '/CN=…')" for the peer's leaf certificate, or "" when unknown.
    private func peerCertificateDescription() -> String {
        // The leaf is the first entry of the chain the peer sent; on the server side the chain
        // excludes the leaf, so prefer the session's peer certificate when it exists.
        var leaf = SSL_get0_peer_certificate(ssl)
        if leaf == nil, role == .client, let chain = SSL_get_peer_cert_chain(ssl), OPENSSL_sk_num(chain) > 0 {
            leaf = OpaquePointer(OPENSSL_sk_value(chain, 0))
        }
        guard let leaf else { return "" }
        return
            " (subject '\(Self.oneLine(X509_get_subject_name(leaf)))', issuer '\(Self.oneLine(X509_get_issuer_name(leaf)))')"
    }

    private static func oneLine(_ name: OpaquePointer?) -> String {
        guard let name else { return "?" }
        var buffer = [CChar](repeating: 0, count: 256)
        guard X509_NAME_oneline(name, &buffer, Int32(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
