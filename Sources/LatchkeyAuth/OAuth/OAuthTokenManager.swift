import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging
import Synchronization

/// The credential source for `type: oauth2_client_credentials`: fetches tokens (RFC 6749 §4.4), caches
/// them per `CredentialKey`, renews them in the background before expiry, and fetches each key at most
/// once at a time (single flight).
///
/// Lifecycle (issue 10 §2): a request that finds no usable token waits for the fetch in flight for up
/// to `token_wait_ms` (never longer than the caller's own timeout); transient failures are retried
/// meanwhile with backoff and jitter (`Backoff.coldCache`, never sooner than a `Retry-After`), and only
/// when the wait is over does the request get the last error. Permanent failures (`TokenFailureKind`)
/// fail every waiter at once and are retried in the background on `Backoff.refused`. A token is served
/// until `expirySkew` before its expiry, also while the endpoint is down. At most
/// `maxConcurrentRequests` token requests per connection are in flight; further keys queue.
///
/// Concurrency: every piece of mutable state (`states`, discovery results, timers) belongs to one
/// serial queue, `queue`; all timers fire on it and all client callbacks hop onto it. The one exception
/// is `published`, a `Mutex`-protected copy of the usable tokens, so that `currentCredential` — called
/// for every proxied request, from every connection queue — answers without a queue hop; the queue is
/// its only writer. Completions run on `queue`: they must not block or call `status()`.
public final class OAuthTokenManager: CredentialSource, @unchecked Sendable {
    // @unchecked Sendable: `states`, `discovered` and `discoveryWaiters` are touched only on `queue`;
    // `published` is a Mutex; everything else is immutable (`acquire` and `sharedExchange` once set at creation).

    public let connectionName: String
    /// Told the outcome of every token request (true: a token came back), e.g. for metrics. Set at creation.
    public let fetchObserver: (@Sendable (Bool) -> Void)?
    /// A rejected token is dropped and a new one fetched (RFC 6750 §3.1 `invalid_token`).
    public var renewsOnRejection: Bool { true }
    let settings: OAuthClientSettings
    let client: any TokenEndpointClient
    let clock: any TokenClock
    var logger: Logger
    let random: @Sendable () -> Double
    let builder: TokenRequestBuilder
    /// The serial queue that owns all mutable state.
    let queue: DispatchQueue
    private let queueKey = DispatchSpecificKey<Bool>()

    /// Per-key state. Queue-confined.
    var states: [CredentialKey: KeyState] = [:]
    /// The discovered metadata, once found. Queue-confined.
    var discovered: Discovery.Metadata?
    /// Attempts waiting for discovery in flight; nil when none is running. Queue-confined.
    var discoveryWaiters: [@Sendable (Result<Discovery.Metadata, CredentialError>) -> Void]?
    /// How an attempt obtains a token once the token endpoint is known; nil = the client-credentials
    /// grant. Another grant's source (authorization code: the refresh_token grant) sets it right after
    /// init, before the manager is shared. Called on `queue`; its completion may run on any queue.
    var acquire: (@Sendable (_ key: CredentialKey, _ tokenURL: EndpointURL, _ completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) -> Void)?
    /// Failures that no retry can cure (e.g. needs consent): no background retry is scheduled. Set
    /// like `acquire`.
    var isPermanentFailure: (@Sendable (CredentialError) -> Bool)?
    /// The tokens `currentCredential` may hand out, with their expiry. Written only on `queue`.
    let published = Mutex(PublishedTokens())
    var nextWaiterID: UInt64 = 0
    /// Where tokens are shared with other replicas (`shareTokens(through:)`); set before the manager is shared.
    var sharedExchange: SharedTokenExchange?
    /// Token requests launched and not yet finished. Queue-confined.
    var activeAttempts = 0
    /// Keys whose attempt waits for a free slot, oldest first. Queue-confined.
    var queuedAttempts: [CredentialKey] = []

