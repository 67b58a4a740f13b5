/// A histogram's fixed upper bounds, in seconds for the exposition and in whole microseconds for the
/// hot path (observations are compared as integers).
struct HistogramBuckets: Sendable {
    /// Bounds as declared, for the `le` label.
    let seconds: [Double]
    /// The same bounds in microseconds; an observation `v` falls in the first bucket with `v <= bound`.
    let microseconds: [UInt64]

    init(upperBounds: [Double]) {
        precondition(!upperBounds.isEmpty, "a histogram needs at least one bucket")
        precondition(upperBounds.allSatisfy { $0.isFinite && $0 >= 1e-6 }, "bucket bounds must be finite and >= 1µs")
        precondition(zip(upperBounds, upperBounds.dropFirst()).allSatisfy { $0 < $1 }, "bucket bounds must increase")
        seconds = upperBounds
        microseconds = upperBounds.map { Histogram.microseconds(seconds: $0) }
    }

    /// Index of the bucket for `microseconds`; `count` means the implicit `+Inf` bucket.
    @inline(__always) func index(of microseconds: UInt64) -> Int {
        var index = 0
        while index < self.microseconds.count, microseconds > self.microseconds[index] { index += 1 }
        return index
    }

    var count: Int { seconds.count }
}
