import COpenSSL
import LatchkeyConfig

/// The key material a client assertion is signed with, as configured (read afresh for every request,
/// so a rotated key or secret is used at once).
public enum AssertionSigner: Sendable {
    /// `private_key_jwt`: a PEM or JWK private key, the passphrase of an encrypted PEM, and optionally the
    /// client's PEM certificate, whose thumbprint(s) go into the header (`x5t#S256`, `x5t`).
    case privateKey(text: String, passphrase: String?, certificate: String?, thumbprint: CertificateThumbprint)
    /// `client_secret_jwt`: HMAC keyed with the client secret's UTF-8 bytes (RFC 7518 §3.2).
    case secret(String)

    /// Parses the key material: the private key (nil for `.secret`) and the extra JOSE header members
    /// (the certificate's thumbprints). A certificate whose public key is not the private key's is refused.
    func load() throws(SigningError) -> (members: [(String, String)], key: SigningKey?) {
        guard case .privateKey(let text, let passphrase, let certificatePEM, let thumbprint) = self else {
            return ([], nil)
        }
        let key = try SigningKey(text: text, passphrase: passphrase)
        guard let certificatePEM else { return ([], key) }
        let certificate = try ClientCertificate(pem: certificatePEM)
        guard certificate.matches(key) else {
            throw SigningError("the certificate's public key does not belong to private_key")
        }
        return (certificate.headerMembers(thumbprint), key)
    }

    /// HMAC-SHA-256/384/512 of `message` keyed with `secret` (RFC 7518 §3.2).
    static func hmac(_ message: [UInt8], secret: String, algorithm: JWTSigningAlgorithm) throws(SigningError) -> [UInt8]
    {
        guard algorithm.isHMAC, let digest = SigningKey.digest(for: algorithm) else {
            throw SigningError(
                "\(algorithm.rawValue) is signed with a private key (client_auth: private_key_jwt), not the client secret"
            )
        }
        let key = Array(secret.utf8)
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard HMAC(digest, key, Int32(key.count), message, message.count, &out, &length) != nil else {
            throw SigningError("HMAC: " + SigningKey.drainErrors())
        }
        return Array(out.prefix(Int(length)))
    }
}
