/// What a credential source holds right now, for the admin API (`/connections`, `/readyz`), the
/// `latchkey_token_expiry_seconds` gauge and warm-up — asked of any source through
/// `CredentialSource.sourceStatus`, so that no caller needs to know the source's class. Holds no token.
public enum CredentialSourceStatus: Sendable {
    /// Nothing to report: fixed credentials (basic, bearer, api_key, none).
    case fixed
    /// A source that only fails (`UnavailableCredentialSource`), with the reason every request gets.
    case unavailable(reason: String)
    /// A token manager (client credentials, JWT bearer): the connection's own key
    /// (`CredentialKey.connectionDefault`); per-route keys are not summarised here.
    case token(OAuthKeyStatus)
    /// An authorization-code connection: the grant a person gave, and its access token.
    case authorizationCode(AuthorizationCodeStatus)

    /// Unix seconds at which the connection's own access token expires; nil without a token, without a
    /// known expiry, or for fixed credentials.
    public var accessTokenExpiresAt: Double? {
        switch self {
        case .fixed, .unavailable: nil
        case .token(let status): status.expiresAt
        case .authorizationCode(let status): status.accessTokenExpiresAt
        }
    }
}
