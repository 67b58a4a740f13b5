/// What the shared token store needs from a key-value server (implemented on Redis by `LatchkeyRedis`).
/// LatchkeyAuth knows nothing of sockets: every call is asynchronous and bounded by the backend's own
/// timeout, and a completion may run on any queue.
public protocol SharedStoreBackend: Sendable {
    /// The value at `key`, or nil when there is none.
    func get(_ key: String, completion: @escaping @Sendable (Result<[UInt8]?, SharedStoreFailure>) -> Void)
    /// Sets `key` to `value`, expiring after `ttl`.
    func put(_ key: String, value: [UInt8], ttl: Duration, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void)
    /// Creates the lease `key` held by `owner` for `ttl` unless it exists (`SET NX PX`): true when taken.
    func acquireLease(_ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void)
    /// Extends the lease to `ttl` from now if `owner` still holds it: false when it was lost.
    func renewLease(_ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void)
    /// Deletes the lease if `owner` still holds it (never another holder's).
    func releaseLease(_ key: String, owner: String)
    /// Deletes `key`.
    func delete(_ key: String, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void)
    /// Whether the server answered last time, and why not (for `/readyz`, metrics, `check`).
    var reachability: SharedStoreReachability { get }
    /// `redis://host:port/db` for logs and `check` (no credentials).
    var displayName: String { get }
}

/// A store call that got no usable answer: unreachable, too slow, or refused. Never holds a stored value.
public struct SharedStoreFailure: Error, Sendable, CustomStringConvertible {
    /// Short and fixed, for metric labels and `/readyz` (`store_unavailable`, `store_timeout`, ...).
    public var reason: String
    public var detail: String
    public init(reason: String, detail: String) {
        self.reason = reason
        self.detail = detail
    }
    public var description: String { "\(reason): \(detail)" }
}

/// The store as last seen.
public struct SharedStoreReachability: Sendable {
    public var reachable: Bool
    public var lastFailure: SharedStoreFailure?
    /// How many times it went from reachable to unreachable.
    public var outages: Int
    public init(reachable: Bool, lastFailure: SharedStoreFailure?, outages: Int) {
        self.reachable = reachable
        self.lastFailure = lastFailure
        self.outages = outages
    }
}