    /// At most this many token requests per connection at once: a herd of cold keys (per-route scopes
    /// or audiences) on one connection queues behind them instead of opening one request each.
    public static let maxConcurrentRequests = 4
    /// A token is not injected in its last 5 s (see `expirySkew(lifetime:)`).
    public static let expirySkew = Duration.seconds(5)
    /// The longest `Retry-After` honoured; a longer one is cut to this (5 min, the slow retry's cap).
    public static let maximumRetryAfter = Duration.seconds(300)

    /// - Parameters:
    ///   - name: the connection's name (for errors and logs).
    ///   - settings: the connection's OAuth settings; `tokenURL` or `discoveryURL` must be set.
    ///   - client: how token and discovery requests reach the network.
    ///   - scrubber: the process's scrubber, told the encoded secrets token requests carry.
    ///   - clock: monotonic + wall time and timers; tests pass a manual clock.
    ///   - random: uniform in `0..<1`, for jitter; tests pass a constant.
    public init(
        name: String, settings: OAuthClientSettings, client: any TokenEndpointClient, scrubber: SecretScrubber,
        clock: any TokenClock = SystemClock(), logger: Logger,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        fetchObserver: (@Sendable (Bool) -> Void)? = nil
    ) {
        connectionName = name
        self.fetchObserver = fetchObserver
        self.settings = settings
        self.client = client
        self.clock = clock
        self.logger = logger
        self.logger[metadataKey: LogKey.connection] = "\(name)"
        self.random = random
        builder = TokenRequestBuilder(connectionName: name, settings: settings, scrubber: scrubber)
        queue = DispatchQueue(label: "latchkey.oauth.\(name)")
        queue.setSpecific(key: queueKey, value: true)
    }

    deinit {
        for state in states.values { state.timer?.cancel() }
    }

    /// A cached token that is unexpired now, or nil (a fetch is needed). Never waits, never blocks on
    /// a renewal in flight: the still-valid token is returned meanwhile.
    public func currentCredential(for key: CredentialKey) -> InjectedCredential?? {
        let now = clock.now()
        guard let entry = published.withLock({ $0[key] }), entry.isUsable(at: now) else { return nil }
        return .some(entry.credential)
    }

    /// A token for `key`: the cached one, or the result of the single token request in flight for the
    /// key (started if none is). Waits at most `min(timeout, token_wait_ms)` through transient failures,
    /// then fails with the last error (or `.timeout` when no attempt has finished); fails at once while
    /// the last failure was permanent. `completion` runs once, on the manager's queue.
    public func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    ) {
        queue.async {
            self.enqueueFetch(for: key, timeout: timeout, forceAttempt: false) { result in
                completion(result.map { $0.credential })
            }
        }
    }

    /// Forgets `credential` if it is still the cached token for `key` (an upstream answered 401).
    /// Takes effect at once for `currentCredential`; the next fetch requests a new token.
    public func invalidate(_ credential: InjectedCredential, for key: CredentialKey) {
        let removed = published.withLock { tokens -> Bool in
            guard tokens[key]?.credential == credential else { return false }
            tokens[key] = nil
            return true
        }
        sharedExchange?.reject(credential, for: key)  // the store's copy must not come back
        queue.async {
            guard var state = self.states[key], state.token?.credential == credential else { return }
            state.token = nil
            state.timer?.cancel()
            state.timer = nil
            self.states[key] = state
            self.logger.info("OAuth token invalidated after upstream 401", metadata: [LogKey.invalidated: "\(removed)"])
        }
    }

    /// Runs `work` on the queue: inline when already on it (client callbacks delivered synchronously),
    /// else asynchronously.
    func onQueue(_ work: @escaping @Sendable () -> Void) {
        if DispatchQueue.getSpecific(key: queueKey) == true { work() } else { queue.async(execute: work) }
    }

    /// Test hook: returns once everything enqueued so far on the queue has run.
    func waitUntilIdle() { queue.sync {} }
}

/// Log metadata keys (dotted constants, see STYLE.md).
enum LogKey {
    static let connection = "latchkey.connection"
    static let error = "latchkey.oauth.error"
    static let expiresIn = "latchkey.oauth.expires_in"
    static let retryIn = "latchkey.oauth.retry_in"
    static let invalidated = "latchkey.oauth.invalidated"
}
