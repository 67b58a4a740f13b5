/// A counter metric family (`# TYPE name counter`): one `Counter` per combination of label values.
/// Create through `MetricsRegistry.counter(_:help:labels:)`.
public final class CounterFamily: MetricFamily {
    let descriptor: MetricDescriptor
    private let children: LabelledChildren<Counter>

    init(descriptor: MetricDescriptor) {
        self.descriptor = descriptor
        children = LabelledChildren(labelCount: descriptor.labelNames.count) { Counter() }
    }

    /// The family's name.
    public var name: String { descriptor.name }

    /// The child for `labelValues` (one per declared label, in order), created on first use under a lock.
    /// Keep the result for hot-path use. Label values must be of bounded cardinality (config names,
    /// fixed enums), never client-controlled text.
    public func child(_ labelValues: [String]) -> Counter {
        children.child(labelValues)
    }

    /// Looks up the child and increments it: a lock per call, so for rare events only.
    public func increment(_ labelValues: [String], by amount: UInt64 = 1) {
        children.child(labelValues).increment(by: amount)
    }

    func render(into output: inout String) {
        descriptor.renderHeader(type: "counter", into: &output)
        for (labelValues, counter) in children.sorted() {
            let labels = ExpositionFormat.labelSet(names: descriptor.labelNames, values: labelValues)
            output += "\(descriptor.name)\(labels) \(counter.value)\n"
        }
    }
}
