import LatchkeyConfig

// Stand-in with the agreed API until the policy lands; replaced by the full implementation.
public enum AttemptOutcome: Sendable, Equatable {
    case connectFailed
    case networkError
    case timedOut
    case status(Int)
}

public struct RetryPolicy: Sendable {
    let settings: RetrySettings
    public let maxAttempts: Int
    public let deadline: Duration

    public init(settings: RetrySettings, timeoutMs: Int, deadlineMs: Int?) {
        self.settings = settings
        maxAttempts = settings.maxRetries + 1
        let delays = settings.exponentialBackoff ? 10_000 * settings.maxRetries : settings.delayMs * settings.maxRetries
        deadline = .milliseconds(deadlineMs ?? (timeoutMs * maxAttempts + delays))
    }

    public func isRetryable(_ outcome: AttemptOutcome, redirectFollowed: Bool = false) -> Bool {
        switch outcome {
        case .connectFailed, .networkError, .timedOut: return true
        case .status(let status):
            if status >= 500 { return true }
            return settings.retryOnAllErrors && (status >= 400 || (status >= 300 && !redirectFollowed))
        }
    }

    public func delay(beforeRetry retry: Int, retryAfter: Duration?, random: () -> Double) -> Duration {
        if let retryAfter { return retryAfter }
        if settings.exponentialBackoff {
            let cap = min(10_000.0, 100.0 * Double(1 << min(retry - 1, 20)))
            return .milliseconds(Int(cap * random()))
        }
        return .milliseconds(settings.delayMs)
    }
}
