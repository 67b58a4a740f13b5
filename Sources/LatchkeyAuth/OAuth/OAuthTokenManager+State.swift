import LatchkeyConfig

extension OAuthTokenManager {
    /// What the manager knows about one key. Lives on the manager's queue.
    struct KeyState {
        var token: CachedToken?
        /// A token request (or discovery for it) is in flight, or queued for one of the connection's
        /// `maxConcurrentRequests` slots.
        var inFlight = false
        var waiters: [UInt64: Waiter] = [:]
        var lastError: CredentialError?
        var consecutiveFailures = 0
        /// After a failure: no new attempt before this (the backoff, never sooner than the endpoint's
        /// `Retry-After`). Requests arriving earlier wait for it (within their `token_wait_ms`).
        var retryAt: MonotonicInstant?
        /// The last attempt failed permanently (`TokenFailureKind.permanent`): with no usable token,
        /// requests fail at once with `lastError` until an attempt (the slow background retry or `check`)
        /// succeeds.
        var refused = false
        /// The renewal or retry timer.
        var timer: (any Cancellable)?
        var counters = OAuthCounters()
    }

    /// A token in the cache.
    struct CachedToken: Sendable {
        var credential: InjectedCredential
        /// Monotonic expiry; nil = no known expiry (reused until a 401).
        var expiresAt: MonotonicInstant?
        /// The token is injected only before this: `expiresAt` minus `expirySkew(lifetime:)`.
        var usableUntil: MonotonicInstant?
        /// The same, as Unix seconds, for status output.
        var wallExpiresAt: Double?
        var lifetime: Duration?
        var scope: String?

        func isUsable(at now: MonotonicInstant) -> Bool { usableUntil.map { now < $0 } ?? true }
    }

    /// A fetch waiting for the attempt in flight (or the next retry).
    struct Waiter {
        var completion: @Sendable (Result<CachedToken, CredentialError>) -> Void
        var timeout: (any Cancellable)?
        /// When its wait (`token_wait_ms`, or less) is over.
        var deadline: MonotonicInstant
        /// `check`: answered by the first attempt's outcome, never kept through retries.
        var oneShot: Bool
    }

    /// The hot-path copy of a cached token.
    struct PublishedToken: Sendable {
        var credential: InjectedCredential
        var usableUntil: MonotonicInstant?
        func isUsable(at now: MonotonicInstant) -> Bool { usableUntil.map { now < $0 } ?? true }
    }

    /// The published tokens by key. The connection's own key (`CredentialKey.connectionDefault`, every route
    /// without scope or audience overrides) has a slot of its own: `currentCredential` runs for every
    /// proxied request, and hashing a key's three optional fields was a third of its cost.
    struct PublishedTokens: Sendable {
        private var connectionDefault: PublishedToken?
        private var overridden: [CredentialKey: PublishedToken] = [:]

        subscript(key: CredentialKey) -> PublishedToken? {
            get { key.isConnectionDefault ? connectionDefault : overridden[key] }
            set {
                if key.isConnectionDefault { connectionDefault = newValue } else { overridden[key] = newValue }
            }
        }

        mutating func removeAll() {
            connectionDefault = nil
            overridden = [:]
        }
    }

    /// A token is never injected in its last `expirySkew` (5 s), so that it does not expire on its way
    /// to the upstream or on a clock a little ahead of ours; for very short tokens the margin is a
    /// quarter of the lifetime instead, so a 4 s token is still usable for 3 s.
    static func expirySkew(lifetime: Duration) -> Duration {
        min(expirySkew, lifetime / 4)
    }
}
