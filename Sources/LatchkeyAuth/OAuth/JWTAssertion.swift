import COpenSSL
import Foundation
import LatchkeyConfig

/// A client assertion for `private_key_jwt` and `client_secret_jwt` (RFC 7523 §2.2 and §3, OIDC Core §9):
/// a JWT with `iss` = `sub` = client id, `aud` = the token endpoint URL (or `assertion_audience`), a
/// random `jti`, `iat` and `exp` (`lifetime` after `iat`, at most 5 minutes), `kid` in the header when a
/// key id is set (or the JWK has one), `x5t#S256` / `x5t` when a certificate is given.
public struct JWTAssertion: Sendable {
    /// How long an assertion is valid; RFC 7523 leaves it to the server, and servers commonly refuse
    /// more than 5 minutes.
    public static let lifetime: Int = 180

    public var clientID: String
    public var audience: String
    public var keyID: String?
    public var algorithm: JWTSigningAlgorithm

    public init(clientID: String, audience: String, keyID: String?, algorithm: JWTSigningAlgorithm) {
        self.clientID = clientID
        self.audience = audience
        self.keyID = keyID
        self.algorithm = algorithm
    }

    /// Builds and signs the compact JWS with a PEM or JWK private key (see `signed(with:issuedAt:jti:)`).
    public func signed(privateKeyPEM: String, issuedAt: Double, jti: String? = nil) throws -> String {
        try signed(
            with: .privateKey(text: privateKeyPEM, passphrase: nil, certificate: nil, thumbprint: .sha256),
            issuedAt: issuedAt, jti: jti)
    }

    /// Builds and signs the compact JWS (RFC 7515 §7.1). `issuedAt` is Unix seconds; `jti` defaults to 16
    /// random bytes. With a certificate the header carries its thumbprint(s) (RFC 7515 §4.1.7–8).
    /// Throws a message safe to show (no key material, no secret).
    public func signed(with signer: AssertionSigner, issuedAt: Double, jti: String? = nil) throws -> String {
        let (members, key) = try signer.load()
        var header: [String: Any] = ["alg": algorithm.rawValue, "typ": "JWT"]
        if let kid = keyID ?? key?.jwkKeyID { header["kid"] = kid }
        for (name, value) in members { header[name] = value }
        let iat = Int(issuedAt.rounded(.down))
        let claims: [String: Any] = [
            "iss": clientID, "sub": clientID, "aud": audience, "jti": try jti ?? Self.randomJTI(),
            "iat": iat, "exp": iat + Self.lifetime,
        ]
        let signingInput = try Self.segment(header) + "." + Self.segment(claims)
        let signature: [UInt8]
        switch (signer, key) {
        case (.secret(let secret), _):
            signature = try AssertionSigner.hmac(Array(signingInput.utf8), secret: secret, algorithm: algorithm)
        case (.privateKey, let key?):
            signature = try key.sign(Array(signingInput.utf8), algorithm: algorithm)
        case (.privateKey, nil):
            throw SigningError("no private key")  // `load()` returns one for `.privateKey`
        }
        return signingInput + "." + Base64.encodeURLSafe(signature)
    }

    private static func segment(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Base64.encodeURLSafe(Array(data))
    }

    /// 128 random bits from libcrypto's CSPRNG, base64url.
    static func randomJTI() throws -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        guard RAND_bytes(&bytes, 16) == 1 else { throw SigningError("RAND_bytes failed") }
        return Base64.encodeURLSafe(bytes)
    }
}
