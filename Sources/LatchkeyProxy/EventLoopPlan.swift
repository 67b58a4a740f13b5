import LatchkeyConfig
import LatchkeyNet

/// How many event loops the proxy runs, on which backend, and why: `workers:` and `event_loop:` from the
/// configuration, with `auto` resolved against the CPUs the process may use (`CPUBudget`).
///
/// Decided once at start; the loops cannot change while connections live on them, so a reload that changes
/// either key only logs a warning (`ConfigReloader`).
public struct EventLoopPlan: Sendable, Equatable {
    /// Loops to create, at least 1.
    public var count: Int
    public var backend: EventLoopBackend
    /// Why `count`: the budget's explanation, or the configured number and the budget beside it.
    public var reason: String
    /// Set when `workers:` asks for more loops than the process has CPUs: the extra loops only take turns.
    public var warning: String?

    /// The plan for `workers` and `eventLoop` on `budget`.
    public init(workers: WorkerCount, eventLoop: EventLoopChoice, budget: CPUBudget) {
        backend = Self.backend(eventLoop)
        switch workers {
        case .auto:
            count = budget.cpus
            reason = budget.explanation
            warning = nil
        case .fixed(let configured):
            count = max(1, configured)
            reason = "workers: \(configured) in the configuration (\(budget.explanation))"
            warning =
                configured > budget.cpus
                ? "workers: \(configured) is more than the \(budget.cpus) CPU\(budget.cpus == 1 ? "" : "s") this process may use (\(budget.explanation)); the extra event loops only take turns on them"
                : nil
        }
    }

    /// The start-up line: "2 event loops (epoll): affinity 2 CPUs, cgroup quota none".
    public var summary: String {
        "\(count) event loop\(count == 1 ? "" : "s") (\(backend.rawValue)): \(reason)"
    }

    /// The LatchkeyNet backend for a configured choice (LatchkeyConfig has its own enum: it does not depend
    /// on LatchkeyNet).
    public static func backend(_ choice: EventLoopChoice) -> EventLoopBackend {
        switch choice {
        case .epoll: .epoll
        case .dispatch: .dispatch
        }
    }
}
