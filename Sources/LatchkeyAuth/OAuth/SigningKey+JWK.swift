import COpenSSL
import Foundation

extension SigningKey {
    /// Imports a private JWK (RFC 7517 §4, RFC 7518 §6.2.2 and §6.3.2, RFC 8037 §2): `kty` RSA (`n`, `e`,
    /// `d`, and the CRT members `p`, `q`, `dp`, `dq`, `qi` when present), EC (`crv` P-256/384/521, `x`,
    /// `y`, `d`) or OKP (`crv` Ed25519, `d`). A public JWK (no `d`) is refused; an RSA or EC key whose
    /// public and private halves disagree is refused. A `kid` member is kept (`jwkKeyID`), an `alg` member binds the key to that
    /// algorithm, a `use` other than `sig` is refused. Messages name
    /// members, never their values.
    convenience init(jwk text: String) throws(SigningError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)),
            let jwk = object as? [String: Any]
        else { throw SigningError("the private key looks like a JWK but is not a JSON object") }
        guard let kty = jwk["kty"] as? String else { throw SigningError("the JWK has no 'kty'") }
        func member(_ name: String) throws(SigningError) -> [UInt8] {
            guard let text = jwk[name] as? String, let bytes = Base64.decode(text), !bytes.isEmpty else {
                throw SigningError("the \(kty) JWK has no valid '\(name)' member (base64url)")
            }
            return bytes
        }
        if let use = jwk["use"] as? String, use != "sig" {
            throw SigningError("the JWK is for '\(use)', not signing ('use' must be 'sig' when present, RFC 7517 §4.2)")
        }
        guard jwk["d"] != nil else { throw SigningError("the JWK is a public key (no 'd'); a private JWK is needed") }
        ERR_clear_error()
        switch kty {
        case "RSA":
            var numbers: [(String, [UInt8])] = [
                (OSSL_PKEY_PARAM_RSA_N, try member("n")), (OSSL_PKEY_PARAM_RSA_E, try member("e")),
                (OSSL_PKEY_PARAM_RSA_D, try member("d")),
            ]
            if jwk["p"] != nil {
                numbers += [
                    ("rsa-factor1", try member("p")), ("rsa-factor2", try member("q")),
                    ("rsa-exponent1", try member("dp")), ("rsa-exponent2", try member("dq")),
                    ("rsa-coefficient1", try member("qi")),
                ]
            }
            try self.init(
                takingOwnership: Self.fromData(type: "RSA", numbers: numbers, checkPair: jwk["p"] != nil),
                jwkKeyID: jwk["kid"] as? String, jwkAlgorithm: jwk["alg"] as? String)
        case "EC":
            let crv = jwk["crv"] as? String ?? ""
            let widths = ["P-256": 32, "P-384": 48, "P-521": 66]
            guard let width = widths[crv] else {
                throw SigningError("the EC JWK's 'crv' must be P-256, P-384 or P-521")
            }
            let x = try member("x")
            let y = try member("y")
            guard x.count == width, y.count == width else {
                throw SigningError("the EC JWK's 'x' and 'y' must be \(width) bytes for \(crv) (RFC 7518 §6.2.1.2)")
            }
            let key = try Self.fromData(
                type: "EC", numbers: [(OSSL_PKEY_PARAM_PRIV_KEY, try member("d"))], group: crv,
                publicPoint: [0x04] + x + y, checkPair: true)
            self.init(takingOwnership: key, jwkKeyID: jwk["kid"] as? String, jwkAlgorithm: jwk["alg"] as? String)
        case "OKP":
            guard jwk["crv"] as? String == "Ed25519" else { throw SigningError("the OKP JWK's 'crv' must be Ed25519") }
            let d = try member("d")
            guard d.count == 32 else { throw SigningError("the Ed25519 JWK's 'd' must be 32 bytes (RFC 8037 §2)") }
            guard let key = EVP_PKEY_new_raw_private_key(latchkey_EVP_PKEY_ED25519(), nil, d, d.count) else {
                throw SigningError("cannot import the Ed25519 JWK: " + Self.drainErrors())
            }
            self.init(takingOwnership: key, jwkKeyID: jwk["kid"] as? String, jwkAlgorithm: jwk["alg"] as? String)
        default:
            throw SigningError("the JWK's 'kty' must be RSA, EC or OKP")
        }
    }

    /// An `EVP_PKEY` of `type` from big-endian numbers (and, for EC, a group and public point) through
    /// `EVP_PKEY_fromdata`; with `checkPair`, `EVP_PKEY_pairwise_check` must pass.
    private static func fromData(
        type: String, numbers: [(String, [UInt8])], group: String? = nil, publicPoint: [UInt8]? = nil,
        checkPair: Bool
    ) throws(SigningError) -> OpaquePointer {
        // The builder keeps pointers, not copies: names, the group string and the point bytes must outlive
        // `OSSL_PARAM_BLD_to_param`, and the names the parameter array (which points at them) too.
        var owned: [UnsafeMutableRawPointer] = []
        defer { owned.forEach { free($0) } }
        func keep(_ text: String) -> UnsafeMutablePointer<CChar> {
            let copy = strdup(text)!
            owned.append(UnsafeMutableRawPointer(copy))
            return copy
        }
        guard let builder = OSSL_PARAM_BLD_new() else { throw SigningError("OSSL_PARAM_BLD_new failed") }
        defer { OSSL_PARAM_BLD_free(builder) }
        var bignums: [OpaquePointer] = []
        defer { bignums.forEach { BN_clear_free($0) } }
        var ok = true
        for (name, bytes) in numbers {
            guard let bn = BN_bin2bn(bytes, Int32(bytes.count), nil) else { throw SigningError("BN_bin2bn failed") }
            bignums.append(bn)
            ok = ok && OSSL_PARAM_BLD_push_BN(builder, keep(name), bn) == 1
        }
        if let group {
            ok = ok && OSSL_PARAM_BLD_push_utf8_string(builder, keep(OSSL_PKEY_PARAM_GROUP_NAME), keep(group), 0) == 1
        }
        if let publicPoint {
            let buffer = malloc(publicPoint.count)!
            owned.append(buffer)
            buffer.copyMemory(from: publicPoint, byteCount: publicPoint.count)
            ok =
                ok
                && OSSL_PARAM_BLD_push_octet_string(builder, keep(OSSL_PKEY_PARAM_PUB_KEY), buffer, publicPoint.count)
                    == 1
        }
        guard ok, let params = OSSL_PARAM_BLD_to_param(builder) else {
            throw SigningError("cannot import the \(type) JWK: " + drainErrors())
        }
        defer { OSSL_PARAM_free(params) }
        guard let context = EVP_PKEY_CTX_new_from_name(nil, type, nil) else {
            throw SigningError("EVP_PKEY_CTX_new_from_name failed")
        }
        defer { EVP_PKEY_CTX_free(context) }
        var key: OpaquePointer?
        guard EVP_PKEY_fromdata_init(context) == 1,
            EVP_PKEY_fromdata(context, &key, latchkey_EVP_PKEY_KEYPAIR(), params) == 1, let key
        else { throw SigningError("cannot import the \(type) JWK: " + drainErrors()) }
        if checkPair {
            let check = EVP_PKEY_CTX_new_from_pkey(nil, key, nil)
            defer { EVP_PKEY_CTX_free(check) }
            guard EVP_PKEY_pairwise_check(check) == 1 else {
                EVP_PKEY_free(key)
                ERR_clear_error()
                throw SigningError("the \(type) JWK's public and private members do not belong together")
            }
        }
        return key
    }
}
