import Dispatch
import LatchkeyAuth
import Synchronization

/// A test clock: time moves only in `advance(by:)`, which runs due timers in deadline order on their
/// queues (synchronously, so the state they produce is visible when it returns). Never call it from a
/// timer's own queue.
final class ManualClock: TokenClock {
    private struct Item {
        var id: Int
        var deadline: Duration
        var queue: DispatchQueue
        var work: @Sendable () -> Void
    }
    private struct State {
        var now: Duration = .seconds(1000)
        var items: [Item] = []
        var nextID = 0
    }
    private let state = Mutex(State())
    static let wallOrigin = 1_700_000_000.0

    func now() -> MonotonicInstant { MonotonicInstant(sinceOrigin: state.withLock { $0.now }) }
    func wallClock() -> Double { Self.wallOrigin + state.withLock { Double($0.now.components.seconds) } }

    func schedule(after delay: Duration, on queue: DispatchQueue, _ work: @escaping @Sendable () -> Void) -> any Cancellable {
        let id = state.withLock { s in
            s.nextID += 1
            s.items.append(Item(id: s.nextID, deadline: s.now + delay, queue: queue, work: work))
            return s.nextID
        }
        return ManualCancellable(clock: self, id: id)
    }

    fileprivate func cancel(_ id: Int) { state.withLock { $0.items.removeAll { $0.id == id } } }

    /// Timers not yet fired or cancelled.
    var pendingTimers: Int { state.withLock { $0.items.count } }

    func advance(by delta: Duration) {
        let target = state.withLock { $0.now + delta }
        while true {
            let due: Item? = state.withLock { s in
                guard let index = s.items.indices.filter({ s.items[$0].deadline <= target })
                    .min(by: { s.items[$0].deadline < s.items[$1].deadline })
                else { return nil }
                let item = s.items.remove(at: index)
                s.now = max(s.now, item.deadline)
                return item
            }
            guard let due else { break }
            due.queue.sync(execute: due.work)
        }
        state.withLock { $0.now = target }
    }
}

private struct ManualCancellable: Cancellable {
    let clock: ManualClock
    let id: Int
    func cancel() { clock.cancel(id) }
}
