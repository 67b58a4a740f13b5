import LatchkeyHTTP

/// `type: oauth2_authorization_code` (RFC 6749 §4.1 with PKCE, RFC 7636): a person grants consent once
/// through the admin listener; Latchkey keeps the refresh token (encrypted, in `state_dir`) and renews
/// access tokens with it (§6).
///
/// The token-endpoint half reuses `OAuthClientSettings` (token_url, discovery_url, client_id,
/// client_secret, client_auth, private_key, key_id, signing_alg, scopes, token_params, token_headers, tls,
/// allow_plaintext_credentials, refresh_before_ms, timeout_ms). `client.clientAuth == .none` is a public
/// client: no secret, PKCE alone, `client_id` in the form body.
public struct OAuthAuthorizationCodeSettings: Sendable {
    /// The token endpoint, client authentication and the rest shared with client credentials.
    public var client: OAuthClientSettings
    /// `authorize_url:` the authorization endpoint (§3.1), as written (may carry a query); nil when it
    /// comes from discovery.
    public var authorizeURL: EndpointURL?
    /// `refresh_url:` where refresh_token grants go; nil = the token endpoint.
    public var refreshURL: EndpointURL?
    /// `revocation_url:` RFC 7009 endpoint; nil = from discovery when there, else no revocation.
    public var revocationURL: EndpointURL?
    /// `authorize_params:` extra query parameters on the authorization request, in file order.
    public var authorizeParams: [(String, String)]
    /// `redirect_uri:` nil = the admin listener's `/oauth/callback`.
    public var redirectURI: String?

    public init(
        client: OAuthClientSettings, authorizeURL: EndpointURL? = nil, refreshURL: EndpointURL? = nil,
        revocationURL: EndpointURL? = nil, authorizeParams: [(String, String)] = [], redirectURI: String? = nil
    ) {
        self.client = client
        self.authorizeURL = authorizeURL
        self.refreshURL = refreshURL
        self.revocationURL = revocationURL
        self.authorizeParams = authorizeParams
        self.redirectURI = redirectURI
    }
}
