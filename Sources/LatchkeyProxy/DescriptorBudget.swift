#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The process's file-descriptor limit (RLIMIT_NOFILE) against the connection cap.
///
/// Each client connection holds its own descriptor and, while it forwards or tunnels, an upstream one;
/// pooled upstream connections, listeners and files need a few more.
enum DescriptorBudget {
    /// Descriptors kept for listeners, pooled connections, state and secret files, logs.
    static let reserve = 64

    /// Raises the soft limit to the hard limit (as Go's runtime does): the soft default of 1024 is a relic of
    /// select(2), which the proxy does not use. Returns the soft limit in force afterwards.
    @discardableResult
    static func raiseSoftLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return Int.max }
        let target = min(limit.rlim_max, 1 << 20)  // an unlimited hard limit still stops at the kernel's nr_open
        if limit.rlim_cur < target {
            var raised = limit
            raised.rlim_cur = target
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        return Int(clamping: limit.rlim_cur)
    }

    /// The cap the descriptor limit can carry: two per connection after the reserve (at least 1).
    static func connectionsCarried(byDescriptorLimit limit: Int) -> Int {
        max(1, (limit - reserve) / 2)
    }

    /// Logs a warning when `max_connections` is more than the descriptor limit can carry: the listener then
    /// pauses on EMFILE instead of at the cap (it recovers, but connections wait).
    static func warnIfShort(maxConnections: Int, logger: Logger) {
        let limit = raiseSoftLimit()
        let carried = connectionsCarried(byDescriptorLimit: limit)
        guard maxConnections > carried else { return }
        logger.warning(
            "limits.max_connections is \(maxConnections) but the file-descriptor limit (\(limit)) carries about \(carried) connections; raise it (ulimit -n, LimitNOFILE=) or lower max_connections"
        )
    }
}
