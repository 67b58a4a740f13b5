import Synchronization

/// What the registry needs from a family: its identity and its samples in exposition format.
protocol MetricFamily: Sendable {
    var descriptor: MetricDescriptor { get }
    /// Appends `# HELP`, `# TYPE` and the samples, children sorted by label values.
    func render(into output: inout String)
}

/// A family's name, help text and label names, validated once at registration.
struct MetricDescriptor: Sendable {
    let name: String
    let help: String
    let labelNames: [String]

    init(name: String, help: String, labelNames: [String]) {
        precondition(Self.isValid(name, allowColon: true), "invalid metric name '\(name)'")
        for label in labelNames {
            precondition(Self.isValid(label, allowColon: false) && !label.hasPrefix("__"), "invalid label '\(label)'")
        }
        precondition(Set(labelNames).count == labelNames.count, "duplicate label name in '\(name)'")
        self.name = name
        self.help = help
        self.labelNames = labelNames
    }

    /// `# HELP` and `# TYPE` lines.
    func renderHeader(type: String, into output: inout String) {
        output += "# HELP \(name) \(ExpositionFormat.escapeHelp(help))\n# TYPE \(name) \(type)\n"
    }

    /// Prometheus: metric names `[a-zA-Z_:][a-zA-Z0-9_:]*`, label names the same without `:`.
    private static func isValid(_ name: String, allowColon: Bool) -> Bool {
        guard let first = name.utf8.first, !(UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            return false
        }
        return name.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"):
                return true
            case UInt8(ascii: ":"): return allowColon
            default: return false
            }
        }
    }
}

/// The children of one family, keyed by label values. Lookup and creation take the lock; the children
/// themselves are lock-free, so callers on a hot path resolve a child once and keep it.
final class LabelledChildren<Child: Sendable & AnyObject>: Sendable {
    private let labelCount: Int
    private let make: @Sendable () -> Child
    private let children = Mutex<[[String]: Child]>([:])

    init(labelCount: Int, make: @escaping @Sendable () -> Child) {
        self.labelCount = labelCount
        self.make = make
        if labelCount == 0 { _ = child([]) }
    }

    /// The child for `labelValues` (one per declared label, in declaration order), created on first use.
    func child(_ labelValues: [String]) -> Child {
        precondition(labelValues.count == labelCount, "expected \(labelCount) label values, got \(labelValues.count)")
        return children.withLock { children in
            if let existing = children[labelValues] { return existing }
            let created = make()
            children[labelValues] = created
            return created
        }
    }

    /// All children, sorted by label values (lexicographically, first label first).
    func sorted() -> [(labelValues: [String], child: Child)] {
        let all = children.withLock { $0.map { (labelValues: $0.key, child: $0.value) } }
        return all.sorted { $0.labelValues.lexicographicallyPrecedes($1.labelValues) }
    }
}
