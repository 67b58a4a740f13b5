import COpenSSL
import LatchkeyConfig

/// A private key for client assertions, owned by this object (freed in `deinit`), with JWS signing.
///
/// Read from PEM (PKCS#8 `PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`, SEC1 `EC PRIVATE KEY`, each possibly
/// encrypted: PKCS#8 `ENCRYPTED PRIVATE KEY` or the traditional `Proc-Type: 4,ENCRYPTED`) or from a
/// private JWK (RFC 7517, `SigningKey+JWK.swift`). Used on one thread at a time; the libcrypto error
/// queue is thread-local, so it is cleared before each call and drained right after a failure.
/// No error message ever contains key material or the passphrase.
final class SigningKey {
    let key: OpaquePointer
    /// The JWK's `kid`, used as the assertion's `kid` when `key_id` is not set.
    let jwkKeyID: String?
    /// The JWK's `alg` (RFC 7517 §4.4): when present, the only algorithm this key may sign with.
    let jwkAlgorithm: String?

    /// Takes ownership of an `EVP_PKEY`.
    init(takingOwnership key: OpaquePointer, jwkKeyID: String? = nil, jwkAlgorithm: String? = nil) {
        self.key = key
        self.jwkKeyID = jwkKeyID
        self.jwkAlgorithm = jwkAlgorithm
    }

    /// Parses `text`: a JSON object is a JWK, anything else PEM. `passphrase` decrypts an encrypted PEM.
    convenience init(text: String, passphrase: String? = nil) throws(SigningError) {
        let trimmed = text.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        if trimmed.hasPrefix("{") {
            try self.init(jwk: String(trimmed))
        } else {
            try self.init(pem: text, passphrase: passphrase)
        }
    }

    /// Parses a PEM private key from memory. An encrypted key needs `passphrase`; without one the
    /// read fails at once (libcrypto's default would prompt on the terminal).
    convenience init(pem: String, passphrase: String? = nil) throws(SigningError) {
        guard pem.contains("-----BEGIN ") else {
            throw SigningError("the private key is neither PEM (-----BEGIN ...) nor a JWK (JSON object)")
        }
        let encrypted = pem.contains("ENCRYPTED")
        if encrypted && passphrase == nil {
            throw SigningError("the private key is encrypted; set private_key_passphrase")
        }
        ERR_clear_error()
        let bytes = Array(pem.utf8)
        let parsed: OpaquePointer? = bytes.withUnsafeBytes { raw in
            guard let bio = BIO_new_mem_buf(raw.baseAddress, Int32(raw.count)) else { return nil }
            defer { BIO_free(bio) }
            guard let passphrase else { return PEM_read_bio_PrivateKey(bio, nil, readPassphrase, nil) }
            return passphrase.withCString {
                PEM_read_bio_PrivateKey(bio, nil, readPassphrase, UnsafeMutableRawPointer(mutating: $0))
            }
        }
        guard let parsed else {
            let reason = Self.drainErrors()
            if encrypted {
                throw SigningError("cannot decrypt the private key (wrong private_key_passphrase?): " + reason)
            }
            throw SigningError("cannot read the private key PEM: " + reason)
        }
        self.init(takingOwnership: parsed)
    }

    deinit { EVP_PKEY_free(key) }

    /// Whether this key can sign with `algorithm`; nil when it can, else why not (RFC 7518 §3.3: RSA keys
    /// of at least 2048 bits; §3.4: the curve fixed by the algorithm; RFC 8037 §3.1: Ed25519 for EdDSA; a JWK's
    /// own `alg`, when it has one).
    func problem(with algorithm: JWTSigningAlgorithm) -> String? {
        if let jwkAlgorithm, jwkAlgorithm != algorithm.rawValue {
            return "the JWK is for \(jwkAlgorithm) (its 'alg'), not \(algorithm.rawValue)"
        }
        let type = EVP_PKEY_get_base_id(key)
        switch algorithm {
        case .rs256, .rs384, .rs512, .ps256, .ps384, .ps512:
            guard type == EVP_PKEY_RSA else { return "\(algorithm.rawValue) needs an RSA private key, not \(typeName)" }
            let bits = EVP_PKEY_get_bits(key)
            return bits < 2048
                ? "\(algorithm.rawValue) needs an RSA key of at least 2048 bits (RFC 7518 §3.3), not \(bits)" : nil
        case .es256, .es384, .es512:
            let curve = Self.curve(for: algorithm)
            guard type == EVP_PKEY_EC, curveName == curve.name else {
                return "\(algorithm.rawValue) needs an EC private key on \(curve.jwk), not \(typeName)"
            }
            return nil
        case .edDSA:
            return type == latchkey_EVP_PKEY_ED25519() ? nil : "EdDSA needs an Ed25519 private key, not \(typeName)"
        case .hs256, .hs384, .hs512:
            return
                "\(algorithm.rawValue) is signed with the client secret (client_auth: client_secret_jwt), not a private key"
        }
    }

