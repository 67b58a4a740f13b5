import LatchkeyTLS
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The last revocation result per route and upstream server name, for `/connections`, `GET /routes` and
/// `latchkey check`, plus the metric. One per process (it outlives reloads, like the CRL cache).
///
/// Thread-safe: reports arrive from any event loop; one `Mutex` around a bounded table.
public final class RevocationStatusBoard: Sendable {
    /// One remembered result.
    public struct Entry: Sendable {
        /// The route name, or `connection:NAME` for an OAuth connection's token endpoint.
        public var scope: String
        public var report: RevocationReport
        /// Seconds since the epoch when the handshake finished.
        public var at: time_t
    }

    /// At most this many (scope, server name) pairs are kept; the oldest goes first.
    public static let maxEntries = 1024
    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Remembers `report` as the latest for `scope` and its server name.
    public func record(scope: String, report: RevocationReport) {
        let now = time(nil)
        entries.withLock { entries in
            let key = "\(scope) \(report.serverName)"
            if entries[key] == nil, entries.count >= Self.maxEntries,
                let oldest = entries.min(by: { $0.value.at < $1.value.at })?.key
            {
                entries[oldest] = nil
            }
            entries[key] = Entry(scope: scope, report: report, at: now)
        }
    }

    /// The latest results for `scope`, one per upstream server name, sorted by name.
    public func entries(for scope: String) -> [Entry] {
        entries.withLock { Array($0.values) }.filter { $0.scope == scope }.sorted {
            $0.report.serverName < $1.report.serverName
        }
    }
}
