import LatchkeyConfig
import LatchkeyNet

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
        // Validation bounds every input (ConfigBounds); the arithmetic saturates anyway, so that no value a
        // caller builds by hand can trap here.
        self.maxAttempts = Self.saturating(max(0, settings.maxRetries), plus: 1)
        if let deadlineMs {
            deadline = min(.milliseconds(max(0, deadlineMs)), Self.maximumDeadline)
        } else {
            // timeout × attempts + Σ largest delay before each retry + slack × attempts, in milliseconds.
            // A little slack per attempt lets the last attempt's own timeout (a clearer 504: which upstream
            // did not answer) fire before the overall deadline it would otherwise tie with.
            let perAttempt = Self.saturating(max(0, timeoutMs), plus: Self.deadlineSlackMs)
            let attempts = Self.saturating(perAttempt, times: maxAttempts)
            let total = Self.saturating(attempts, plus: Self.totalDelayMs(retries: maxAttempts - 1, settings: settings))
            deadline = min(.milliseconds(total), Self.maximumDeadline)
        }
    }

    /// The longest deadline any settings give (a year): far above every configurable value, far below
    /// where a duration in nanoseconds overflows `Int64`.
    public static let maximumDeadline: Duration = .seconds(366 * 86_400)

    /// Σ `maximumDelay(beforeRetry:)` for retries 1...`retries`, in milliseconds, saturating; closed form,
    /// so a huge retry count costs nothing.
    static func totalDelayMs(retries: Int, settings: RetrySettings) -> Int {
        guard retries > 0 else { return 0 }
        guard settings.exponentialBackoff else { return saturating(max(0, settings.delayMs), times: retries) }
        // The bound doubles from `backoffBase` and stays at `backoffCap` once it gets there (retry 8).
        var total = 0
        let doubling = min(retries, 16)
        for retry in 1...doubling { total += milliseconds(maximumDelay(beforeRetry: retry, settings: settings)) }
        return saturating(total, plus: saturating(milliseconds(backoffCap), times: retries - doubling))
    }

    static func saturating(_ a: Int, plus b: Int) -> Int {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? .max : sum
    }

    static func saturating(_ a: Int, times b: Int) -> Int {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? .max : product
    }

    private static func milliseconds(_ duration: Duration) -> Int { Int(duration.saturatingNanoseconds / 1_000_000) }

    /// Added per attempt to the default deadline.
    public static let deadlineSlack: Duration = .milliseconds(deadlineSlackMs)
    static let deadlineSlackMs = 100

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
        let nanoseconds = Double(bound.saturatingNanoseconds) * fraction
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
}
