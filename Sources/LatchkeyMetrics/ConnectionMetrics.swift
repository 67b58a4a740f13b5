/// One connection's token-fetch counters, resolved once (`LatchkeyMetrics.connection(_:)`).
public final class ConnectionMetrics: Sendable {
    private let successes: Counter
    private let failures: Counter

    init(successes: Counter, failures: Counter) {
        self.successes = successes
        self.failures = failures
    }

    /// Counts one completed token endpoint request (`result="success"` or `"failure"`). Any thread.
    public func recordTokenFetch(success: Bool) {
        (success ? successes : failures).increment()
    }
}
