import Yams

extension ConfigDecoder {
    /// `workers:` (`auto` or 1…64) and `event_loop:` (`epoll` | `dispatch`). Both take effect only at start:
    /// the reloader warns when a reload changes them.
    func decodeEventLoops(_ top: Fields, into configuration: inout ProxyConfiguration) {
        if let text = string(top, "workers") {
            if text.value == "auto" {
                configuration.workers = .auto
            } else if text.value.allSatisfy({ ("0"..."9").contains($0) || $0 == "-" || $0 == "+" || $0 == "_" }) {
                // A number: `int` names the range when it is outside it.
                if let count = int(top, "workers", in: ConfigBounds.workers) { configuration.workers = .fixed(count) }
            } else {
                fail(
                    text.node, text.path,
                    "expected 'auto' or a number of event loops from \(ConfigBounds.workers.lowerBound) to \(ConfigBounds.workers.upperBound), found '\(text.raw)'",
                    suggestion: EditDistance.nearest(to: text.value, in: ["auto"]).map { "did you mean '\($0)'?" })
            }
        }
        if let choice = choice(top, "event_loop", as: EventLoopChoice.self) {
            if choice.isAvailable {
                configuration.eventLoop = choice
            } else {
                fail(top["event_loop"], top.path("event_loop"), "'\(choice.rawValue)' exists only on Linux; use 'dispatch'")
            }
        }
    }
}
