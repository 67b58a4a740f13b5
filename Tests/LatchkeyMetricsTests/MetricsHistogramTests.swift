import Testing

@testable import LatchkeyMetrics

extension MetricsTests {
    /// Bucket placement and the cumulative invariants Prometheus relies on.
    @Suite struct Histograms {
        let bounds = LatchkeyMetrics.durationBuckets

        @Test func bucketsAreCumulativeAndInfEqualsCount() {
            let histogram = MetricsRegistry().histogram("h", help: "H.", buckets: bounds).child([])
            var microseconds: UInt64 = 0
            for step in 0..<2_000 {
                let seconds = Double(step * step) / 100_000  // 0 ... ~40 s, dense near zero
                histogram.observe(seconds: seconds)
                microseconds += Histogram.microseconds(seconds: seconds)
            }
            let (cumulative, count, sum) = histogram.snapshot()
            #expect(count == 2_000)
            #expect(zip(cumulative, cumulative.dropFirst()).allSatisfy { $0 <= $1 })
            #expect(cumulative.last! <= count)
            #expect(sum == Double(microseconds) / 1_000_000)
            for (index, bound) in bounds.enumerated() {
                let expected = (0..<2_000).count { Double($0 * $0) / 100_000 <= bound }
                #expect(cumulative[index] == UInt64(expected), "le=\(bound)")
            }
        }

        @Test func boundsAreInclusiveAndDurationMatchesSeconds() {
            let histogram = MetricsRegistry().histogram("h", help: "H.", buckets: [0.001, 0.01]).child([])
            histogram.observe(.microseconds(1_000))
            histogram.observe(.nanoseconds(1_000_001))  // 1.000001 ms rounds to 1000 µs: still le=0.001
            histogram.observe(.microseconds(1_001))
            histogram.observe(seconds: 0.01)
            histogram.observe(.seconds(10))
            let (cumulative, count, _) = histogram.snapshot()
            #expect(cumulative == [2, 4])
            #expect(count == 5)
        }

        @Test func microsecondConversionSaturatesAndClamps() {
            #expect(Histogram.microseconds(seconds: -3) == 0)
            #expect(Histogram.microseconds(seconds: .nan) == 0)
            #expect(Histogram.microseconds(seconds: 1e300) == UInt64.max)
            #expect(Histogram.microseconds(seconds: 0.0000015) == 2)
            #expect(Histogram.microseconds(Duration.nanoseconds(1_499)) == 1)
            #expect(Histogram.microseconds(Duration.nanoseconds(1_500)) == 2)
            #expect(Histogram.microseconds(Duration.seconds(30)) == 30_000_000)
            #expect(Histogram.microseconds(Duration.nanoseconds(-1)) == 0)
            #expect(Histogram.microseconds(Duration.seconds(Int64.max)) == UInt64.max)
            let histogram = MetricsRegistry().histogram("h", help: "H.", buckets: [1]).child([])
            histogram.observe(.nanoseconds(1_499))
            histogram.observe(.seconds(-5))
            #expect(histogram.snapshot().sumSeconds == 0.000001)
        }
    }
}
