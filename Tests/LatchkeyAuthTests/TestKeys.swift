import COpenSSL
import LatchkeyAuth
import LatchkeyConfig

/// Throwaway key pairs made with libcrypto, as PEM, and signature verification with the public key.
enum TestKeys {
    static let rsa = generate(rsa: true)
    static let ec = generate(rsa: false)

    static func generate(rsa: Bool) -> (privatePEM: String, publicPEM: String) {
        let key = rsa ? latchkey_EVP_RSA_gen(2048) : latchkey_EVP_EC_gen("P-256")
        precondition(key != nil, "key generation failed")
        defer { EVP_PKEY_free(key) }
        return (pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }, pem { PEM_write_bio_PUBKEY($0, key) })
    }

    static func pem(_ write: (OpaquePointer?) -> Int32) -> String {
        let bio = BIO_new(BIO_s_mem())
        defer { BIO_free(bio) }
        precondition(write(bio) == 1)
        var data: UnsafeMutablePointer<CChar>?
        let length = latchkey_BIO_get_mem_data(bio, &data)
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// An Ed25519 key pair.
    static let ed25519: (privatePEM: String, publicPEM: String) = {
        let context = EVP_PKEY_CTX_new_id(latchkey_EVP_PKEY_ED25519(), nil)
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        precondition(EVP_PKEY_keygen_init(context) == 1 && EVP_PKEY_keygen(context, &key) == 1)
        defer { EVP_PKEY_free(key) }
        return (pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }, pem { PEM_write_bio_PUBKEY($0, key) })
    }()

    /// EC key pairs by curve name.
    static let ecP384 = ec("P-384")
    static let ecP521 = ec("P-521")
    static func ec(_ curve: String) -> (privatePEM: String, publicPEM: String) {
        let key = latchkey_EVP_EC_gen(curve)
        defer { EVP_PKEY_free(key) }
        return (pem { PEM_write_bio_PrivateKey($0, key, nil, nil, 0, nil, nil) }, pem { PEM_write_bio_PUBKEY($0, key) })
    }

    /// The PEM private key re-encoded: `traditional` (PKCS#1 / SEC1), optionally encrypted with `passphrase`
    /// (AES-256-CBC; PKCS#8 `ENCRYPTED PRIVATE KEY`, or `Proc-Type: 4,ENCRYPTED` when traditional).
    static func reencode(_ privatePEM: String, traditional: Bool, passphrase: String?) -> String {
        let bytes = Array(privatePEM.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { raw in
            let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count))
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        defer { EVP_PKEY_free(key) }
        let cipher = passphrase == nil ? nil : EVP_aes_256_cbc()
        return pem { bio in
            (passphrase ?? "").withCString { pass in
                let user = passphrase == nil ? nil : UnsafeMutableRawPointer(mutating: pass)
                return traditional
                    ? PEM_write_bio_PrivateKey_traditional(bio, key, cipher, nil, 0, nil, user)
                    : PEM_write_bio_PKCS8PrivateKey(bio, key, cipher, nil, 0, nil, user)
            }
        }
    }

    /// Verifies a JWS signature over `message` with a PEM public key per RFC 7518 §3.3–3.5 / RFC 8037
    /// (ECDSA: raw R||S back to DER first; PSS: salt as long as the hash).
    static func verify(_ message: [UInt8], signature: [UInt8], publicPEM: String, algorithm: JWTSigningAlgorithm) -> Bool {
        let bytes = Array(publicPEM.utf8)
        let key: OpaquePointer? = bytes.withUnsafeBytes { raw in
            let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count))
            defer { BIO_free(bio) }
            return PEM_read_bio_PUBKEY(bio, nil, nil, nil)
        }
        guard let key else { return false }
        defer { EVP_PKEY_free(key) }
        var signature = signature
        let width = ["ES256": 32, "ES384": 48, "ES512": 66][algorithm.rawValue]
        if let width {
            guard signature.count == 2 * width, let der = derECDSA(signature, width: width) else { return false }
            signature = der
        }
        let digest: OpaquePointer? =
            switch algorithm.hashLength {
            case 48: EVP_sha384()
            case 64: EVP_sha512()
            case 32: EVP_sha256()
            default: nil
            }
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, digest, nil, key) == 1 else { return false }
        if algorithm.rawValue.hasPrefix("PS") {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, digest) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, Int32(algorithm.hashLength!)) == 1
            else { return false }
        }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }

    private static func derECDSA(_ raw: [UInt8], width: Int) -> [UInt8]? {
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let r = BN_bin2bn(raw, Int32(width), nil)
        let s = Array(raw[width...]).withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(width), nil) }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(sig, &out)
        guard length > 0, let out else { return nil }
        defer { latchkey_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
