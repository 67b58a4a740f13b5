/// `type: oauth2_jwt_bearer` (RFC 7523 §2.1): what goes into the assertion the proxy signs with the
/// connection's `private_key` and trades for an access token. Renewed like client credentials.
public struct JWTBearerSettings: Sendable, Equatable {
    /// `issuer:` the `iss` claim; default the connection's `client_id`.
    public var issuer: String
    /// `subject:` the `sub` claim; default `issuer`.
    public var subject: String
    /// `audience:` the `aud` claim; nil = the token endpoint URL as used.
    public var audience: String?
    /// `claims:` extra string claims, in file order (they cannot replace iss, sub, aud, iat, exp, jti).
    public var claims: [Claim]
    /// True for `service_account_file` (Google's shape): `scopes` go into the assertion's `scope` claim
    /// only. Otherwise they are sent as the `scope` form parameter (RFC 7523 §2.1, RFC 6749 §3.3).
    public var scopesInAssertion: Bool
    /// `service_account_file:` the JSON key file the key and identity were read from, if any.
    public var serviceAccountFile: String?

    /// One extra claim.
    public struct Claim: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Claims the proxy sets itself; `claims:` may not name them.
    public static let reservedClaims: Set<String> = ["iss", "sub", "aud", "iat", "exp", "jti", "nbf"]

    public init(
        issuer: String, subject: String? = nil, audience: String? = nil, claims: [Claim] = [],
        scopesInAssertion: Bool = false, serviceAccountFile: String? = nil
    ) {
        self.issuer = issuer
        self.subject = subject ?? issuer
        self.audience = audience
        self.claims = claims
        self.scopesInAssertion = scopesInAssertion
        self.serviceAccountFile = serviceAccountFile
    }
}
