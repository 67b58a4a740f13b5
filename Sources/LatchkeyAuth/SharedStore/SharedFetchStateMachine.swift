/// The decisions of one replica's token attempt when replicas share a store (issue 15), without I/O: the
/// caller feeds it what the store and the provider answered and carries out the action it returns.
///
/// Read the store; a fresh record is used as is. Otherwise take the lease (`SET NX PX`) and read again
/// (another replica may have written between the read and the lease), then fetch under the lease. A
/// replica that does not get the lease polls the store until the holder's record appears, retrying the
/// lease each time (a holder that died lets its lease expire); after `maximumWait` it fetches for itself.
/// Any store failure makes this attempt fetch on its own at once (degraded: the store never blocks a
/// token); the result is still offered to the store, which is how replicas resynchronise.
struct SharedFetchStateMachine {
    enum State: Equatable {
        case idle
        /// The first read of the store.
        case reading
        /// Asking for the lease.
        case leasing
        /// Holding the lease, reading again before fetching.
        case verifying
        /// Another replica holds the lease: polling the store.
        case waiting
        case fetching(holdsLease: Bool)
        case done
    }

    enum Event {
        case start
        /// The store's record (nil: none, or one that does not open with our key).
        case readFinished(Result<SharedTokenRecord?, SharedStoreFailure>)
        case leaseFinished(Result<Bool, SharedStoreFailure>)
        case pollDue
        case fetchFinished(Result<TokenGrant, CredentialError>)
    }

    enum Action {
        case read
        case takeLease
        case pollAfter(Duration)
        /// Finish with a token another replica obtained (releasing our lease when we hold one).
        case use(TokenGrant, releaseLease: Bool)
        /// Ask the provider; `shared`: under the lease (else on our own, the store being down or slow).
        case fetch(shared: Bool)
        /// The fetch succeeded: write the record, release the lease if held, finish with the grant.
        case publish(TokenGrant, releaseLease: Bool)
        /// The fetch failed: release the lease if held, finish with the error.
        case fail(CredentialError, releaseLease: Bool)
        /// Nothing to do (an event that no longer matters).
        case none
    }

    static let pollInterval = Duration.milliseconds(50)
    let maximumWait: Duration
    private(set) var state: State = .idle
    /// Set when a store call failed during this attempt.
    private(set) var degraded = false
    /// The record found by the first read, if any: a later read takes any other usable record.
    private var firstSeenIssuedAt: Double?
    private var waitDeadline: MonotonicInstant?

    init(maximumWait: Duration) { self.maximumWait = maximumWait }

    mutating func event(_ event: Event, now: MonotonicInstant, wallNow: Double) -> Action {
        switch (state, event) {
        case (.idle, .start):
            state = .reading
            return .read
        case (.reading, .readFinished(.success(let record))):
            firstSeenIssuedAt = record?.issuedAt
            if let record, record.isUsable(now: wallNow, margin: Self.margin(record)), record.isFresh(now: wallNow) {
                state = .done
                return .use(record.grant(now: wallNow), releaseLease: false)
            }
            state = .leasing
            return .takeLease
        case (.verifying, .readFinished(.success(let record))), (.waiting, .readFinished(.success(let record))):
            let holding = state == .verifying
            if let record, isNewEnough(record, wallNow: wallNow) {
                state = .done
                return .use(record.grant(now: wallNow), releaseLease: holding)
            }
            if holding {
                state = .fetching(holdsLease: true)
                return .fetch(shared: true)
            }
            state = .leasing
            return .takeLease
        case (.leasing, .leaseFinished(.success(true))):
            state = .verifying
            return .read
        case (.leasing, .leaseFinished(.success(false))):
            let deadline = waitDeadline ?? now + maximumWait
            waitDeadline = deadline
            if now >= deadline {
                state = .fetching(holdsLease: false)
                return .fetch(shared: false)
            }
            state = .waiting
            return .pollAfter(Self.pollInterval)
        case (.waiting, .pollDue):
            return .read
        case (.reading, .readFinished(.failure)), (.leasing, .leaseFinished(.failure)), (.waiting, .readFinished(.failure)):
            degraded = true
            state = .fetching(holdsLease: false)
            return .fetch(shared: false)
        case (.verifying, .readFinished(.failure)):
            degraded = true
            state = .fetching(holdsLease: true)
            return .fetch(shared: true)
        case (.fetching(let holds), .fetchFinished(.success(let grant))):
            state = .done
            return .publish(grant, releaseLease: holds)
        case (.fetching(let holds), .fetchFinished(.failure(let error))):
            state = .done
            return .fail(error, releaseLease: holds)
        default:
            return .none
        }
    }

    /// After the first read: any usable record other than the one first seen (the holder's), or a fresh one.
    private func isNewEnough(_ record: SharedTokenRecord, wallNow: Double) -> Bool {
        guard record.isUsable(now: wallNow, margin: Self.margin(record)) else { return false }
        return record.isFresh(now: wallNow) || record.issuedAt != firstSeenIssuedAt
    }

    /// The manager stops injecting a token in its last 5 s (a quarter of very short lifetimes): a record
    /// with less left is as good as none.
    static func margin(_ record: SharedTokenRecord) -> Double {
        guard let expiresAt = record.expiresAt else { return 0 }
        return min(OAuthTokenManager.expirySkew.seconds, (expiresAt - record.issuedAt) / 4)
    }
}
