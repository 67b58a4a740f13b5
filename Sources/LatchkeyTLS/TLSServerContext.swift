import COpenSSL

/// An OpenSSL server context (`SSL_CTX`) built from a `TLSServerConfiguration`: certificate chain
/// and key, optional client-certificate requirement, ALPN selection.
public final class TLSServerContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX and the ALPN list are fully configured in init and never
    // mutated afterwards; OpenSSL allows one SSL_CTX to create SSL objects from many threads.

    /// The configuration this context was built from.
    public let configuration: TLSServerConfiguration
    /// The owned `SSL_CTX`; freed in `deinit`.
    let context: OpaquePointer
    /// Server ALPN preference in wire format; read by the select callback, lives as long as `self`.
    private let alpnPreference: ALPNPreference?

    /// Builds the context. Throws `.configuration` naming the file or setting that failed.
    public init(configuration: TLSServerConfiguration) throws(TLSError) {
        let context = try SSLContextSetup.makeContext(
            method: TLS_server_method(), minimumVersion: configuration.minimumVersion)
        do {
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
            alpnPreference =
                configuration.alpnProtocols.isEmpty
                ? nil : ALPNPreference(try SSLContextSetup.alpnWireFormat(configuration.alpnProtocols))
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.configuration = configuration
        self.context = context
        if let alpnPreference {
            // `self` outlives every SSL made from this context (each TLSEngine retains its context).
            SSL_CTX_set_alpn_select_cb(context, alpnSelect, Unmanaged.passUnretained(alpnPreference).toOpaque())
        }
    }

    deinit { SSL_CTX_free(context) }
}

/// A server's ALPN list in wire format, in stable memory the select callback can point into.
final class ALPNPreference {
    let bytes: UnsafeMutableBufferPointer<UInt8>

    init(_ wire: [UInt8]) {
        bytes = .allocate(capacity: wire.count)
        _ = bytes.initialize(from: wire)
    }

    deinit { bytes.deallocate() }
}

/// Picks the first protocol in the server's preference list the client also offered
/// (RFC 7301 §3.2); with no overlap the handshake goes on without ALPN.
private let alpnSelect:
    @convention(c) (
        OpaquePointer?, UnsafeMutablePointer<UnsafePointer<UInt8>?>?, UnsafeMutablePointer<UInt8>?,
        UnsafePointer<UInt8>?, UInt32, UnsafeMutableRawPointer?
    ) -> Int32 = { _, out, outLength, offered, offeredLength, argument in
        guard let out, let outLength, let offered, let argument else { return SSL_TLSEXT_ERR_NOACK }
        let preference = Unmanaged<ALPNPreference>.fromOpaque(argument).takeUnretainedValue()
        var selected: UnsafeMutablePointer<UInt8>? = nil
        let result = SSL_select_next_proto(
            &selected, outLength, preference.bytes.baseAddress, UInt32(preference.bytes.count), offered, offeredLength)
        guard result == OPENSSL_NPN_NEGOTIATED, let selected else { return SSL_TLSEXT_ERR_NOACK }
        out.pointee = UnsafePointer(selected)
        return SSL_TLSEXT_ERR_OK
    }
