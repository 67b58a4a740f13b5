import Synchronization

/// One authorization request waiting for its callback: what the `state` value is bound to.
/// `pkce.verifier` is a secret until the code is exchanged; `description` is redacted.
public struct PendingAuthorization: Sendable, CustomStringConvertible {
    /// The connection the consent is for.
    public let connection: String
    public let pkce: PKCE
    /// The `redirect_uri` sent on the authorization request; the code exchange must repeat it
    /// (RFC 6749 §4.1.3).
    public let redirectURI: String
    /// When it stops being accepted (monotonic).
    public let expiresAt: MonotonicInstant

    public var description: String { "PendingAuthorization(connection: \(connection), <redacted>)" }
}

/// Why a callback's `state` was refused.
public enum AuthorizationStateProblem: Error, Sendable, Equatable, CustomStringConvertible {
    /// Never issued, already used, or evicted (single use: a second callback with the same state lands here).
    case unknown
    /// Issued more than `lifetime` ago.
    case expired
    /// Issued for another connection than the one completing it.
    case wrongConnection(expected: String)

    public var description: String {
        switch self {
        case .unknown: "unknown or already used state (start again at /connections/NAME/connect)"
        case .expired: "the authorization request expired (over 10 minutes); start again"
        case .wrongConnection(let expected): "state was issued for connection '\(expected)'"
        }
    }
}

/// The `state` values of authorization requests in progress (RFC 6749 §10.12 CSRF protection):
/// random (32 bytes, base64url), single use, bound to one connection, expiring after `lifetime`
/// (10 minutes) on the injected clock. At most `capacity` are kept; the oldest is evicted first.
///
/// One store serves every connection (the callback URL is shared); thread-safe through a `Mutex`.
public final class AuthorizationStateStore: Sendable {
    public static let defaultLifetime = Duration.seconds(600)
    private let clock: any TokenClock
    private let lifetime: Duration
    private let capacity: Int
    private struct Entry {
        var pending: PendingAuthorization
        var serial: UInt64
    }
    private struct Pending {
        var entries: [String: Entry] = [:]
        var serial: UInt64 = 0
    }
    private let pending = Mutex(Pending())

    public init(clock: any TokenClock = SystemClock(), lifetime: Duration = defaultLifetime, capacity: Int = 256) {
        self.clock = clock
        self.lifetime = lifetime
        self.capacity = capacity
    }

    /// Records a new authorization request for `connection` and returns its `state` value.
    public func issue(connection: String, pkce: PKCE, redirectURI: String) throws(CryptoError) -> String {
        let state = Base64.encodeURLSafe(try SecureRandom.bytes(32))
        let now = clock.now()
        let entry = PendingAuthorization(connection: connection, pkce: pkce, redirectURI: redirectURI, expiresAt: now + lifetime)
        pending.withLock { store in
            store.entries = store.entries.filter { now < $0.value.pending.expiresAt }
            while store.entries.count >= capacity, let oldest = store.entries.min(by: { $0.value.serial < $1.value.serial }) {
                store.entries[oldest.key] = nil
            }
            store.serial += 1
            store.entries[state] = Entry(pending: entry, serial: store.serial)
        }
        return state
    }

    /// The connection a `state` belongs to, without consuming it (so the callback can find the source),
    /// or nil when unknown or expired.
    public func connection(for state: String) -> String? {
        let now = clock.now()
        return pending.withLock { store in
            store.entries[state].flatMap { now < $0.pending.expiresAt ? $0.pending.connection : nil }
        }
    }

    /// Takes `state` out of the store (single use: whatever the outcome, it cannot be used again) and
    /// returns what it was bound to, checking expiry and that it belongs to `connection`.
    public func consume(_ state: String, connection: String) -> Result<PendingAuthorization, AuthorizationStateProblem> {
        let now = clock.now()
        guard let entry = pending.withLock({ $0.entries.removeValue(forKey: state) }) else { return .failure(.unknown) }
        guard now < entry.pending.expiresAt else { return .failure(.expired) }
        guard entry.pending.connection == connection else { return .failure(.wrongConnection(expected: entry.pending.connection)) }
        return .success(entry.pending)
    }

    /// Requests in progress (for tests and status).
    public var count: Int { pending.withLock { $0.entries.count } }
}
