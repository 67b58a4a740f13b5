import LatchkeyConfig

extension OAuthTokenManager {
    /// What the manager knows about one key. Lives on the manager's queue.
    struct KeyState {
        var token: CachedToken?
        /// A token request (or discovery for it) is in flight.
        var inFlight = false
        var waiters: [UInt64: Waiter] = [:]
        var lastError: CredentialError?
        var consecutiveFailures = 0
        /// With no token, fetches before this fail fast with `lastError` (the cold-cache backoff).
        var notBefore: MonotonicInstant?
        /// The renewal or retry timer.
        var timer: (any Cancellable)?
        var counters = OAuthCounters()
    }

    /// A token in the cache.
    struct CachedToken: Sendable {
        var credential: InjectedCredential
        /// Monotonic expiry; nil = no known expiry (reused until a 401).
        var expiresAt: MonotonicInstant?
        /// The same, as Unix seconds, for status output.
        var wallExpiresAt: Double?
        var lifetime: Duration?
        var scope: String?

        func isUsable(at now: MonotonicInstant) -> Bool { expiresAt.map { now < $0 } ?? true }
    }

    /// A fetch waiting for the attempt in flight.
    struct Waiter {
        var completion: @Sendable (Result<CachedToken, CredentialError>) -> Void
        var timeout: (any Cancellable)?
    }

    /// The hot-path copy of a cached token.
    struct PublishedToken: Sendable {
        var credential: InjectedCredential
        var expiresAt: MonotonicInstant?
        func isUsable(at now: MonotonicInstant) -> Bool { expiresAt.map { now < $0 } ?? true }
    }
}
