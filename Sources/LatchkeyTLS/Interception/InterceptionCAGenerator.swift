import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Makes a new interception CA (`latchkey ca init`): a self-signed root that can sign server leaves
/// and nothing below them.
///
/// - EC P-256 key (RFC 5480), SHA-256 signature;
/// - subject and issuer `CN=<commonName>`;
/// - basicConstraints `CA:TRUE, pathlen:0` (critical): it may sign leaves, never another CA;
/// - keyUsage `keyCertSign, cRLSign` (critical) and a subjectKeyIdentifier (RFC 5280 §4.2.1);
/// - notBefore an hour back (slow clocks), notAfter `validityDays` ahead.
public enum InterceptionCAGenerator {
    /// The default lifetime of a generated CA: 10 years. Leaves are short-lived and the CA key never
    /// leaves the proxy's host; replacing a CA means re-distributing trust to every app, so it is rare.
    public static let defaultValidityDays = 3650

    /// A new CA certificate and its key, both PEM. The key bytes are secret: write them to a 0600 file.
    public static func generate(
        commonName: String, validityDays: Int = defaultValidityDays, now: time_t = time(nil)
    ) throws(TLSError) -> (certificatePEM: [UInt8], keyPEM: [UInt8]) {
        guard (1...64).contains(commonName.utf8.count) else {
            throw TLSError(.configuration, "the CA name must be 1 to 64 bytes long (the X.509 bound for a common name)")
        }
        guard (1...36500).contains(validityDays) else {
            throw TLSError(.configuration, "the CA validity must be 1 to 36500 days")
        }
        let key = try PrivateKey.generateP256()
        let builder = try CertificateBuilder()
        try builder.setRandomSerial()
        try builder.setValidity(
            notBefore: now - LeafCertificateMinter.clockSkewAllowance, notAfter: now + time_t(validityDays) * 86400)
        try builder.setSubject(commonName: commonName)
        try builder.setIssuer(nil)
        try builder.setPublicKey(of: key)
        try builder.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0", issuer: nil)
        try builder.addExtension(NID_key_usage, "critical,keyCertSign,cRLSign", issuer: nil)
        try builder.addExtension(NID_subject_key_identifier, "hash", issuer: nil)
        let certificate = try builder.sign(with: key)
        return (certificate.pem, key.pkcs8PEM)
    }
}

extension InterceptionCAGenerator {
    /// "AB:CD:…", the SHA-256 fingerprint of the first certificate in `certificatePEM` (what
    /// `openssl x509 -noout -fingerprint -sha256` prints), for people comparing what they trust.
    public static func sha256Fingerprint(certificatePEM: [UInt8]) throws(TLSError) -> String {
        let certificate = try X509Certificate.parseAll(pem: certificatePEM, what: "the certificate")[0]
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate.pointer, EVP_sha256(), &digest, &length) == 1 else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot compute the certificate fingerprint")
        }
        let hex = Array("0123456789ABCDEF".utf8)
        return digest.prefix(Int(length)).map {
            String(decoding: [hex[Int($0 >> 4)], hex[Int($0 & 0xF)]], as: UTF8.self)
        }
        .joined(separator: ":")
    }
}
