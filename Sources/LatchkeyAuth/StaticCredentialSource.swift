import LatchkeyConfig

/// Credentials fixed by the config: basic, bearer, api_key and none. The header value is built once.
public final class StaticCredentialSource: CredentialSource {
    public let connectionName: String
    private let credential: InjectedCredential?

    /// Builds the header for `settings`, registering with `scrubber` any form of the secret the config
    /// does not hold as written (basic's base64). Precondition: `settings.kind` is a static kind.
    public init(settings: ConnectionSettings, scrubber: SecretScrubber) {
        connectionName = settings.name
        credential = Self.makeCredential(settings.kind, scrubber: scrubber)
    }

    /// The header a static connection kind injects; nil for `none` (and for kinds that are not static).
    public static func makeCredential(_ kind: ConnectionKind, scrubber: SecretScrubber) -> InjectedCredential? {
        switch kind {
        case .basic(let username, let password):
            // RFC 7617 §2: base64 of user-id ":" password, UTF-8.
            let encoded = Base64.encode(Array("\(username):\(password.value)".utf8))
            scrubber.register([encoded])  // an upstream may echo the header back
            return InjectedCredential(headerName: "Authorization", headerValue: SecretString("Basic " + encoded))
        case .bearer(let token):
            return InjectedCredential(headerName: "Authorization", headerValue: SecretString(AuthScheme.bearer(token.value)))
        case .apiKey(let key, let header, let scheme):
            let value: String
            switch scheme {
            case .basic: value = "Basic " + key.value
            case .bearer: value = AuthScheme.bearer(key.value)
            case .none: value = key.value
            }
            return InjectedCredential(headerName: header, headerValue: SecretString(value))
        case .none, .oauth2ClientCredentials, .oauth2AuthorizationCode:
            return nil
        }
    }

    public func currentCredential(for key: CredentialKey) -> InjectedCredential?? { .some(credential) }

    public func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    ) {
        completion(.success(credential))
    }

    public func invalidate(_ credential: InjectedCredential, for key: CredentialKey) {}
}

/// Authorization scheme prefixes, written in exactly one place.
public enum AuthScheme {
    /// `Bearer <token>` (RFC 6750 §2.1).
    public static func bearer(_ token: String) -> String { "Bearer " + token }
}
