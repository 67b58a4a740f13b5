import COpenSSL

/// What a server presents: a certificate chain and key, optional client-certificate requirement,
/// ALPN selection. Built from files (`init(configuration:)`), from PEM bytes in memory
/// (`init(certificateChainPEM:privateKeyPEM:...)`), or minted per host by an `InterceptionAuthority`.
///
/// Build one per identity and share it: every `TLSEngine` made from it holds it alive.
public final class TLSServerContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX, the identity and the ALPN list are fully configured in init
    // and never mutated afterwards; OpenSSL allows one SSL_CTX to create SSL objects from many threads.

    /// The configuration this context was built from; `nil` for contexts built in memory.
    public let configuration: TLSServerConfiguration?
    /// The SSL_CTX, possibly shared with other contexts (interception leaves share one).
    let base: ServerSSLContext
    /// Certificate and key set on each `SSL` made from this context, when they are not in `base`.
    let identity: (certificate: X509Certificate, key: PrivateKey)?

    /// The `SSL_CTX` engines are made from.
    var context: OpaquePointer { base.context }

    /// Builds the context from files. Throws `.configuration` naming the file or setting that failed.
    public init(configuration: TLSServerConfiguration) throws(TLSError) {
        let base = try ServerSSLContext(
            alpnProtocols: configuration.alpnProtocols, minimumVersion: configuration.minimumVersion)
        let context = base.context
        try SSLContextSetup.useCertificate(
            context, chainFile: configuration.certificateChainFile, keyFile: configuration.privateKeyFile)
        if let clientCAFile = configuration.clientCAFile {
            try SSLContextSetup.trust(context, caFile: clientCAFile)
            ERR_clear_error()
            if let names = SSL_load_client_CA_file(clientCAFile) {
                SSL_CTX_set_client_CA_list(context, names)  // takes ownership of `names`
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        }
        self.configuration = configuration
        self.base = base
        self.identity = nil
    }

    /// Builds the context from PEM in memory: `certificateChainPEM` holds the leaf first, then any
    /// intermediates; `privateKeyPEM` the leaf's unencrypted key. Throws `.configuration` when either
    /// cannot be read or they do not belong together. The key bytes are not kept.
    public init(
        certificateChainPEM: [UInt8], privateKeyPEM: [UInt8], alpnProtocols: [String] = [],
        minimumVersion: TLSVersion = .tls12
    ) throws(TLSError) {
        let chain = try X509Certificate.parseAll(pem: certificateChainPEM, what: "the certificate chain")
        let key = try PrivateKey(pem: privateKeyPEM, what: "the private key")
        guard key.matches(chain[0]) else {
            throw TLSError(.configuration, "the private key does not match the certificate '\(chain[0].subjectLine)'")
        }
        let base = try ServerSSLContext(alpnProtocols: alpnProtocols, minimumVersion: minimumVersion)
        ERR_clear_error()
        guard SSL_CTX_use_certificate(base.context, chain[0].pointer) == 1,
            SSL_CTX_use_PrivateKey(base.context, key.pointer) == 1
        else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot use the certificate and key")
        }
        for intermediate in chain.dropFirst() {
            guard latchkey_SSL_CTX_add1_chain_cert(base.context, intermediate.pointer) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot add '\(intermediate.subjectLine)' to the chain")
            }
        }
        self.configuration = nil
        self.base = base
        self.identity = nil
    }

    /// A context presenting `certificate` and `key` on an SSL_CTX shared with others (interception).
    init(base: ServerSSLContext, certificate: X509Certificate, key: PrivateKey) {
        self.configuration = nil
        self.base = base
        self.identity = (certificate, key)
    }

    /// The leaf certificate as PEM when this context was minted (interception); `nil` otherwise.
    /// For tests and diagnostics: it holds nothing secret.
    public var mintedCertificatePEM: [UInt8]? { identity?.certificate.pem }
}
