import Dispatch
import Foundation
import LatchkeyConfig
import Logging
import Synchronization

/// Shares one connection's access tokens with the other replicas through a `SharedStoreBackend`: wraps
/// the token manager's way of obtaining a token (`OAuthTokenManager.shareTokens(through:)`) so that an
/// attempt first looks in the store and only the lease holder asks the provider (see
/// `SharedFetchStateMachine`). The manager keeps its own cache, single flight and renewal timer; this only
/// decides where each attempt's token comes from.
///
/// Keys: `PREFIX token/CONNECTION/ID` and `PREFIX lease/CONNECTION/ID`, where ID is a hash of the cache key
/// plus the token endpoint and client id (so a changed client never reads the old one's tokens). Values
/// are sealed with `state_key` (`SharedRecordSealer`); a lease value is a random owner id.
///
/// Concurrency: each attempt's state machine lives on `queue`; store and provider completions hop onto it.
public final class SharedTokenExchange: @unchecked Sendable {
    // @unchecked Sendable: immutable apart from `counters` (a Mutex) and attempt objects confined to `queue`.
    public let connectionName: String
    let backend: any SharedStoreBackend
    let sealer: SharedRecordSealer
    let keyPrefix: String
    let leaseTTL: Duration
    let clock: any TokenClock
    let logger: Logger
    let queue: DispatchQueue
    private let identity: String
    private let countersState = Mutex(SharedStoreCounters())
    private let observer: (@Sendable (SharedStoreOutcome) -> Void)?
    /// SHA-256 of access tokens an upstream rejected (401), per key: a stored record holding one is
    /// treated as absent, so the lease holder replaces it instead of every replica reusing it. Bounded.
    private let rejected = Mutex<[CredentialKey: [[UInt8]]]>([:])
    static let rememberedRejections = 8

    public init(
        connectionName: String, settings: OAuthClientSettings, backend: any SharedStoreBackend, sealer: SharedRecordSealer,
        keyPrefix: String, leaseTTL: Duration, clock: any TokenClock = SystemClock(), logger: Logger,
        observer: (@Sendable (SharedStoreOutcome) -> Void)? = nil
    ) {
        self.observer = observer
        self.connectionName = connectionName
        self.backend = backend
        self.sealer = sealer
        self.keyPrefix = keyPrefix
        self.leaseTTL = leaseTTL
        self.clock = clock
        var logger = logger
        logger[metadataKey: LogKey.connection] = "\(connectionName)"
        self.logger = logger
        queue = DispatchQueue(label: "latchkey.shared-store.\(connectionName)")
        identity = Self.tokenIdentity(of: settings)
    }

    /// What this connection's attempts found in the store (a test contract and metrics).
    public var counters: SharedStoreCounters { countersState.withLock { $0 } }

    /// Counts `outcome` and tells the observer (metrics).
    func record(_ outcome: SharedStoreOutcome) {
        countersState.withLock { counters in
            switch outcome {
            case .storeHit: counters.storeHits += 1
            case .leaseFetch: counters.leaseFetches += 1
            case .leaseWait: counters.leaseWaits += 1
            case .degradedFetch: counters.degradedFetches += 1
            case .storeWrite: counters.storeWrites += 1
            }
        }
        observer?(outcome)
    }

    /// An upstream rejected `credential` (the manager dropped it): never take it from the store again.
    func reject(_ credential: InjectedCredential, for key: CredentialKey) {
        let digest = Digest.sha256(Array(credential.headerValue.value.utf8))
        rejected.withLock { table in
            table[key, default: []].append(digest)
            if table[key]!.count > Self.rememberedRejections { table[key]!.removeFirst() }
        }
    }

    /// Whether `record`'s token was rejected by an upstream here.
    func isRejected(_ record: SharedTokenRecord, for key: CredentialKey) -> Bool {
        let digest = Digest.sha256(Array(AuthScheme.bearer(record.accessToken).utf8))
        return rejected.withLock { $0[key]?.contains(digest) ?? false }
    }

