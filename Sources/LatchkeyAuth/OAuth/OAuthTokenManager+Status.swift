import Dispatch
import LatchkeyConfig
import LatchkeyHTTP

/// Counters per key; their names match the metrics (`token_requested`, `token_fetched`,
/// `token_fetch_failed`) and double as a test contract.
public struct OAuthCounters: Sendable, Equatable {
    public var tokenRequested = 0
    public var tokenFetched = 0
    public var tokenFetchFailed = 0
    public init() {}
}

/// One key's state, for status output and metrics. Holds no token.
public struct OAuthKeyStatus: Sendable {
    public var key: CredentialKey
    public var hasToken: Bool
    /// Unix seconds; nil when there is no token or it has no known expiry.
    public var expiresAt: Double?
    public var lastError: CredentialError?
    public var fetchInFlight: Bool
    public var counters: OAuthCounters
}

/// What `check` reports on success (no token).
public struct OAuthCheckResult: Sendable {
    /// The token endpoint used (configured or discovered).
    public var tokenURL: EndpointURL
    public var expiresIn: Duration?
    /// The scope the server says it granted, when it says.
    public var grantedScope: String?
}

extension OAuthTokenManager {
    /// A snapshot of every key's state. Call from any queue except the manager's own (it waits on it),
    /// so not from a `fetchCredential` completion.
    public func status() -> [OAuthKeyStatus] {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return queue.sync {
            states.map { key, state in
                OAuthKeyStatus(
                    key: key, hasToken: state.token?.isUsable(at: clock.now()) ?? false, expiresAt: state.token?.wallExpiresAt,
                    lastError: state.lastError, fetchInFlight: state.inFlight, counters: state.counters)
            }
        }
    }

    /// `status()` for one key (zero counters when the key was never used).
    public func status(for key: CredentialKey) -> OAuthKeyStatus {
        status().first { $0.key == key }
            ?? OAuthKeyStatus(key: key, hasToken: false, expiresAt: nil, lastError: nil, fetchInFlight: false, counters: OAuthCounters())
    }

    /// Fetches a fresh token for the connection's own settings once (bypassing the cache and the
    /// backoff, joining an attempt already in flight) and reports success or the provider's error —
    /// for `latchkey check`. The token is cached like any other. `completion` runs on the manager's queue.
    public func check(timeout: Duration? = nil, completion: @escaping @Sendable (Result<OAuthCheckResult, CredentialError>) -> Void) {
        let tripled = settings.timeoutMs.multipliedReportingOverflow(by: 3)  // saturating: never trap on a number
        let timeout = timeout ?? .milliseconds(tripled.overflow ? Int.max : tripled.partialValue)
        queue.async {
            self.enqueueFetch(for: .connectionDefault, timeout: timeout, forceAttempt: true) { result in
                completion(
                    result.map { token in
                        OAuthCheckResult(
                            tokenURL: self.settings.tokenURL ?? self.discovered?.tokenEndpoint ?? EndpointURL(scheme: "https", host: "", port: 443),
                            expiresIn: token.lifetime, grantedScope: token.scope)
                    })
            }
        }
    }
}

extension OAuthTokenManager: ProviderCheck {
    /// The connection's own key (`status(for: .connectionDefault)`).
    public var sourceStatus: CredentialSourceStatus { .token(status(for: .connectionDefault)) }

    /// A token manager can fetch unattended: `check` tests it.
    public var providerCheck: (any ProviderCheck)? { self }

    /// `discoveredMetadata()` when the connection finds its endpoints by discovery, else nil.
    public func discoveryReport() -> Discovery.Metadata? {
        usesDiscovery ? discoveredMetadata() : nil
    }
}
