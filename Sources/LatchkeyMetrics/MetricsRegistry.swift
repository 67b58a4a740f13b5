import Synchronization

/// Latchkey's own Prometheus registry and text exposition (format 0.0.4).
///
/// Why not swift-metrics + swift-prometheus: that is a dependency pair (an API package plus a backend,
/// each with its own release cadence) for about a dozen series. This file and its siblings are a few
/// hundred lines, and they give us what a proxy on every request's path needs:
/// - **allocation-free, lock-free hot path**: a child is resolved once (`family.child([...])`) and then
///   `increment()` / `observe(_:)` are single relaxed atomic adds. swift-metrics' `Counter(label:dimensions:)`
///   goes through a factory, boxes and (in swift-prometheus) a label-keyed lookup unless the caller caches;
/// - **exact control of names, labels and buckets**, so the series are a documented contract
///   (see `LatchkeyMetrics`) rather than whatever a backend's naming conventions produce;
/// - **stable output**: families in registration order, children sorted by label values.
///
/// Threading: every method may be called from any thread. Registration and first use of a label
/// combination take a `Mutex`; updates through a resolved child take none. `render()` reads each atomic
/// once, so a scrape concurrent with updates sees a recent value of each series (histograms stay
/// internally consistent: `_count` is derived from the same bucket reads as `_bucket`).
public final class MetricsRegistry: Sendable {
    /// The `Content-Type` of `render()`'s output.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let families = Mutex<[any MetricFamily]>([])

    /// An empty registry.
    public init() {}

    /// Registers a counter family. Names must match `[a-zA-Z_:][a-zA-Z0-9_:]*` and be unique in the
    /// registry; label names `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (both are preconditions:
    /// names are written in code, never taken from input). A family without labels has its single child
    /// created now, so it renders `0` before the first increment.
    public func counter(_ name: String, help: String, labels: [String] = []) -> CounterFamily {
        register(CounterFamily(descriptor: MetricDescriptor(name: name, help: help, labelNames: labels)))
    }

    /// Registers a gauge family (set/add through children, and/or computed at scrape time by a
    /// provider; see `GaugeFamily.setProvider(_:)`). Same naming rules as `counter(_:help:labels:)`.
    public func gauge(_ name: String, help: String, labels: [String] = []) -> GaugeFamily {
        register(GaugeFamily(descriptor: MetricDescriptor(name: name, help: help, labelNames: labels)))
    }

    /// Registers a duration histogram family with fixed upper bounds in seconds (finite, strictly
    /// increasing, each at least one microsecond; `+Inf` is implicit). `le` is reserved as a label name.
    public func histogram(_ name: String, help: String, labels: [String] = [], buckets: [Double]) -> HistogramFamily {
        precondition(!labels.contains("le"), "'le' is reserved for histogram buckets")
        let descriptor = MetricDescriptor(name: name, help: help, labelNames: labels)
        return register(HistogramFamily(descriptor: descriptor, buckets: HistogramBuckets(upperBounds: buckets)))
    }

    /// The whole registry in Prometheus text format 0.0.4 (serve it with `contentType`): for each
    /// family in registration order `# HELP`, `# TYPE`, then its samples sorted by label values.
    public func render() -> String {
        let snapshot = families.withLock { $0 }
        var output = ""
        output.reserveCapacity(256 * snapshot.count)
        for family in snapshot {
            family.render(into: &output)
        }
        return output
    }

    private func register<Family: MetricFamily>(_ family: Family) -> Family {
        families.withLock { families in
            let name = family.descriptor.name
            precondition(!families.contains { $0.descriptor.name == name }, "metric '\(name)' registered twice")
            families.append(family)
        }
        return family
    }
}
