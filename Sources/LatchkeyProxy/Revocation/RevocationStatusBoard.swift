import LatchkeyMetrics
import LatchkeyTLS
import Logging
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

/// What revocation checking shares across runtimes (reloads): the distribution-point CRL cache and the
/// last results.
public struct RevocationEnvironment: Sendable {
    public var cache: CRLCache
    public var board: RevocationStatusBoard
    public var logger: Logger

    public init(
        cache: CRLCache, board: RevocationStatusBoard = RevocationStatusBoard(),
        logger: Logger = Logger(label: "latchkey.tls.revocation")
    ) {
        self.cache = cache
        self.board = board
        self.logger = logger
    }

    /// The services a context for `scope` (a route, `connection:NAME`, or the unmatched label) hands its
    /// handshakes: each report is counted, remembered, and logged unless good (a warning when the
    /// handshake failed or data was missing in `soft`: "logged and counted").
    func services(scope: String, metrics: LatchkeyMetrics) -> RevocationServices {
        let board = self.board
        let logger = self.logger
        return RevocationServices(cache: cache) { report in
            metrics.recordRevocationCheck(route: scope, result: report.result.rawValue)
            board.record(scope: scope, report: report)
            guard report.result != .good else { return }
            var metadata: Logger.Metadata = [
                "latchkey.route": "\(scope)", "latchkey.upstream": "\(report.serverName)",
                "latchkey.revocation": "\(report.result.rawValue)",
            ]
            metadata["latchkey.revocation_policy"] = "\(report.policy.rawValue)"
            let action = report.failedHandshake ? "refused" : "allowed (revocation: soft)"
            logger.warning("TLS revocation \(report.description); connection \(action)", metadata: metadata)
        }
    }

    /// No distribution-point fetching (tests, `check --offline`).
    public static func offline(logger: Logger = Logger(label: "latchkey.tls.revocation")) -> RevocationEnvironment {
        RevocationEnvironment(cache: CRLCache(fetcher: NoCRLFetching()), logger: logger)
    }
}
