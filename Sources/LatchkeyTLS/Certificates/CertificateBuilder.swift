import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Fills in a new X.509 v3 certificate and signs it (RFC 5280 §4.1). Used to mint interception
/// leaves and to make the interception CA itself.
///
/// Owns the `X509` until `sign(with:)` hands it to an `X509Certificate`; freed in `deinit` if a
/// step failed first. Confined to one thread.
final class CertificateBuilder {
    private var certificate: OpaquePointer?

    /// An empty version 3 certificate.
    init() throws(TLSError) {
        ERR_clear_error()
        guard let certificate = X509_new(), X509_set_version(certificate, 2) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot create a certificate")
        }
        self.certificate = certificate
    }

    deinit { if let certificate { X509_free(certificate) } }

    private var pointer: OpaquePointer {
        get throws(TLSError) {
            guard let certificate else { throw TLSError(.invalidState, "the certificate was already signed") }
            return certificate
        }
    }

    /// A random positive 128-bit-wide serial number (RFC 5280 §4.1.2.2: unique per issuer, at most
    /// 20 octets; CA/Browser Forum: at least 64 random bits). The top bit is cleared so it stays
    /// positive and the next one set so the DER encoding is always 16 octets.
    func setRandomSerial() throws(TLSError) {
        var bytes = [UInt8](repeating: 0, count: 16)
        ERR_clear_error()
        guard RAND_bytes(&bytes, Int32(bytes.count)) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot draw a random serial number")
        }
        bytes[0] = (bytes[0] & 0x7F) | 0x40
        guard let number = BN_bin2bn(bytes, Int32(bytes.count), nil) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot build a serial number")
        }
        defer { BN_free(number) }
        guard let serial = BN_to_ASN1_INTEGER(number, nil) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot build a serial number")
        }
        defer { ASN1_INTEGER_free(serial) }
        guard X509_set_serialNumber(try pointer, serial) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set the serial number")
        }
    }

    /// Sets notBefore and notAfter (seconds since the epoch).
    func setValidity(notBefore: time_t, notAfter: time_t) throws(TLSError) {
        let certificate = try pointer
        guard ASN1_TIME_set(X509_getm_notBefore(certificate), notBefore) != nil,
            ASN1_TIME_set(X509_getm_notAfter(certificate), notAfter) != nil
        else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set the validity period")
        }
    }

    /// Sets the subject to `CN=commonName`, or to an empty name when `commonName` is `nil` (then the
    /// subjectAltName must be critical, RFC 5280 §4.2.1.6).
    func setSubject(commonName: String?) throws(TLSError) {
        guard let name = X509_NAME_new() else { throw OpenSSLErrorQueue.error(.configuration, "cannot build a name") }
        defer { X509_NAME_free(name) }
        if let commonName {
            guard X509_NAME_add_entry_by_txt(name, "CN", latchkey_MBSTRING_ASC(), commonName, -1, -1, 0) == 1 else {
                throw OpenSSLErrorQueue.error(.configuration, "cannot set the common name '\(commonName)'")
            }
        }
        guard X509_set_subject_name(try pointer, name) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set the subject name")
        }
    }

    /// Sets the issuer name to `issuer`'s subject, or to this certificate's own subject when `nil`.
    func setIssuer(_ issuer: X509Certificate?) throws(TLSError) {
        let certificate = try pointer
        let name = X509_get_subject_name(issuer?.pointer ?? certificate)
        guard X509_set_issuer_name(certificate, name) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set the issuer name")
        }
    }

    /// Sets the subject public key to the public half of `key`.
    func setPublicKey(of key: PrivateKey) throws(TLSError) {
        guard X509_set_pubkey(try pointer, key.pointer) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot set the public key")
        }
    }

    /// Adds the extension `nid` written in OpenSSL's configuration syntax (`x509v3_config(5)`),
    /// e.g. `"critical,CA:FALSE"`. `issuer` is the signing certificate (for authorityKeyIdentifier);
    /// `nil` means self-signed. Add subjectKeyIdentifier before authorityKeyIdentifier on a root.
    func addExtension(_ nid: Int32, _ value: String, issuer: X509Certificate?) throws(TLSError) {
        let certificate = try pointer
        var context = X509V3_CTX()
        X509V3_set_ctx(&context, issuer?.pointer ?? certificate, certificate, nil, nil, 0)
        ERR_clear_error()
        guard let extensionValue = X509V3_EXT_conf_nid(nil, &context, nid, value) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot build extension \(Self.name(nid)) '\(value)'")
        }
        defer { X509_EXTENSION_free(extensionValue) }
        guard X509_add_ext(certificate, extensionValue, -1) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot add extension \(Self.name(nid))")
        }
    }

    /// Signs with `key` (SHA-256, or the key's own scheme for Ed25519/Ed448) and hands over the result.
    func sign(with key: PrivateKey) throws(TLSError) -> X509Certificate {
        let certificate = try pointer
        ERR_clear_error()
        guard X509_sign(certificate, key.pointer, key.signingDigest) > 0 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot sign the certificate")
        }
        self.certificate = nil
        return X509Certificate(takingOwnership: certificate)
    }

    private static func name(_ nid: Int32) -> String {
        OBJ_nid2sn(nid).map { String(cString: $0) } ?? "\(nid)"
    }
}
