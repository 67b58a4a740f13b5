import COpenSSL

/// An OpenSSL client context (`SSL_CTX`) built from a `TLSClientConfiguration`: trust store,
/// verification mode, client certificate, ALPN offer, version floor, ciphers, suites and groups.
///
/// Build one per distinct configuration and share it: every `TLSEngine` made from it holds it alive.
public final class TLSClientContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX is fully configured in init and never mutated afterwards;
    // OpenSSL allows one SSL_CTX to create SSL objects from many threads concurrently.

    /// The configuration this context was built from.
    public let configuration: TLSClientConfiguration
    /// The owned `SSL_CTX`; freed in `deinit`.
    let context: OpaquePointer
    /// Sessions for resumption, per peer; only engines made from this context use them.
    let sessions = TLSSessionCache()
    /// Set when the configuration checks revocation (and verifies at all): engines use it during handshakes.
    let revocationServices: RevocationServices?

    /// Builds the context. Throws `.configuration` naming the file or setting that failed.
    ///
    /// With `configuration.revocation` on, `revocation` supplies the distribution-point CRL cache and the
    /// report observer (`.offline()` when nil: only `crlFile` and stapled OCSP responses count).
    /// Contexts built with the same `trustStores` share one loaded copy of each trust source.
    public init(
        configuration: TLSClientConfiguration, revocation: RevocationServices? = nil,
        trustStores: TLSTrustStores = TLSTrustStores()
    ) throws(TLSError) {
        let context = try SSLContextSetup.makeContext(
            method: TLS_client_method(), minimumVersion: configuration.minimumVersion)
        do {
            try Self.configure(context, configuration, trustStores: trustStores)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.configuration = configuration
        self.context = context
        revocationServices =
            configuration.revocation == .off || configuration.insecureSkipVerify
            ? nil : (revocation ?? .offline())
    }

    deinit { SSL_CTX_free(context) }

    private static func configure(
        _ context: OpaquePointer, _ configuration: TLSClientConfiguration, trustStores: TLSTrustStores
    ) throws(TLSError) {
        if configuration.insecureSkipVerify {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            let source: TLSTrustStores.Source = configuration.caFile.map { .file($0) } ?? .system
            if configuration.revocation != .off, configuration.crlFile != nil {
                // The CRLs go into the store, so this context cannot share one: set0 hands it a store of its own.
                SSL_CTX_set_cert_store(context, try TLSTrustStores.load(source))
            } else {
                try trustStores.trust(context, source)
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
            if configuration.revocation != .off { try enableRevocationChecking(context, crlFile: configuration.crlFile) }
        }
        try TLSPolicyValidator.apply(
            context, cipherList: configuration.cipherList, cipherSuites: configuration.cipherSuites,
            groups: configuration.groups)
        switch (configuration.certificateFile, configuration.privateKeyFile) {
        case (nil, nil):
            break
        case (let certificate?, let key?):
            try SSLContextSetup.useCertificate(context, chainFile: certificate, keyFile: key)
        default:
            throw TLSError(.configuration, "a client certificate needs both certificateFile and privateKeyFile")
        }
        // TLS 1.3 tickets arrive after the handshake, during a read: OpenSSL hands each one to this
        // callback, which finds the engine through the SSL's app data. Returning 0 leaves OpenSSL's
        // reference alone; the cache keeps a copy of its own.
        _ = latchkey_SSL_CTX_enable_client_session_callback(context)
        SSL_CTX_sess_set_new_cb(context) { ssl, session in
            guard let ssl, let session, let engine = latchkey_SSL_get_app_data(ssl) else { return 0 }
            Unmanaged<TLSEngine>.fromOpaque(engine).takeUnretainedValue().keepSession(session)
            return 0
        }
        if !configuration.alpnProtocols.isEmpty {
            let wire = try SSLContextSetup.alpnWireFormat(configuration.alpnProtocols)
            ERR_clear_error()
            // Inverted convention: SSL_CTX_set_alpn_protos returns 0 on success.
            guard SSL_CTX_set_alpn_protos(context, wire, UInt32(wire.count)) == 0 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot set ALPN protocols")
            }
        }
    }
}

extension TLSClientContext {
    /// Loads the operator's CRLs into the trust store and routes verification through
    /// `TLSEngine.verifyChain`, which adds distribution-point CRLs and the CRL-checking flags per handshake.
    fileprivate static func enableRevocationChecking(_ context: OpaquePointer, crlFile: String?) throws(TLSError) {
        if let crlFile {
            for list in try loadCRLFile(crlFile) {
                ERR_clear_error()
                guard X509_STORE_add_crl(SSL_CTX_get_cert_store(context), list.pointer) == 1 else {
                    throw OpenSSLErrorQueue.error(.configuration, "cannot use the CRLs in '\(crlFile)'")
                }
            }
        }
        SSL_CTX_set_cert_verify_callback(
            context,
            { store, _ in
                guard let store else { return 0 }
                guard let engine = TLSEngine.engine(verifying: store) else { return X509_verify_cert(store) }
                return engine.verifyChain(store)
            }, nil)
    }

    /// Every CRL in `path` (PEM, several allowed, or one DER); throws naming the file.
    public static func loadCRLFile(_ path: String) throws(TLSError) -> [CertificateRevocationList] {
        try SSLContextSetup.checkReadable(path, "CRL file")
        let bytes: [UInt8]
        do {
            bytes = try SSLContextSetup.readFile(path, limit: 64 << 20)
        } catch {
            throw TLSError(.configuration, "cannot read CRL file '\(path)': \(error)")
        }
        return try CertificateRevocationList.parseAll(bytes, what: "CRL file '\(path)'")
    }
}
