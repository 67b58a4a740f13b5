import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Mints the certificate a client sees for an intercepted host: valid for exactly that host,
/// signed by the interception CA. Pure libcrypto, nothing touches the disk.
///
/// Each leaf (RFC 5280 profile, as browsers and TLS libraries expect of a server certificate):
/// - a fresh EC P-256 key;
/// - subjectAltName with the one host (dNSName, or iPAddress for a literal), critical when the
///   subject is empty; subject `CN=host` when the host fits the 64-character CN bound;
/// - notBefore one hour back (clients with a slow clock), notAfter `validity` ahead but never past
///   the CA's own notAfter (a chain is only as valid as its issuer);
/// - a random serial; basicConstraints CA:FALSE; keyUsage digitalSignature (critical);
///   extendedKeyUsage serverAuth; subject and authority key identifiers.
struct LeafCertificateMinter: Sendable {
    /// The signing CA certificate.
    let issuer: X509Certificate
    /// The signing CA's key.
    let issuerKey: PrivateKey
    /// How long a new leaf is valid (before the clamp to the CA's notAfter).
    let validity: Duration
    /// The CA's notAfter, in seconds since the epoch.
    let issuerNotAfter: time_t

    /// How far notBefore is set back from now, for clients whose clock runs slow.
    static let clockSkewAllowance: time_t = 3600

    /// Mints a certificate and key for `host` at time `now`.
    func mint(for host: LeafHostName, now: time_t = time(nil)) throws(TLSError) -> (X509Certificate, PrivateKey) {
        let key = try PrivateKey.generateP256()
        let builder = try CertificateBuilder()
        try builder.setRandomSerial()
        let seconds = time_t(validity.components.seconds)
        try builder.setValidity(
            notBefore: now - Self.clockSkewAllowance, notAfter: min(now + seconds, issuerNotAfter))
        let commonName = host.value.utf8.count <= 64 ? host.value : nil
        try builder.setSubject(commonName: commonName)
        try builder.setIssuer(issuer)
        try builder.setPublicKey(of: key)
        try builder.addExtension(NID_basic_constraints, "critical,CA:FALSE", issuer: issuer)
        try builder.addExtension(NID_key_usage, "critical,digitalSignature", issuer: issuer)
        try builder.addExtension(NID_ext_key_usage, "serverAuth", issuer: issuer)
        try builder.addExtension(
            NID_subject_alt_name, (commonName == nil ? "critical," : "") + host.subjectAltName, issuer: issuer)
        try builder.addExtension(NID_subject_key_identifier, "hash", issuer: issuer)
        // keyid from the CA's subjectKeyIdentifier; issuer name and serial only if the CA has none.
        try builder.addExtension(NID_authority_key_identifier, "keyid,issuer", issuer: issuer)
        return (try builder.sign(with: issuerKey), key)
    }
}
