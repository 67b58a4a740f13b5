/// A token bucket for the resets a peer may make: `burst` at once, refilled at `ratePerSecond`.
struct ResetAllowance {
    let burst: Double
    let ratePerSecond: Double
    private var tokens: Double
    private var refilledAt: ContinuousClock.Instant?

    init(burst: UInt32, ratePerSecond: UInt32) {
        self.burst = Double(max(burst, 1))
        self.ratePerSecond = Double(ratePerSecond)
        tokens = self.burst
    }

    /// Takes one reset; false when none is left.
    mutating func take(now: ContinuousClock.Instant) -> Bool {
        if let refilledAt {
            let elapsed = refilledAt.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            tokens = min(burst, tokens + seconds * ratePerSecond)
        }
        refilledAt = now
        guard tokens >= 1 else { return false }
        tokens -= 1
        return true
    }
}
