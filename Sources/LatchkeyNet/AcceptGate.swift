/// Decides whether a listener may accept: below its connection cap and not out of descriptors.
///
/// A pure value stepped by the listener on its accept queue (and by tests one event at a time). Accepting
/// pauses at the cap (the kernel's backlog holds new connections) and when `accept` fails for lack of
/// descriptors or memory (EMFILE, ENFILE, ENOBUFS, ENOMEM); it resumes when a connection closes, or for
/// descriptors also when the retry timer fires. Each pause is reported once per episode: an episode ends
/// when a connection is accepted again.
public struct AcceptGate: Sendable, Equatable {
    /// Why the listener stopped accepting.
    public enum PauseReason: String, Sendable {
        case connectionCap = "max_connections"
        case outOfDescriptors = "out_of_descriptors"
    }

    /// The cap on open connections (at least 1).
    public private(set) var maxConnections: Int
    /// Connections accepted and not yet closed.
    public private(set) var open = 0
    /// Set by a failed `accept` until the retry timer fires or a connection closes.
    public private(set) var outOfDescriptors = false
    private var reported: Set<String> = []

    public init(maxConnections: Int) { self.maxConnections = max(1, maxConnections) }

    /// Whether `accept` may be called now.
    public var isOpen: Bool { !outOfDescriptors && open < maxConnections }

    /// Why accepting is paused, or nil when it is not.
    public var pauseReason: PauseReason? {
        if outOfDescriptors { return .outOfDescriptors }
        return open >= maxConnections ? .connectionCap : nil
    }

    /// A connection was accepted: ends the current pause episodes.
    public mutating func accepted() {
        open += 1
        reported.removeAll()
    }

    /// An accepted connection closed (its descriptor is being released).
    public mutating func closed() {
        open = max(0, open - 1)
        outOfDescriptors = false
    }

    /// `accept` failed for lack of descriptors or memory.
    public mutating func exhausted() { outOfDescriptors = true }

    /// The retry timer fired: try `accept` again.
    public mutating func retry() { outOfDescriptors = false }

    /// A new cap (a reload); connections above it are not closed, accepting waits until they drop below.
    public mutating func setMaxConnections(_ value: Int) { maxConnections = max(1, value) }

    /// Whether the current pause should be reported: true once per reason per episode.
    public mutating func shouldReportPause() -> Bool {
        guard let reason = pauseReason else { return false }
        return reported.insert(reason.rawValue).inserted
    }
}
