import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

extension TLSEngine {
    /// A new `SSL` wired to two fresh memory BIOs (the SSL takes ownership of both).
    static func makeSession(_ context: OpaquePointer) throws(TLSError) -> (OpaquePointer, OpaquePointer, OpaquePointer)
    {
        ERR_clear_error()
        guard let ssl = SSL_new(context) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot create TLS session")
        }
        guard let input = BIO_new(BIO_s_mem()) else {
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error(.configuration, "cannot create memory BIO")
        }
        guard let output = BIO_new(BIO_s_mem()) else {
            BIO_free(input)
            SSL_free(ssl)
            throw OpenSSLErrorQueue.error(.configuration, "cannot create memory BIO")
        }
        SSL_set_bio(ssl, input, output)
        return (ssl, input, output)
    }

    /// "[::1]" → "::1"; "example.com." → "example.com".
    static func normalize(_ serverName: String) -> String {
        var name = Substring(serverName)
        if name.hasPrefix("["), name.hasSuffix("]") { name = name.dropFirst().dropLast() }
        while name.hasSuffix(".") { name = name.dropLast() }
        return String(name)
    }

    /// True for an IPv4 or IPv6 address literal.
    static func isIPLiteral(_ name: String) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, name, &buffer) == 1 || inet_pton(AF_INET6, name, &buffer) == 1
    }

    /// Sets SNI (host names only) and, when verifying, the name or address the certificate must match.
    func configurePeerName(_ name: String, verify: Bool) throws(TLSError) {
        let isIP = Self.isIPLiteral(name)
        ERR_clear_error()
        if !isIP, latchkey_SSL_set_tlsext_host_name(ssl, name) != 1 {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set SNI server name '\(name)'")
        }
        guard verify else { return }
        if isIP {
            guard X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot verify against IP address '\(name)'")
            }
        } else {
            SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
            guard SSL_set1_host(ssl, name) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot verify against host name '\(name)'")
            }
        }
    }
}