    /// What decides which token a request gets, without secrets: the endpoint, the client, the default
    /// scopes, audience and parameters, and a JWT bearer's issuer, subject, audience and claims. A config
    /// change to any of them reads and writes other keys (never the previous settings' token).
    static func tokenIdentity(of settings: OAuthClientSettings) -> String {
        var parts = [
            settings.tokenURL?.description ?? "", settings.discoveryURL?.description ?? "", settings.clientID,
            settings.scopes.joined(separator: " "), settings.audience ?? "",
            settings.tokenParams.map { "\($0.0)=\($0.1)" }.joined(separator: "&"),
        ]
        if let bearer = settings.jwtBearer {
            parts += [bearer.issuer, bearer.subject, bearer.audience ?? ""] + bearer.claims.map { "\($0.name)=\($0.value)" }
        }
        return parts.joined(separator: "\u{0}")
    }

    /// The store keys for `key`'s token and lease.
    func storeKeys(for key: CredentialKey) -> (token: String, lease: String) {
        var text = identity
        text += "\u{0}" + (key.scopes?.joined(separator: " ") ?? "-")
        text += "\u{0}" + (key.audience ?? "-")
        for (name, value) in (key.tokenParams ?? [:]).sorted(by: { $0.key < $1.key }) { text += "\u{0}\(name)=\(value)" }
        let id = Digest.sha256(Array(text.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined()
        return (keyPrefix + "token/\(connectionName)/\(id)", keyPrefix + "lease/\(connectionName)/\(id)")
    }

    /// Writes `grant` for `key` (`storeKeys(for:).token`) sealed, to expire with the token (a day when it
    /// has no expiry); `then` runs once the store answered (or at once when there is nothing to write).
    func storeToken(_ grant: TokenGrant, key storeKey: String, then: @escaping @Sendable () -> Void = {}) {
        let record = SharedTokenRecord(grant: grant, issuedAt: clock.wallClock())
        guard let sealed = try? sealer.sealRecord(record, storeKey: storeKey) else { return then() }
        let ttl = grant.expiresIn ?? .seconds(86_400)
        guard ttl > .zero else { return then() }
        backend.put(storeKey, value: sealed, ttl: ttl) { result in
            if case .success = result { self.record(.storeWrite) }
            then()
        }
    }

    /// The store key of the connection's authorization-code grant (its refresh token).
    var grantStoreKey: String { keyPrefix + "grant/\(connectionName)/" + storeKeys(for: .connectionDefault).token.split(separator: "/").last! }

    /// Obtains a token for `key`: from the store, or from `fetch` (the provider) under the lease, or from
    /// `fetch` alone while the store is down. `completion` may run on any queue.
    func acquire(
        key: CredentialKey, fetch: @escaping @Sendable (@escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) -> Void,
        completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void
    ) {
        queue.async {
            SharedFetch(exchange: self, key: key, fetch: fetch, completion: completion).start()
        }
    }
}

/// What one attempt did with the store; the raw values are the `outcome` label of
/// `latchkey_shared_store_attempts_total`.
public enum SharedStoreOutcome: String, Sendable {
    case storeHit = "store_hit"
    case leaseFetch = "lease_fetch"
    case leaseWait = "lease_wait"
    case degradedFetch = "degraded_fetch"
    case storeWrite = "store_write"
}

/// What a connection's attempts did with the store (a test contract; see `SharedStoreOutcome`).
public struct SharedStoreCounters: Sendable, Equatable {
    /// Attempts answered from the store (another replica's token).
    public var storeHits = 0
    /// Attempts that fetched under the lease.
    public var leaseFetches = 0
    /// Attempts that waited for another replica's lease.
    public var leaseWaits = 0
    /// Attempts that fetched on their own because the store failed (degraded).
    public var degradedFetches = 0
    /// Records written.
    public var storeWrites = 0
    public init() {}
}
