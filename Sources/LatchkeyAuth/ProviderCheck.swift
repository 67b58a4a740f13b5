import LatchkeyHTTP

/// `latchkey check`'s test of a connection against its provider: one token request now, reported. A source
/// offers it through `CredentialSource.providerCheck` when it can fetch without a person's help.
public protocol ProviderCheck: AnyObject, Sendable {
    /// Fetches a token for the connection's own settings once (bypassing cache and backoff) and reports
    /// success or the provider's error. `timeout` nil: the source's own default. `completion` runs once,
    /// on any queue.
    func check(timeout: Duration?, completion: @escaping @Sendable (Result<OAuthCheckResult, CredentialError>) -> Void)

    /// What discovery found (endpoints, supported methods and scopes), for the check's report; nil when the
    /// connection does not use discovery or it has not run. Call from any queue but the source's own.
    func discoveryReport() -> Discovery.Metadata?
}
