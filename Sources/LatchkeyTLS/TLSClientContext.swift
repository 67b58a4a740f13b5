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

    /// Builds the context. Throws `.configuration` naming the file or setting that failed.
    public init(configuration: TLSClientConfiguration) throws(TLSError) {
        let context = try SSLContextSetup.makeContext(
            method: TLS_client_method(), minimumVersion: configuration.minimumVersion)
        do {
            try Self.configure(context, configuration)
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.configuration = configuration
        self.context = context
    }

    deinit { SSL_CTX_free(context) }

    private static func configure(_ context: OpaquePointer, _ configuration: TLSClientConfiguration) throws(TLSError) {
        if configuration.insecureSkipVerify {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        } else {
            if let caFile = configuration.caFile {
                try SSLContextSetup.trust(context, caFile: caFile)
            } else {
                ERR_clear_error()
                guard SSL_CTX_set_default_verify_paths(context) == 1 else {
                    throw OpenSSLErrorQueue.error(.configuration, "cannot load the system trust store")
                }
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
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
