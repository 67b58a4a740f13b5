import Dispatch
import LatchkeyConfig
import Logging

/// The credential source for `type: oauth2_authorization_code` (RFC 6749 §4.1 with PKCE, RFC 7636).
///
/// Life cycle: `needsConsent` (no refresh token) → an operator opens the URL from `authorizationURL`,
/// consents, and the admin callback calls `completeAuthorization` → `connected`: the refresh token is
/// in `state_dir` (encrypted) and access tokens are renewed with the refresh_token grant (§6) in the
/// background → `invalid_grant` on refresh (revoked, expired, or a rotated token replayed) →
/// `needsReconnect(reason)`, with no retries. `disconnect` revokes (RFC 7009) and forgets. A restart
/// loads the state file: no new consent.
///
/// Caching, single flight, renewal schedule, jitter and backoff are the `OAuthTokenManager`'s: this
/// source drives one of them (`engine`) through its `acquire` hook and always uses the connection's
/// own key (route overrides do not apply to a consented grant).
///
/// Refresh-token rotation: a new refresh token is written to disk (atomically) before the access token
/// that came with it is published, so a crash leaves the old file (whose token the server may have
/// retired: then `needsReconnect` at the next refresh) or the new one — never a missing or torn file.
///
/// Concurrency: all of this source's mutable state is confined to `engine.queue`, the manager's own
/// serial queue; state-file I/O runs there too (small files, off the request path). Completions run on
/// that queue: they must not block or call `status()`.
public final class AuthorizationCodeSource: CredentialSource, @unchecked Sendable {
    // @unchecked Sendable: `grant`, `state`, `generation`, `lastProblem` and `rejectedGrant` are touched only on
    // `engine.queue`; `sharedGrants` is set once at creation; everything else is immutable or Sendable.

    /// Where a connection stands, for `/connections`.
    public enum ConnectionState: Sendable, Equatable {
        case needsConsent
        case connected
        case needsReconnect(reason: String)

        /// `needs_consent`, `connected`, `needs_reconnect`.
        public var name: String {
            switch self {
            case .needsConsent: "needs_consent"
            case .connected: "connected"
            case .needsReconnect: "needs_reconnect"
            }
        }
    }

    public let connectionName: String
    /// A rejected access token is dropped and renewed with the refresh token.
    public var renewsOnRejection: Bool { true }
    let settings: OAuthAuthorizationCodeSettings
    let client: any TokenEndpointClient
    let store: StateFileStore
    let pendingAuthorizations: AuthorizationStateStore
    let clock: any TokenClock
    var logger: Logger
    /// Where an operator starts consent, for the `needs_consent` error detail.
    let consentHint: String
    /// Cache, single flight and renewal.
    let engine: OAuthTokenManager
    var queue: DispatchQueue { engine.queue }

    /// The refresh token and its record; nil without consent. Queue-confined.
    var grant: StoredGrant?
    /// Queue-confined.
    var state: ConnectionState = .needsConsent
    /// Bumped on every consent and disconnect, so the result of a refresh started before is not
    /// mistaken for the current grant's. Queue-confined.
    var generation: UInt64 = 0
    /// Wall-clock time of the last completed consent in this process (refresh rotations do not change it).
    var consentedAt: Double?
    /// The last consent, refresh or persistence problem, for status. Queue-confined.
    var lastProblem: String?
    /// The grant's copy in `shared_store:` (issue 15); nil without one. Set by `shareGrant(through:)`
    /// before the source is shared.
    var sharedGrants: SharedGrantStore?
    /// SHA-256 of the last refresh token the provider refused (`invalid_grant`): the shared store may
    /// still hold it, and adopting it again would send one doomed refresh per request. Queue-confined.
    var rejectedGrant: [UInt8]?

