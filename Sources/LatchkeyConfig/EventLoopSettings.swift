/// `workers:` how many event loops serve connections.
public enum WorkerCount: Sendable, Equatable, CustomStringConvertible {
    /// One loop per CPU the process may use: its affinity mask capped by its cgroup CPU quota (the default).
    case auto
    /// Exactly this many loops (`ConfigBounds.workers`).
    case fixed(Int)

    /// `auto` or the number, as written in the file.
    public var description: String {
        switch self {
        case .auto: "auto"
        case .fixed(let count): "\(count)"
        }
    }
}

/// `event_loop:` how each loop waits for socket readiness and timers. Mirrors `EventLoopBackend` in
/// LatchkeyNet, which this target does not depend on.
public enum EventLoopChoice: String, Sendable, CaseIterable {
    /// One thread per loop blocking in `epoll_wait` (Linux only): the default there.
    case epoll
    /// Dispatch sources on a serial queue per loop: portable, and the default where epoll does not exist.
    case dispatch

    /// The choice when the file makes none.
    public static var platformDefault: EventLoopChoice {
        #if os(Linux)
        return .epoll
        #else
        return .dispatch
        #endif
    }

    /// Whether this platform has the mechanism.
    public var isAvailable: Bool {
        #if os(Linux)
        return true
        #else
        return self == .dispatch
        #endif
    }
}

/// `cold_pages:` what happens to the pages of code and read-only data that only starting or reloading
/// the proxy used (YAML decoding, TLS set-up, certificate parsing).
public enum ColdPagesPolicy: String, Sendable, CaseIterable {
    /// Handed back to the kernel (`madvise(MADV_PAGEOUT)`): after the start and the first token fetches, and
    /// (the binary's code only) after each reload and every five minutes. The default.
    case release
    /// Left resident until the kernel needs the memory.
    case keep
}
