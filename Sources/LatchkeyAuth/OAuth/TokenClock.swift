import Dispatch
import Foundation

/// A point on a monotonic clock (time since an arbitrary origin). Expiry and renewal are computed
/// on this clock so wall-clock jumps cannot expire or keep tokens.
public struct MonotonicInstant: Sendable, Hashable, Comparable {
    public var sinceOrigin: Duration
    public init(sinceOrigin: Duration) { self.sinceOrigin = sinceOrigin }
    public static func < (a: Self, b: Self) -> Bool { a.sinceOrigin < b.sinceOrigin }
    public static func + (a: Self, d: Duration) -> Self { Self(sinceOrigin: a.sinceOrigin + d) }
    public static func - (a: Self, b: Self) -> Duration { a.sinceOrigin - b.sinceOrigin }
}

/// A scheduled piece of work that can be cancelled (cancelling after it ran is a no-op).
public protocol Cancellable: Sendable {
    func cancel()
}

/// Time for the token manager: a monotonic clock for expiry and timers, the wall clock for JWT
/// `iat`/`exp`, and timers. Injected so tests drive the renewal schedule without sleeping.
public protocol TokenClock: Sendable {
    /// Monotonic now.
    func now() -> MonotonicInstant
    /// Seconds since the Unix epoch (for JWT claims and status output).
    func wallClock() -> Double
    /// Runs `work` on `queue` after `delay`, unless cancelled first.
    func schedule(after delay: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void)
        -> any Cancellable
}

/// The real clock: `DispatchTime` (monotonic) and `Date`, timers via `asyncAfter`.
public struct SystemClock: TokenClock {
    public init() {}

    public func now() -> MonotonicInstant {
        MonotonicInstant(sinceOrigin: .nanoseconds(Int64(DispatchTime.now().uptimeNanoseconds)))
    }

    public func wallClock() -> Double { Date().timeIntervalSince1970 }

    public func schedule(after delay: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void)
        -> any Cancellable
    {
        let item = DispatchWorkItem(block: work)
        let (seconds, attoseconds) = delay.components
        // Saturating: a delay past Int64 nanoseconds (292 years) waits "forever" instead of trapping.
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        let nanos = overflow ? (seconds < 0 ? 0 : Int64.max) : max(0, whole.addingReportingOverflow(attoseconds / 1_000_000_000).partialValue)
        queue.asyncAfter(deadline: .now() + .nanoseconds(Int(nanos)), execute: item)
        return WorkItemCancellable(item: item)
    }
}

/// `DispatchWorkItem` is thread-safe for `cancel()`; it is not marked Sendable on Linux.
private struct WorkItemCancellable: Cancellable, @unchecked Sendable {
    let item: DispatchWorkItem
    func cancel() { item.cancel() }
}
