/// Counters of an `InterceptionAuthority`, for metrics and tests. Monotonic except `cachedHosts`.
public struct InterceptionStatistics: Sendable, Equatable {
    /// Lookups answered from the leaf cache.
    public var hits: Int = 0
    /// Leaves minted (cache misses that succeeded).
    public var mints: Int = 0
    /// Minting attempts that failed (invalid host name, OpenSSL failure).
    public var mintFailures: Int = 0
    /// Leaves dropped from the cache to make room for new hosts.
    public var evictions: Int = 0
    /// Leaves held now (at most the cache capacity).
    public var cachedHosts: Int = 0

    /// All zero.
    public init() {}
}
