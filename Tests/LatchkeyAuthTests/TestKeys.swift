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

    private static func pem(_ write: (OpaquePointer?) -> Int32) -> String {
        let bio = BIO_new(BIO_s_mem())
        defer { BIO_free(bio) }
        precondition(write(bio) == 1)
        var data: UnsafeMutablePointer<CChar>?
        let length = latchkey_BIO_get_mem_data(bio, &data)
        return String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
    }

    /// Verifies a JWS signature over `message` with a PEM public key (ES256: raw R||S back to DER first).
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
        if algorithm == .es256 {
            guard signature.count == 64, let der = derECDSA(signature) else { return false }
            signature = der
        }
        let context = EVP_MD_CTX_new()
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &keyContext, EVP_sha256(), nil, key) == 1 else { return false }
        if algorithm == .ps256 {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1
            else { return false }
        }
        return EVP_DigestVerify(context, signature, signature.count, message, message.count) == 1
    }

    private static func derECDSA(_ raw: [UInt8]) -> [UInt8]? {
        guard let sig = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(sig) }
        let r = BN_bin2bn(raw, 32, nil)
        let s = Array(raw[32...]).withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, 32, nil) }
        guard ECDSA_SIG_set0(sig, r, s) == 1 else { return nil }
        var out: UnsafeMutablePointer<UInt8>?
        let length = i2d_ECDSA_SIG(sig, &out)
        guard length > 0, let out else { return nil }
        defer { latchkey_OPENSSL_free(out) }
        return Array(UnsafeBufferPointer(start: out, count: Int(length)))
    }
}
