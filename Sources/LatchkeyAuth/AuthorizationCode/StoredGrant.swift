/// What a state file holds for one connection: the refresh token and where it came from. The
/// refresh token is a secret: `description` is redacted. Access tokens are never stored.
public struct StoredGrant: Sendable, Equatable, Codable, CustomStringConvertible {
    public var refreshToken: String
    /// The scope the server granted, when it said.
    public var scope: String?
    /// Unix seconds when this refresh token was received.
    public var obtainedAt: Double
    /// The token endpoint that issued it (for status and to notice a changed configuration).
    public var tokenURL: String
    public var clientID: String

    public init(refreshToken: String, scope: String?, obtainedAt: Double, tokenURL: String, clientID: String) {
        self.refreshToken = refreshToken
        self.scope = scope
        self.obtainedAt = obtainedAt
        self.tokenURL = tokenURL
        self.clientID = clientID
    }

    enum CodingKeys: String, CodingKey {
        case refreshToken = "refresh_token"
        case scope
        case obtainedAt = "obtained_at"
        case tokenURL = "token_url"
        case clientID = "client_id"
    }

    public var description: String {
        "StoredGrant(<redacted>, scope: \(scope ?? "-"), obtainedAt: \(obtainedAt), tokenURL: \(tokenURL))"
    }
}
