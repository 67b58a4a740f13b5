/// When to renew a token, as a pure function of its lifetime.
///
/// Default rule: renew when the time left drops below `max(20 % of the lifetime, 60 s)`, but never
/// earlier than half the lifetime — a 1 h token renews 12 min before expiry (48 min after issue), a
/// 10 min token 2 min before (at 8 min), a 5 s token 2.5 s before. `refresh_before_ms` replaces the
/// "time left" threshold; the half-lifetime floor still applies so that a threshold longer than the
/// lifetime cannot turn into a renewal loop.
///
/// Jitter spreads renewals of many keys: up to `jitterFraction` of the lifetime earlier, clamped so it
/// never breaks the half-lifetime floor. Renewing early never breaks the "time left" rule.
public enum RefreshSchedule {
    /// The default maximum jitter, as a fraction of the lifetime.
    public static let defaultJitterFraction = 0.05
    /// The shortest delay ever scheduled, so a token with a zero lifetime cannot spin.
    public static let minimumDelay = Duration.milliseconds(250)

    /// The renewal threshold: renew when less than this is left.
    public static func refreshBefore(lifetime: Duration, configured: Duration?) -> Duration {
        configured ?? max(lifetime * 0.2, .seconds(60))
    }

    /// Delay from issue to renewal. `random` in `0..<1` picks the jitter (0 = none).
    public static func renewalDelay(
        lifetime: Duration, configuredRefreshBefore: Duration? = nil,
        jitterFraction: Double = defaultJitterFraction, random: Double
    ) -> Duration {
        let before = refreshBefore(lifetime: lifetime, configured: configuredRefreshBefore)
        let floor = lifetime / 2
        let jitter = lifetime * (jitterFraction * min(max(random, 0), 1))
        let at = max(lifetime - before - jitter, floor)
        return max(at, minimumDelay)
    }
}
