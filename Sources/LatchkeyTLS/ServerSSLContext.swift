import COpenSSL

/// The `SSL_CTX` under one or more `TLSServerContext`s: version floor, ALPN selection and the
/// server-name check every server engine runs (see `TLSEngine.requiredServerName`).
///
/// A file-based context puts its certificate here; interception shares one of these among all
/// the leaves it mints and sets each leaf on the `SSL` instead (`SSL_CTX_new` is costly in
/// OpenSSL 3 and a context per host would multiply its memory by the cache size).
final class ServerSSLContext: @unchecked Sendable {
    // @unchecked Sendable: configured in init, never mutated afterwards (the owner that adds a
    // certificate or chain does so before sharing it); OpenSSL allows SSL_new from many threads.

    /// The owned `SSL_CTX`; freed in `deinit`.
    let context: OpaquePointer
    /// ALPN preference in wire format; read by the select callback, lives as long as `self`.
    private let alpnPreference: ALPNPreference?

    /// Most sessions kept in OpenSSL's server-side session cache.
    static let sessionCacheSize = 1024

    /// A context with our floor, the ALPN list and the server-name callback installed.
    init(alpnProtocols: [String], minimumVersion: TLSVersion) throws(TLSError) {
        let context = try SSLContextSetup.makeContext(method: TLS_server_method(), minimumVersion: minimumVersion)
        do {
            alpnPreference =
                alpnProtocols.isEmpty ? nil : ALPNPreference(try SSLContextSetup.alpnWireFormat(alpnProtocols))
        } catch {
            SSL_CTX_free(context)
            throw error
        }
        self.context = context
        if let alpnPreference {
            // `self` outlives every SSL made from this context (each TLSEngine retains its context).
            SSL_CTX_set_alpn_select_cb(context, alpnSelect, Unmanaged.passUnretained(alpnPreference).toOpaque())
        }
        _ = latchkey_SSL_CTX_set_tlsext_servername_callback(context, TLSEngine.serverNameCallback)
        // Sessions kept for resumption by ID (TLS 1.2 clients without tickets): OpenSSL's default is
        // 20,480; bound the memory a stream of new clients can pin (tickets need no server state).
        _ = latchkey_SSL_CTX_sess_set_cache_size(context, Self.sessionCacheSize)
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
