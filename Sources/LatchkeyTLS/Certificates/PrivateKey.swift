import COpenSSL

/// A private key (`EVP_PKEY`), owned: freed in `deinit`.
///
/// Its `description` never shows key material; only `pkcs8PEM` does, for writing a key file.
final class PrivateKey: @unchecked Sendable, CustomStringConvertible {
    // @unchecked Sendable: never mutated after init; OpenSSL 3 allows concurrent signing with one
    // EVP_PKEY (each signature gets its own EVP_MD_CTX).

    /// The owned `EVP_PKEY`.
    let pointer: OpaquePointer

    /// Wraps `pointer`, taking over the caller's reference.
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }

    deinit { EVP_PKEY_free(pointer) }

    /// Parses one unencrypted PEM private key (PKCS#8, SEC1 or PKCS#1). Encrypted keys are refused
    /// at once: libcrypto's default would prompt for a passphrase on the terminal.
    init(pem: [UInt8], what: String) throws(TLSError) {
        guard Self.contains(pem, "-----BEGIN ") else {
            throw TLSError(.configuration, "\(what) is not a PEM private key (-----BEGIN ... PRIVATE KEY-----)")
        }
        if Self.contains(pem, "ENCRYPTED") {
            throw TLSError(.configuration, "\(what) is encrypted; give an unencrypted key (protect the file instead)")
        }
        ERR_clear_error()
        let bio = try MemoryBIO(reading: pem)
        guard let key = PEM_read_bio_PrivateKey(bio.pointer, nil, refusePassphrase, nil) else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot read \(what)")
        }
        pointer = key
    }

    /// A new EC key on P-256 (secp256r1, RFC 5480).
    static func generateP256() throws(TLSError) -> PrivateKey {
        ERR_clear_error()
        guard let key = latchkey_EVP_EC_gen("P-256") else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot generate an EC P-256 key")
        }
        return PrivateKey(takingOwnership: key)
    }

    /// The key as unencrypted PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"): secret, for a 0600 file only.
    var pkcs8PEM: [UInt8] {
        let bio = MemoryBIO()
        _ = PEM_write_bio_PrivateKey(bio.pointer, pointer, nil, nil, 0, nil, nil)
        return bio.contents
    }

    /// True when `certificate` carries this key's public half.
    func matches(_ certificate: X509Certificate) -> Bool {
        ERR_clear_error()
        defer { ERR_clear_error() }
        return X509_check_private_key(certificate.pointer, pointer) == 1
    }

    /// The digest to sign certificates with: SHA-256, none for Ed25519/Ed448 (they hash internally).
    var signingDigest: OpaquePointer? {
        let type = EVP_PKEY_get_base_id(pointer)
        return type == EVP_PKEY_ED25519 || type == EVP_PKEY_ED448 ? nil : EVP_sha256()
    }

    /// "EC private key (256 bits)": type and size, never the key.
    var description: String {
        let name = EVP_PKEY_get0_type_name(pointer).map { String(cString: $0) } ?? "unknown"
        return "\(name) private key (\(EVP_PKEY_get_bits(pointer)) bits)"
    }

    private static func contains(_ bytes: [UInt8], _ text: String) -> Bool {
        let needle = Array(text.utf8)
        guard bytes.count >= needle.count else { return false }
        for start in 0...(bytes.count - needle.count) where bytes[start] == needle[0] {
            if bytes[start..<start + needle.count].elementsEqual(needle) { return true }
        }
        return false
    }
}

/// Passphrase callback that refuses: an encrypted key fails instead of prompting on the terminal.
private func refusePassphrase(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ rwflag: Int32, _ user: UnsafeMutableRawPointer?
) -> Int32 { -1 }
