import Synchronization

/// One gauge series holding an integer (open connections, 1/0 flags, build info). Set or add from any
/// thread; each call is a single relaxed atomic operation, no lock, no allocation.
public final class Gauge: Sendable {
    private let storage = Atomic<Int64>(0)

    init() {}

    /// Replaces the value.
    public func set(_ value: Int64) {
        storage.store(value, ordering: .relaxed)
    }

    /// Adds `delta` (negative to subtract).
    public func add(_ delta: Int64) {
        storage.wrappingAdd(delta, ordering: .relaxed)
    }

    /// Adds one (e.g. a connection opened).
    public func increment() { add(1) }

    /// Subtracts one (e.g. a connection closed).
    public func decrement() { add(-1) }

    /// The current value.
    public var value: Int64 { storage.load(ordering: .relaxed) }
}