    /// "RSA 2048-bit", "EC P-256", "Ed25519", ... for messages.
    var typeName: String {
        switch EVP_PKEY_get_base_id(key) {
        case EVP_PKEY_RSA: "an RSA \(EVP_PKEY_get_bits(key))-bit key"
        case EVP_PKEY_EC: "an EC key on \(curveName ?? "an unknown curve")"
        case latchkey_EVP_PKEY_ED25519(): "an Ed25519 key"
        default: "a key of type \(String(cString: OBJ_nid2sn(EVP_PKEY_get_base_id(key))))"
        }
    }

    /// The EC group's OpenSSL name (`prime256v1`, `secp384r1`, `secp521r1`), nil for other key types.
    private var curveName: String? {
        var buffer = [CChar](repeating: 0, count: 64)
        var length = 0
        guard EVP_PKEY_get_base_id(key) == EVP_PKEY_EC,
            EVP_PKEY_get_group_name(key, &buffer, buffer.count, &length) == 1
        else { return nil }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The curve of ES256/384/512: OpenSSL's name, the JWK `crv`, and the width of R and S in bytes.
    static func curve(for algorithm: JWTSigningAlgorithm) -> (name: String, jwk: String, width: Int) {
        switch algorithm {
        case .es384: ("secp384r1", "P-384", 48)
        case .es512: ("secp521r1", "P-521", 66)
        default: ("prime256v1", "P-256", 32)
        }
    }

    /// Signs `message` per RFC 7518 §3.3 (RSASSA-PKCS1-v1_5), §3.5 (RSASSA-PSS, MGF1 with the same hash,
    /// salt as long as the hash), §3.4 (ECDSA, raw R||S) or RFC 8037 §3.1 (Ed25519, no pre-hash).
    func sign(_ message: [UInt8], algorithm: JWTSigningAlgorithm) throws(SigningError) -> [UInt8] {
        if let problem = problem(with: algorithm) { throw SigningError(problem) }
        ERR_clear_error()
        guard let context = EVP_MD_CTX_new() else { throw SigningError("EVP_MD_CTX_new failed") }
        defer { EVP_MD_CTX_free(context) }
        var keyContext: OpaquePointer?
        let digest = Self.digest(for: algorithm)
        guard EVP_DigestSignInit(context, &keyContext, digest, nil, key) == 1 else {
            throw SigningError("EVP_DigestSignInit: " + Self.drainErrors())
        }
        if let saltLength = algorithm.hashLength, [.ps256, .ps384, .ps512].contains(algorithm) {
            guard EVP_PKEY_CTX_set_rsa_padding(keyContext, RSA_PKCS1_PSS_PADDING) == 1,
                EVP_PKEY_CTX_set_rsa_mgf1_md(keyContext, digest) == 1,
                EVP_PKEY_CTX_set_rsa_pss_saltlen(keyContext, Int32(saltLength)) == 1
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
        switch algorithm {
        case .es256, .es384, .es512:
            return try Self.rawECDSASignature(fromDER: signature, width: Self.curve(for: algorithm).width)
        default:
            return signature
        }
    }

    /// SHA-256/384/512 for the algorithm; nil for EdDSA (Ed25519 hashes internally, RFC 8032 §5.1.6).
    static func digest(for algorithm: JWTSigningAlgorithm) -> OpaquePointer? {
        switch algorithm.hashLength {
        case 48: EVP_sha384()
        case 64: EVP_sha512()
        case 32: EVP_sha256()
        default: nil
        }
    }

    /// DER `ECDSA-Sig-Value` (SEQUENCE of two INTEGERs) → R||S, each left-padded to `width` bytes
    /// (32, 48 or 66: RFC 7518 §3.4).
    static func rawECDSASignature(fromDER der: [UInt8], width: Int = 32) throws(SigningError) -> [UInt8] {
        let sig: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            var pointer: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &pointer, buffer.count)
        }
        guard let sig else { throw SigningError("malformed ECDSA signature") }
        defer { ECDSA_SIG_free(sig) }
        var r: OpaquePointer?
        var s: OpaquePointer?
        ECDSA_SIG_get0(sig, &r, &s)
        var raw = [UInt8](repeating: 0, count: 2 * width)
        let ok = raw.withUnsafeMutableBufferPointer { out in
            BN_bn2binpad(r, out.baseAddress, Int32(width)) == width
                && BN_bn2binpad(s, out.baseAddress! + width, Int32(width)) == width
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

/// `pem_password_cb`: copies the NUL-terminated passphrase in `user` into `buffer`; with no passphrase
/// (nil) it fails, so libcrypto never falls back to prompting on the terminal.
private func readPassphrase(
    _ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ rwflag: Int32, _ user: UnsafeMutableRawPointer?
) -> Int32 {
    guard let buffer, let user else { return -1 }
    let passphrase = user.assumingMemoryBound(to: CChar.self)
    let length = strlen(passphrase)
    guard length <= Int(size) else { return -1 }
    buffer.update(from: passphrase, count: length)
    return Int32(length)
}
