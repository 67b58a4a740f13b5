import Synchronization

/// One duration histogram series: a count per bucket plus the sum of observations.
///
/// Hot path: `observe` is two relaxed atomic adds (the bucket, the sum), no lock, no allocation.
/// - Bucket counts are stored per bucket, not cumulatively; `render` accumulates them. So one
///   observation touches one bucket, and `_count` is the total of the same bucket reads, which keeps
///   `_bucket{le="+Inf"} == _count` in every scrape even while observations race with it.
/// - The sum is an `Atomic<UInt64>` of microseconds rather than a `Double` behind a `Mutex` (or a
///   compare-and-swap loop on the bit pattern): one wait-free add, 1 µs resolution per observation,
///   and room for 584,000 years of summed durations. It may lag `_count` by in-flight observations
///   during a scrape, which Prometheus tolerates (`rate(_sum)/rate(_count)` averages it out).
// @unchecked: every count is an atomic; the pointer is fixed at init and freed in deinit.
public final class Histogram: @unchecked Sendable {
    private let buckets: HistogramBuckets
    private let counts: UnsafeMutablePointer<Atomic<UInt64>>  // buckets.count + 1 slots, the last is +Inf
    private let sumMicroseconds = Atomic<UInt64>(0)

    init(buckets: HistogramBuckets) {
        self.buckets = buckets
        counts = .allocate(capacity: buckets.count + 1)
        for slot in 0...buckets.count {
            (counts + slot).initialize(to: Atomic(0))
        }
    }

    deinit {
        counts.deinitialize(count: buckets.count + 1)
        counts.deallocate()
    }

    /// Records one duration (rounded to the microsecond). Any thread. Negative durations count as zero.
    public func observe(_ duration: Duration) {
        record(microseconds: Self.microseconds(duration))
    }

    /// Records one duration given in seconds (rounded to the microsecond). NaN and negatives count as zero.
    public func observe(seconds: Double) {
        record(microseconds: Self.microseconds(seconds: seconds))
    }

    private func record(microseconds: UInt64) {
        counts[buckets.index(of: microseconds)].wrappingAdd(1, ordering: .relaxed)
        sumMicroseconds.wrappingAdd(microseconds, ordering: .relaxed)
    }

    /// A point-in-time read: cumulative counts per declared bucket, then the total (`+Inf`), and the sum.
    func snapshot() -> (cumulative: [UInt64], count: UInt64, sumSeconds: Double) {
        var cumulative: [UInt64] = []
        cumulative.reserveCapacity(buckets.count)
        var running: UInt64 = 0
        for slot in 0..<buckets.count {
            running &+= counts[slot].load(ordering: .relaxed)
            cumulative.append(running)
        }
        running &+= counts[buckets.count].load(ordering: .relaxed)
        return (cumulative, running, Double(sumMicroseconds.load(ordering: .relaxed)) / 1_000_000)
    }

    /// `seconds` in whole microseconds, rounded to nearest; NaN and negatives give 0, huge values saturate.
    static func microseconds(seconds: Double) -> UInt64 {
        wholeMicroseconds(seconds * 1_000_000)
    }

    /// `duration` in whole microseconds, rounded to nearest (halves up); negatives give 0, huge values saturate.
    /// One 128-bit division of `attoseconds` (about 50 instructions on every request's two observations);
    /// `Duration / Duration` converts both to Double (about 150), `components` divides twice (about 190).
    static func microseconds(_ duration: Duration) -> UInt64 {
        if #available(macOS 15, iOS 18, tvOS 18, watchOS 11, visionOS 2, *) {
            let attoseconds = duration.attoseconds
            guard attoseconds > 0 else { return 0 }
            let perMicrosecond: Int128 = 1_000_000_000_000
            let whole = attoseconds / perMicrosecond
            let roundsUp = attoseconds - whole * perMicrosecond >= perMicrosecond / 2
            return UInt64(clamping: roundsUp ? whole + 1 : whole)
        }
        return wholeMicroseconds(duration / .microseconds(1))
    }

    private static func wholeMicroseconds(_ microseconds: Double) -> UInt64 {
        guard microseconds > 0 else { return 0 }
        let rounded = microseconds.rounded()
        return rounded < 1.8e19 ? UInt64(rounded) : UInt64.max
    }
}
