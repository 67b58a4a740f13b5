import Synchronization

/// A gauge metric family (`# TYPE name gauge`). Values come from two sources, rendered together:
/// - children (`child(_:)`), integer gauges updated by the data path;
/// - an optional provider (`setProvider(_:)`) computing `(label values, value)` samples at scrape time,
///   e.g. seconds until each cached token expires.
/// Use one source per label combination: a provider sample with the same label values as a child
/// would render a duplicate series.
public final class GaugeFamily: MetricFamily {
    /// Computes samples at scrape time: label values (one per declared label, in order) → value.
    public typealias Provider = @Sendable () -> [(labelValues: [String], value: Double)]

    let descriptor: MetricDescriptor
    private let children: LabelledChildren<Gauge>
    private let provider = Mutex<Provider?>(nil)

    init(descriptor: MetricDescriptor) {
        self.descriptor = descriptor
        children = LabelledChildren(labelCount: descriptor.labelNames.count) { Gauge() }
    }

    /// The family's name.
    public var name: String { descriptor.name }

    /// The child for `labelValues`, created on first use under a lock; keep it for hot-path use.
    public func child(_ labelValues: [String]) -> Gauge {
        children.child(labelValues)
    }

    /// Installs (or, with `nil`, removes) the scrape-time provider, replacing any previous one.
    /// It is called on the scraping thread without any registry lock held; it must be quick, must not
    /// block on the data path, and samples with the wrong number of label values are dropped.
    public func setProvider(_ provider: Provider?) {
        self.provider.withLock { $0 = provider }
    }

    func render(into output: inout String) {
        descriptor.renderHeader(type: "gauge", into: &output)
        var samples = children.sorted().map { (labelValues: $0.labelValues, value: String($0.child.value)) }
        if let provider = provider.withLock({ $0 }) {
            let computed = provider().filter { $0.labelValues.count == descriptor.labelNames.count }
            samples += computed.map { (labelValues: $0.labelValues, value: ExpositionFormat.format($0.value)) }
            samples.sort { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
        }
        for sample in samples {
            let labels = ExpositionFormat.labelSet(names: descriptor.labelNames, values: sample.labelValues)
            output += "\(descriptor.name)\(labels) \(sample.value)\n"
        }
    }
}
