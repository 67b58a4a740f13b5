import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) through libcrypto's EVP interface: 32-byte key, 12-byte nonce,
/// 16-byte tag. Stateless; every call makes and frees its own `EVP_CIPHER_CTX`.
enum AESGCM {
    static let keySize = 32
    static let nonceSize = 12
    static let tagSize = 16

    /// Encrypts `plaintext` under `key` with `nonce` (never reuse a nonce with a key: callers pass
    /// fresh random ones), authenticating `aad` too. Returns ciphertext and tag.
    static func seal(_ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], aad: [UInt8]) throws(CryptoError)
        -> (ciphertext: [UInt8], tag: [UInt8])
    {
        precondition(key.count == keySize && nonce.count == nonceSize)
        ERR_clear_error()
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceSize), nil) == 1,
            EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1
        else { throw CryptoError.openSSL("EVP_EncryptInit_ex") }
        var length: Int32 = 0
        if !aad.isEmpty {
            guard EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.openSSL("EVP_EncryptUpdate(aad)")
            }
        }
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        guard EVP_EncryptUpdate(context, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1 else {
            throw CryptoError.openSSL("EVP_EncryptUpdate")
        }
        var total = Int(length)
        let finalOK = ciphertext.withUnsafeMutableBufferPointer { buffer in
            EVP_EncryptFinal_ex(context, buffer.baseAddress! + total, &length)
        }
        guard finalOK == 1 else { throw CryptoError.openSSL("EVP_EncryptFinal_ex") }
        total += Int(length)
        var tag = [UInt8](repeating: 0, count: tagSize)
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagSize), &tag) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_GCM_GET_TAG")
        }
        return (Array(ciphertext.prefix(total)), tag)
    }

    /// Decrypts and verifies. Throws when the tag does not match (wrong key, tampered ciphertext,
    /// nonce or AAD); no plaintext is returned then.
    static func open(_ ciphertext: [UInt8], tag: [UInt8], key: [UInt8], nonce: [UInt8], aad: [UInt8]) throws(CryptoError)
        -> [UInt8]
    {
        precondition(key.count == keySize && nonce.count == nonceSize && tag.count == tagSize)
        ERR_clear_error()
        guard let context = EVP_CIPHER_CTX_new() else { throw CryptoError.openSSL("EVP_CIPHER_CTX_new") }
        defer { EVP_CIPHER_CTX_free(context) }
        guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
            EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonceSize), nil) == 1,
            EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1
        else { throw CryptoError.openSSL("EVP_DecryptInit_ex") }
        var length: Int32 = 0
        if !aad.isEmpty {
            guard EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.openSSL("EVP_DecryptUpdate(aad)")
            }
        }
        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        guard EVP_DecryptUpdate(context, &plaintext, &length, ciphertext, Int32(ciphertext.count)) == 1 else {
            throw CryptoError.openSSL("EVP_DecryptUpdate")
        }
        var total = Int(length)
        var expectedTag = tag
        guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagSize), &expectedTag) == 1 else {
            throw CryptoError.openSSL("EVP_CTRL_GCM_SET_TAG")
        }
        let finalOK = plaintext.withUnsafeMutableBufferPointer { buffer in
            EVP_DecryptFinal_ex(context, buffer.baseAddress! + total, &length)
        }
        guard finalOK == 1 else {
            ERR_clear_error()
            throw CryptoError("authentication failed (wrong state_key, or the file was modified)")
        }
        total += Int(length)
        return Array(plaintext.prefix(total))
    }
}
