/// A source that always fails with one error: for a connection that cannot work in this run (e.g. an
/// authorization-code connection whose state store could not be opened). Requests on its routes get
/// the error (502 with its detail) instead of going out without a credential.
public final class UnavailableCredentialSource: CredentialSource {
    public let connectionName: String
    private let error: CredentialError

    public init(error: CredentialError) {
        connectionName = error.connection
        self.error = error
    }

    /// Always nil: a fetch is "needed", and fails.
    public func currentCredential(for key: CredentialKey) -> InjectedCredential?? { nil }

    public func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    ) {
        completion(.failure(error))
    }

    public func invalidate(_ credential: InjectedCredential, for key: CredentialKey) {}

    /// Never healthy: every request on its routes fails with `error`.
    public var sourceStatus: CredentialSourceStatus { .unavailable(reason: error.detail) }
}
