import Foundation
import LatchkeyConfig

/// The authorization grant of RFC 7523 §2.1 (`type: oauth2_jwt_bearer`): a JWT the proxy signs with the
/// connection's key, carrying `iss`, `sub`, `aud` (§3 items 1–3), `iat`, `exp` (§3 item 4, `lifetime`
/// after `iat`), a random `jti` (§3 item 7), an optional space-separated `scope` (Google's service-account
/// flow) and the configured extra claims; `kid` in the header from `key_id` or the JWK's own `kid`.
public struct JWTBearerAssertion: Sendable {
    /// How long an assertion is valid. Google accepts up to an hour, Salesforce three minutes; the
    /// shortest common value keeps a leaked assertion useless soonest.
    public static let lifetime: Int = 180

    public var settings: JWTBearerSettings
    /// The `aud` claim: the configured audience, else the token endpoint URL.
    public var audience: String
    /// The `scope` claim (space-joined) when non-empty.
    public var scopes: [String]
    public var keyID: String?
    public var algorithm: JWTSigningAlgorithm

    public init(settings: JWTBearerSettings, audience: String, scopes: [String], keyID: String?, algorithm: JWTSigningAlgorithm) {
        self.settings = settings
        self.audience = audience
        self.scopes = scopes
        self.keyID = keyID
        self.algorithm = algorithm
    }

    /// The claims set, without `jti` (added when signing). `issuedAt` is Unix seconds.
    public func claims(issuedAt: Double) -> [String: Any] {
        let iat = Int(issuedAt.rounded(.down))
        var claims: [String: Any] = [:]
        for claim in settings.claims { claims[claim.name] = claim.value }
        claims["iss"] = settings.issuer
        claims["sub"] = settings.subject
        claims["aud"] = audience
        claims["iat"] = iat
        claims["exp"] = iat + Self.lifetime
        if !scopes.isEmpty { claims["scope"] = scopes.joined(separator: " ") }
        return claims
    }

    /// Builds and signs the compact JWS with `privateKey` (any form `SigningKey(text:passphrase:)` reads).
    /// Throws a message safe to show (no key material).
    public func signed(privateKeyPEM: String, passphrase: String? = nil, issuedAt: Double, jti: String? = nil) throws -> String {
        let key = try SigningKey(text: privateKeyPEM, passphrase: passphrase)
        var header: [String: Any] = ["alg": algorithm.rawValue, "typ": "JWT"]
        if let kid = keyID ?? key.jwkKeyID { header["kid"] = kid }  // a private JWK's kid unless key_id is set
        var claims = claims(issuedAt: issuedAt)
        claims["jti"] = try jti ?? JWTAssertion.randomJTI()
        let signingInput = try Self.segment(header) + "." + Self.segment(claims)
        let signature = try key.sign(Array(signingInput.utf8), algorithm: algorithm)
        return signingInput + "." + Base64.encodeURLSafe(signature)
    }

    private static func segment(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
        return Base64.encodeURLSafe(Array(data))
    }
}
