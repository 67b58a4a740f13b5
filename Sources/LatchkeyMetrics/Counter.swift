import Synchronization

/// One counter series (a family's child for fixed label values). Monotonic; wraps at 2^64.
///
/// Hot path: resolve the child once with `CounterFamily.child(_:)` and keep it; `increment` is a single
/// relaxed atomic add, no lock, no allocation. Relaxed is enough: a counter orders nothing else.
public final class Counter: Sendable {
    private let storage = Atomic<UInt64>(0)

    init() {}

    /// Adds `amount` (default 1). Any thread.
    public func increment(by amount: UInt64 = 1) {
        storage.wrappingAdd(amount, ordering: .relaxed)
    }

    /// The current value.
    public var value: UInt64 { storage.load(ordering: .relaxed) }
}
