import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Steps shared by client and server contexts. Each throws with the failing file named.
enum SSLContextSetup {
    /// A fresh `SSL_CTX` with our floor: minimum version, no compression, no renegotiation.
    static func makeContext(method: OpaquePointer?, minimumVersion: TLSVersion) throws(TLSError) -> OpaquePointer {
        ERR_clear_error()
        guard let context = SSL_CTX_new(method) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot create TLS context")
        }
        let version = minimumVersion == .tls13 ? TLS1_3_VERSION : TLS1_2_VERSION
        guard latchkey_SSL_CTX_set_min_proto_version(context, version) == 1 else {
            SSL_CTX_free(context)
            throw OpenSSLErrorQueue.error(.configuration, "cannot set minimum TLS version \(minimumVersion.rawValue)")
        }
        _ = SSL_CTX_set_options(context, latchkey_SSL_OP_NO_COMPRESSION() | latchkey_SSL_OP_NO_RENEGOTIATION())
        _ = latchkey_SSL_CTX_set_mode(context, latchkey_SSL_MODE_RELEASE_BUFFERS())
        return context
    }

    /// Loads a certificate chain and its key, and checks that they belong together.
    static func useCertificate(_ context: OpaquePointer, chainFile: String, keyFile: String) throws(TLSError) {
        try checkReadable(chainFile, "certificate chain")
        try checkReadable(keyFile, "private key")
        ERR_clear_error()
        guard SSL_CTX_use_certificate_chain_file(context, chainFile) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot load certificate chain '\(chainFile)'")
        }
        guard SSL_CTX_use_PrivateKey_file(context, keyFile, SSL_FILETYPE_PEM) == 1 else {
            let reasons = OpenSSLErrorQueue.drain()
            if reasons.contains("key values mismatch") {
                throw TLSError(.configuration, "private key '\(keyFile)' does not match certificate '\(chainFile)'")
            }
            let detail = reasons.isEmpty ? "unknown OpenSSL error" : reasons.joined(separator: "; ")
            throw TLSError(.configuration, "cannot load private key '\(keyFile)': \(detail)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw OpenSSLErrorQueue.error(
                .configuration, "private key '\(keyFile)' does not match certificate '\(chainFile)'")
        }
    }

    /// Trusts exactly the CA certificates in `caFile`.
    static func trust(_ context: OpaquePointer, caFile: String) throws(TLSError) {
        try checkReadable(caFile, "CA file")
        ERR_clear_error()
        guard SSL_CTX_load_verify_locations(context, caFile, nil) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot load CA file '\(caFile)'")
        }
    }

    /// Fails with the system's reason ("No such file or directory") before OpenSSL buries it.
    static func checkReadable(_ path: String, _ what: String) throws(TLSError) {
        guard access(path, R_OK) == 0 else {
            let reason = String(cString: strerror(errno))
            throw TLSError(.configuration, "cannot read \(what) '\(path)': \(reason)")
        }
    }

    /// The whole file, at most `limit` bytes (more is an error rather than a truncated read).
    static func readFile(_ path: String, limit: Int) throws(TLSError) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw TLSError(.configuration, String(cString: strerror(errno))) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw TLSError(.configuration, String(cString: strerror(errno)))
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else { throw TLSError(.configuration, "larger than \(limit) bytes") }
        }
    }

    /// ALPN wire format (RFC 7301 §3.1): each name prefixed by its one-byte length.
    static func alpnWireFormat(_ protocols: [String]) throws(TLSError) -> [UInt8] {
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(.configuration, "ALPN protocol name '\(name)' must be 1 to 255 bytes long")
            }
            wire.append(UInt8(bytes.count))
            wire.append(contentsOf: bytes)
        }
        return wire
    }
}
