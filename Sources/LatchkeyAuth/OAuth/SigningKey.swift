import COpenSSL
import LatchkeyConfig

/// A private key loaded from PEM, owned by this object (freed in `deinit`), with JWS signing.
///
/// Only used on the token manager's queue (one signing at a time); the libcrypto error queue is
/// thread-local, so it is cleared before each call and drained right after a failure.
final class SigningKey {
    private let key: OpaquePointer

    /// Parses a PEM private key (PKCS#8, or traditional RSA / EC) from memory.
    init(pem: String) throws(SigningError) {
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let parsed else { throw SigningError("cannot read private key PEM: " + Self.drainErrors()) }
        key = parsed
    }

    deinit { EVP_PKEY_free(key) }

    /// Signs `message` per RFC 7518 §3: RS256 (PKCS#1 v1.5, SHA-256), PS256 (PSS, SHA-256, MGF1 SHA-256,
    /// salt 32 bytes) or ES256 (P-256, SHA-256, signature as raw R||S, 64 bytes, §3.4).
    func sign(_ message: [UInt8], algorithm: JWTSigningAlgorithm) throws(SigningError) -> [UInt8] {
        try checkKeyType(for: algorithm)
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw SigningError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &keyContext, EVP_sha256(), nil, key) == 1 else {
            throw SigningError("EVP_DigestSignInit: " + Self.drainErrors())
        }
        if algorithm == .ps256 {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, EVP_sha256()) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, 32) == 1
            else { throw SigningError("PSS parameters: " + Self.drainErrors()) }
        }
        var length = 0
        guard EVP_DigestSign(context, nil, &length, message, message.count) == 1 else {
            throw SigningError("EVP_DigestSign: " + Self.drainErrors())
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, message, message.count) == 1 else {
            throw SigningError("EVP_DigestSign: " + Self.drainErrors())
        }
        signature.removeSubrange(length...)
        return algorithm == .es256 ? try Self.rawECDSASignature(fromDER: signature) : signature
    }

    private func checkKeyType(for algorithm: JWTSigningAlgorithm) throws(SigningError) {
        let type = EVP_PKEY_get_base_id(key)
        switch algorithm {
        case .rs256, .ps256:
            guard type == EVP_PKEY_RSA else { throw SigningError("\(algorithm.rawValue) needs an RSA private key") }
        case .es256:
            guard type == EVP_PKEY_EC, EVP_PKEY_get_bits(key) == 256 else {
                throw SigningError("ES256 needs a P-256 EC private key")
            }
        }
    }

    /// DER `ECDSA-Sig-Value` (SEQUENCE of two INTEGERs) → R||S, each left-padded to 32 bytes (RFC 7518 §3.4).
    static func rawECDSASignature(fromDER der: [UInt8]) throws(SigningError) -> [UInt8] {
        let sig: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &pointer, buffer.count)
        }
        guard let sig else { throw SigningError("malformed ECDSA signature") }
        defer { ECDSA_SIG_free(sig) }
        var r: OpaquePointer?
        var s: OpaquePointer?
        ECDSA_SIG_get0(sig, &r, &s)
        var raw = [UInt8](repeating: 0, count: 64)
        let ok = raw.withUnsafeMutableBufferPointer { out in
            BN_bn2binpad(r, out.baseAddress, 32) == 32 && BN_bn2binpad(s, out.baseAddress! + 32, 32) == 32
        }
        guard ok else { throw SigningError("ECDSA signature component too large") }
        return raw
    }

    /// Drains the thread's libcrypto error queue into one line.
    static func drainErrors() -> String {
        var messages: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            messages.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        return messages.isEmpty ? "unknown error" : messages.joined(separator: "; ")
    }
}

/// A signing failure; the message names the step and libcrypto's reason, never key material.
struct SigningError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
