#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// CLOCK_MONOTONIC in nanoseconds (a vDSO call, no system call): the clock the loops' timers run on.
public enum MonotonicClock {
    public static func nanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) &* 1_000_000_000 &+ UInt64(now.tv_nsec)
    }
}

extension Duration {
    /// Whole nanoseconds, truncated toward zero, clamped to `Int64` (about ±292 years).
    ///
    /// Timers and deadlines convert a `Duration` on every request. `components` divides the 128-bit
    /// attosecond count twice (about 190 instructions); one division of `attoseconds` is about 45.
    public var saturatingNanoseconds: Int64 {
        if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *) {
            return Int64(clamping: attoseconds / 1_000_000_000)
        }
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        if overflow { return seconds < 0 ? .min : .max }
        let (total, overflowSum) = whole.addingReportingOverflow(attoseconds / 1_000_000_000)
        return overflowSum ? (whole < 0 ? .min : .max) : total
    }
}
