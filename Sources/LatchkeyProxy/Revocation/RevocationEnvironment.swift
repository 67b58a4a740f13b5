import LatchkeyMetrics
import LatchkeyTLS
import Logging

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
