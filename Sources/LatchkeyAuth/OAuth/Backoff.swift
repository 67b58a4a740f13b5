/// Exponential backoff with jitter for retrying a failing token endpoint.
///
/// Attempt `n` (1-based, the number of consecutive failures so far) waits `base · 2^(n-1)`, capped at
/// `cap`, then shortened by up to `jitterFraction` of itself ("equal jitter"), so the result is always in
/// `[(1 - jitterFraction) · d, d]` and never above `cap`.
public struct Backoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    public var jitterFraction: Double

    public init(base: Duration, cap: Duration, jitterFraction: Double = 0.2) {
        self.base = base
        self.cap = cap
        self.jitterFraction = jitterFraction
    }

    /// Background renewal retries: 1 s doubling to 30 s.
    public static let renewal = Backoff(base: .seconds(1), cap: .seconds(30))
    /// Retries of a transient failure while requests wait for a first token (within `token_wait_ms`):
    /// 250 ms doubling to 5 s, so a 10 s wait makes about six attempts.
    public static let coldCache = Backoff(base: .milliseconds(250), cap: .seconds(5))
    /// Background retries after a permanent failure (`invalid_client`, 400/401, ...): 30 s doubling to
    /// 5 min. Requests meanwhile fail at once with the provider's words.
    public static let refused = Backoff(base: .seconds(30), cap: .seconds(300))

    /// The delay before the next attempt after `failures` consecutive failures; `random` in `0..<1`.
    public func delay(failures: Int, random: Double) -> Duration {
        let exponent = min(max(failures - 1, 0), 30)
        let full = min(base * (1 << exponent), cap)
        return full * (1 - jitterFraction * min(max(random, 0), 1))
    }
}