    /// Loads the connection's state file now (synchronously): a loaded refresh token means `connected`
    /// (the first access token is fetched on demand), a corrupt file `needsReconnect` with the reason
    /// (the file is left alone until the next explicit consent or disconnect).
    ///
    /// - Parameters:
    ///   - scrubber: the process's scrubber, told the encoded secrets token requests carry.
    ///   - pendingAuthorizations: the one `state` store shared by every authorization-code connection.
    ///   - consentHint: how to start consent, quoted in the `needs_consent` error (e.g. the admin URL
    ///     `http://127.0.0.1:9901/connections/crm/connect`); default names the admin endpoint.
    ///   - fetchObserver: told the outcome of every refresh (true: an access token came back), for the
    ///     `latchkey_token_fetches_total` metric, as for client credentials.
    public init(
        name: String, settings: OAuthAuthorizationCodeSettings, client: any TokenEndpointClient,
        scrubber: SecretScrubber, store: StateFileStore, pendingAuthorizations: AuthorizationStateStore,
        clock: any TokenClock = SystemClock(), logger: Logger,
        consentHint: String? = nil, random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        fetchObserver: (@Sendable (Bool) -> Void)? = nil
    ) {
        connectionName = name
        self.settings = settings
        self.client = client
        self.store = store
        self.pendingAuthorizations = pendingAuthorizations
        self.clock = clock
        self.logger = logger
        self.logger[metadataKey: LogKey.connection] = "\(name)"
        self.consentHint = consentHint ?? "GET /connections/\(name)/connect on the admin listener"
        engine = OAuthTokenManager(
            name: name, settings: settings.client, client: client, scrubber: scrubber, clock: clock, logger: logger,
            random: random, fetchObserver: fetchObserver)
        engine.isPermanentFailure = { $0.code == .needsConsent }
        engine.acquire = { [weak self] key, tokenURL, completion in
            guard let self else { return completion(.failure(CredentialError(.needsConsent, connection: name, detail: "shut down"))) }
            self.refresh(tokenURL: tokenURL, completion: completion)
        }
        switch store.load(connection: name) {
        case .missing:
            state = .needsConsent
        case .loaded(let stored):
            grant = stored
            state = .connected
            self.logger.info("Loaded refresh token from state file", metadata: [LogKey.stateFile: "\(store.path(for: name))"])
        case .corrupt(let reason):
            state = .needsReconnect(reason: "state file unusable: \(reason)")
            lastProblem = reason
            self.logger.error("State file cannot be used; reconnect to replace it", metadata: [LogKey.error: "\(reason)"])
        }
    }

    // MARK: CredentialSource

    /// The cached access token, if unexpired. Never waits.
    public func currentCredential(for key: CredentialKey) -> InjectedCredential?? {
        engine.currentCredential(for: .connectionDefault)
    }

    /// The access token (cached, or renewed with the refresh token, single flight). Fails at once with
    /// `.needsConsent` while the connection needs consent or a reconnect. `completion` runs on the queue.
    public func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    ) {
        queue.async {
            if self.state != .connected, let shared = self.sharedGrants {
                // Consent may have been given on another replica: look once (bounded by timeout_ms).
                return self.syncGrant(from: shared) {
                    guard self.state == .connected else { return completion(.failure(self.consentError())) }
                    self.engine.enqueueFetch(for: .connectionDefault, timeout: timeout, forceAttempt: false) { result in
                        completion(result.map { $0.credential })
                    }
                }
            }
            if self.state != .connected {
                return completion(.failure(self.consentError()))
            }
            self.engine.enqueueFetch(for: .connectionDefault, timeout: timeout, forceAttempt: false) { result in
                completion(result.map { $0.credential })
            }
        }
    }

    /// Forgets `credential` after an upstream 401; the next fetch renews with the refresh token.
    public func invalidate(_ credential: InjectedCredential, for key: CredentialKey) {
        engine.invalidate(credential, for: .connectionDefault)
    }

    /// The error for requests while no usable grant exists (a 502 with this detail).
    func consentError() -> CredentialError {
        switch state {
        case .needsReconnect(let reason):
            CredentialError(.needsConsent, connection: connectionName, detail: "connection needs to be reconnected (\(reason)); start consent with \(consentHint)")
        default:
            CredentialError(.needsConsent, connection: connectionName, detail: "connection needs consent; start it with \(consentHint)")
        }
    }

    /// Test hook: returns once everything enqueued so far on the queue has run.
    func waitUntilIdle() { queue.sync {} }
}

extension LogKey {
    static let stateFile = "latchkey.oauth.state_file"
}
