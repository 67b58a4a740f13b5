import LatchkeyConfig

/// How one attempt at an upstream exchange ended, as far as retrying is concerned.
public enum AttemptOutcome: Sendable, Equatable {
    /// No byte of the request was sent: connection refused, DNS failure, TLS handshake failure, connect timeout.
    case connectFailed
    /// Failed after bytes were sent: reset, or closed before a complete response head.
    case networkError
    /// No response head within `timeout_ms`.
    case timedOut
    /// A response head arrived with this status.
    case status(Int)
}

/// A route's retry rules (`retry:`, `timeout_ms`, `deadline_ms`) as pure decisions: which outcomes are worth
/// another attempt, how long to wait before it, and how long the whole exchange may take. No I/O, no clock:
/// randomness is injected and time is the caller's, so every rule is unit-tested directly.
///
/// The caller owns the loop: it counts attempts against `maxAttempts`, checks that the body can be replayed
/// whole (a `.connectFailed` attempt sent nothing, so it is always replayable), and never sleeps past
/// `deadline`.
public struct RetryPolicy: Sendable {
    /// Exponential backoff: the upper bound before the first retry; it doubles for each retry after.
    public static let backoffBase: Duration = .milliseconds(100)
    /// Exponential backoff: the upper bound never exceeds this.
    public static let backoffCap: Duration = .seconds(10)

    public let settings: RetrySettings
    /// Attempts in all: `max_retries` + 1 (at least 1).
    public let maxAttempts: Int
    /// The bound on the whole exchange, all attempts and delays: `deadline_ms`, or, without it,
    /// `timeout_ms` × `maxAttempts` plus the largest delay each retry can wait (Retry-After aside).
    public let deadline: Duration

    public init(settings: RetrySettings, timeoutMs: Int, deadlineMs: Int?) {
        self.settings = settings
        self.maxAttempts = max(0, settings.maxRetries) + 1
        if let deadlineMs {
            deadline = .milliseconds(deadlineMs)
        } else {
            var total = Duration.milliseconds(timeoutMs) * maxAttempts
            if maxAttempts > 1 {
                for retry in 1..<maxAttempts {
                    total += Self.maximumDelay(beforeRetry: retry, settings: settings)
                }
            }
            // A little slack per attempt, so that the last attempt's own timeout (a clearer 504: which upstream
            // did not answer) fires before the overall deadline it would otherwise tie with.
            deadline = total + Self.deadlineSlack * maxAttempts
        }
    }

    /// Added per attempt to the default deadline.
    public static let deadlineSlack: Duration = .milliseconds(100)

    /// Whether `outcome` is worth another attempt under this policy (not counting attempts, body replayability
    /// or deadline — the caller checks those).
    ///
    /// Network failures and timeouts always are. Statuses: with `retry_on_all_errors: false`, any 5xx; with
    /// `true`, any status >= 400 (429 included) and a 3xx the proxy does not follow (`redirectFollowed`
    /// false) — except 304, which answers a conditional request successfully. 1xx, 2xx and 508 (Loop
    /// Detected: the request would only loop again) never are.
    public func isRetryable(_ outcome: AttemptOutcome, redirectFollowed: Bool = false) -> Bool {
        switch outcome {
        case .connectFailed, .networkError, .timedOut:
            return true
        case .status(let status):
            // 508 Loop Detected (a later hop saw its own Via entry): the same request loops again.
            if status == 508 { return false }
            if (500...599).contains(status) { return true }
            guard settings.retryOnAllErrors else { return false }
            if status >= 400 { return true }
            if (300...399).contains(status) { return !redirectFollowed && status != 304 }
            return false
        }
    }

    /// Delay before retry number `retry` (1 = first retry). With exponential backoff: full jitter in
    /// [0, min(cap, base·2^(retry-1))] using `random()` in [0,1); else `delay_ms`. A Retry-After value
    /// (already parsed) replaces the computed delay; bounding it by the deadline is the caller's job.
    ///
    /// `random()` is called once, and only for exponential backoff without Retry-After. Values outside
    /// [0, 1] (or NaN) are clamped, so a faulty source can never push the delay past the bound.
    public func delay(beforeRetry retry: Int, retryAfter: Duration?, random: () -> Double) -> Duration {
        if let retryAfter { return max(.zero, retryAfter) }
        guard settings.exponentialBackoff else { return .milliseconds(max(0, settings.delayMs)) }
        let bound = Self.maximumDelay(beforeRetry: retry, settings: settings)
        var fraction = random()
        if !(fraction >= 0) { fraction = 0 }  // NaN too
        fraction = min(fraction, 1)
        let nanoseconds = Double(Self.nanoseconds(bound)) * fraction
        return .nanoseconds(Int64(nanoseconds.rounded(.down)))
    }

    /// The largest delay `delay(beforeRetry:)` can return without Retry-After.
    public func maximumDelay(beforeRetry retry: Int) -> Duration {
        Self.maximumDelay(beforeRetry: retry, settings: settings)
    }

    static func maximumDelay(beforeRetry retry: Int, settings: RetrySettings) -> Duration {
        guard settings.exponentialBackoff else { return .milliseconds(max(0, settings.delayMs)) }
        // base·2^(retry-1) reaches the cap (10 s = 100 ms · 100) from retry 8 on; stop doubling before overflow.
        let doublings = min(max(retry, 1) - 1, 16)
        return min(backoffCap, backoffBase * (1 << doublings))
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
