/// A histogram metric family (`# TYPE name histogram`) of durations in seconds with fixed buckets.
/// Renders per child `name_bucket{...,le="b"}` cumulatively for each bound and `+Inf`, then `name_sum`
/// and `name_count`. Create through `MetricsRegistry.histogram(_:help:labels:buckets:)`.
public final class HistogramFamily: MetricFamily {
    let descriptor: MetricDescriptor
    private let buckets: HistogramBuckets
    private let children: LabelledChildren<Histogram>

    init(descriptor: MetricDescriptor, buckets: HistogramBuckets) {
        self.descriptor = descriptor
        self.buckets = buckets
        children = LabelledChildren(labelCount: descriptor.labelNames.count) { Histogram(buckets: buckets) }
    }

    /// The family's name.
    public var name: String { descriptor.name }

    /// The declared upper bounds, in seconds (without the implicit `+Inf`).
    public var upperBounds: [Double] { buckets.seconds }

    /// The child for `labelValues`, created on first use under a lock; keep it for hot-path use.
    public func child(_ labelValues: [String]) -> Histogram {
        children.child(labelValues)
    }

    func render(into output: inout String) {
        descriptor.renderHeader(type: "histogram", into: &output)
        let names = descriptor.labelNames
        let bucketName = descriptor.name + "_bucket"
        let bounds = buckets.seconds.map(ExpositionFormat.format) + ["+Inf"]
        for (labelValues, histogram) in children.sorted() {
            let (cumulative, count, sum) = histogram.snapshot()
            for (bound, total) in zip(bounds, cumulative + [count]) {
                let labels = ExpositionFormat.labelSet(names: names, values: labelValues, extra: ("le", bound))
                output += "\(bucketName)\(labels) \(total)\n"
            }
            let labels = ExpositionFormat.labelSet(names: names, values: labelValues)
            output += "\(descriptor.name)_sum\(labels) \(ExpositionFormat.format(sum))\n"
            output += "\(descriptor.name)_count\(labels) \(count)\n"
        }
    }
}
