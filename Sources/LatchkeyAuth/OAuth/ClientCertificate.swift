import COpenSSL
import LatchkeyConfig

/// The client's X.509 certificate for a client assertion key, owned by this object (freed in `deinit`):
/// its thumbprints go into the JOSE header as `x5t#S256` (RFC 7515 §4.1.8) and `x5t` (§4.1.7), which
/// Microsoft Entra ID uses to find the certificate credential.
final class ClientCertificate {
    private let certificate: OpaquePointer

    /// Parses the first certificate of a PEM text.
    init(pem: String) throws(SigningError) {
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_X509(bio, nil, nil, nil)
        }
        guard let parsed else { throw SigningError("cannot read the certificate PEM: " + SigningKey.drainErrors()) }
        certificate = parsed
    }

    deinit { X509_free(certificate) }

    /// The DER encoding (what the thumbprints are computed over).
    var der: [UInt8] {
        let length = i2d_X509(certificate, nil)
        guard length > 0 else { return [] }
        var out = [UInt8](repeating: 0, count: Int(length))
        out.withUnsafeMutableBufferPointer { buffer in
            var pointer = buffer.baseAddress
            _ = i2d_X509(certificate, &pointer)
        }
        return out
    }

    /// base64url of the SHA-256 (`sha1: false`) or SHA-1 digest of the DER certificate.
    func thumbprint(sha1: Bool = false) -> String {
        let der = self.der
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        _ = EVP_Digest(der, der.count, &digest, &length, sha1 ? EVP_sha1() : EVP_sha256(), nil)
        return Base64.encodeURLSafe(Array(digest.prefix(Int(length))))
    }

    /// Whether the certificate's public key is the public half of `key`.
    func matches(_ key: SigningKey) -> Bool {
        ERR_clear_error()
        defer { ERR_clear_error() }
        return X509_check_private_key(certificate, key.key) == 1
    }

    /// The JOSE header members for `choice` (RFC 7515 §4.1.7–8).
    func headerMembers(_ choice: CertificateThumbprint) -> [(String, String)] {
        switch choice {
        case .sha256: [("x5t#S256", thumbprint())]
        case .sha1: [("x5t", thumbprint(sha1: true))]
        case .both: [("x5t#S256", thumbprint()), ("x5t", thumbprint(sha1: true))]
        }
    }
}
