/// The operations of a source whose grant a person gives (RFC 6749 §4.1 with PKCE, RFC 7636): what the
/// admin listener's consent endpoints call. A source offers them through `CredentialSource.consent`.
///
/// Every completion runs exactly once, on the source's own queue: it must not block or ask the source
/// for its status.
public protocol ConsentFlow: AnyObject, Sendable {
    /// Starts a consent: the provider URL to send the person's browser to, with a fresh `state` recorded
    /// for this connection. `defaultRedirectURI` is the admin listener's callback, used unless the
    /// connection sets its own `redirect_uri`.
    func authorizationURL(
        defaultRedirectURI: String,
        completion: @escaping @Sendable (Result<AuthorizationRedirect, CredentialError>) -> Void)

    /// The provider redirected back with `code` for `state`: exchanges it and keeps the grant.
    func completeAuthorization(
        code: String, state: String,
        completion: @escaping @Sendable (Result<AuthorizationOutcome, CredentialError>) -> Void)

    /// The provider redirected back with `error` (RFC 6749 §4.1.2.1): consumes `state`, returns what to show.
    func rejectAuthorization(state: String, error: String, errorDescription: String?) -> CredentialError

    /// Revokes (RFC 7009) and forgets the grant; the connection needs consent again afterwards.
    func disconnect(completion: @escaping @Sendable (Result<DisconnectOutcome, CredentialError>) -> Void)
}
