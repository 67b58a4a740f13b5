/// How an `EventLoop` waits for socket readiness and timers.
///
/// Measured here (issue 11): Dispatch sources hand every event from libdispatch's manager thread to a
/// worker thread, about four context switches per proxied request, which caps a proxy near 0.6× nginx
/// on one CPU. A thread of our own blocking in `epoll_wait` does the same work with almost none.
public enum EventLoopBackend: String, Sendable, CaseIterable {
    /// One thread per loop blocking in `epoll_wait` (Linux): the data-path default.
    case epoll
    /// A serial Dispatch queue per loop with Dispatch read/write/timer sources: portable, and the
    /// fallback where epoll does not exist.
    case dispatch

    /// The backend used when the configuration does not choose one.
    public static var platformDefault: EventLoopBackend {
        #if os(Linux)
        return .epoll
        #else
        return .dispatch
        #endif
    }
}
