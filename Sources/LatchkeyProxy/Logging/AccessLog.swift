import LatchkeyHTTP
import LatchkeyMetrics
import LatchkeyNet
import Logging

/// Metadata keys, dotted and constant, so log pipelines can rely on them.
public enum LogKey {
    public static let route = "latchkey.route"
    public static let connection = "latchkey.connection"
    public static let method = "latchkey.method"
    public static let host = "latchkey.host"
    public static let path = "latchkey.path"
    public static let status = "latchkey.status"
    public static let upstream = "latchkey.upstream"
    public static let upstreamMs = "latchkey.upstream_ms"
    public static let durationMs = "latchkey.duration_ms"
    public static let bytesIn = "latchkey.bytes_in"
    public static let bytesOut = "latchkey.bytes_out"
    public static let outcome = "latchkey.outcome"
    public static let attempts = "latchkey.attempts"
    public static let client = "latchkey.client"
    public static let error = "latchkey.error"
}

/// One info line per request: route, connection, method, host, path (without query: queries can carry
/// keys), status, timings and bytes. Never a header value.
struct AccessLog: Sendable {
    let logger: Logger
    /// The batched path for the per-request line (nil: every line goes through `logger`).
    private let lines: AccessLogLines?

    init(logger: Logger, loops: [EventLoop] = []) {
        self.logger = logger
        self.lines = AccessLogLines(logger: logger, loops: loops)
    }

    func record(exchange: ForwardExchange, status: Int, outcome: String) {
        let plan = exchange.originalPlan
        (plan.route?.metrics ?? exchange.runtime.unmatchedMetrics).record(
            status: status, duration: exchange.elapsed, upstreamDuration: exchange.upstreamElapsed,
            attempts: exchange.attempts)
        if let lines, !lines.writesInfo { return }
        let path = plan.clientPath
        let message = "\(exchange.method) \(plan.clientHost)\(path) \(status)"
        // Sorted by key, as the log handler orders metadata.
        var fields: [(key: String, value: String)] = [
            (LogKey.attempts, String(exchange.attempts)),
            (LogKey.bytesIn, String(exchange.bytesFromClient)),
            (LogKey.bytesOut, String(exchange.bytesToClient)),
            (LogKey.connection, plan.connectionName ?? "-"),
            (LogKey.durationMs, String(Self.milliseconds(exchange.elapsed))),
            (LogKey.host, plan.clientHost),
            (LogKey.method, exchange.method),
            (LogKey.outcome, outcome),
            (LogKey.path, path),
            (LogKey.route, plan.routeName ?? "-"),
            (LogKey.status, String(status)),
            (LogKey.upstream, exchange.plan.endpoint.scheme + "://" + exchange.plan.endpoint.authority),
        ]
        if let upstream = exchange.upstreamElapsed {
            fields.append((LogKey.upstreamMs, String(Self.milliseconds(upstream))))
        }
        if plan.intercepted { fields.insert((LogKey.intercepted, "true"), at: 6) }  // sorted: after host
        if let lines {
            lines.info(message, sortedFields: fields, on: exchange.loop)
        } else {
            var metadata: Logger.Metadata = [:]
            for (key, value) in fields { metadata[key] = .string(value) }
            logger.info("\(message)", metadata: metadata)
        }
    }

    func recordRejected(method: String, target: String, status: Int, error: String, runtime: ProxyRuntime) {
        runtime.unmatchedMetrics.record(status: status, duration: .zero, upstreamDuration: nil, attempts: 0)
        // Without the query (it can carry keys) and without `user:password@` of an absolute-form target.
        logger.info(
            "\(method) \(LogRedaction.withoutUserInfo(RequestPlanner.pathOnly(target))) \(status)",
            metadata: [
                LogKey.method: .string(method), LogKey.status: .string(String(status)),
                LogKey.outcome: .string(error),
            ])
    }

    /// A CONNECT tunnel is up (the 200 is on its way): `CONNECT host:port open`.
    func recordTunnelOpen(host: String, port: Int) {
        logger.info(
            "CONNECT \(host):\(port) open",
            metadata: [
                LogKey.method: "CONNECT", LogKey.host: .string("\(host):\(port)"), LogKey.status: "200",
                LogKey.outcome: "tunnel_open",
            ])
    }

    /// A CONNECT tunnel ended: duration, bytes each way (`bytes_in` from the client) and why (`outcome`).
    func recordTunnelClose(
        host: String, port: Int, duration: Duration, bytesFromClient: Int, bytesToClient: Int, reason: String,
        runtime: ProxyRuntime
    ) {
        runtime.unmatchedMetrics.record(status: 200, duration: duration, upstreamDuration: nil, attempts: 1)
        logger.info(
            "CONNECT \(host):\(port) 200 closed: \(reason)",
            metadata: [
                LogKey.method: "CONNECT", LogKey.host: .string("\(host):\(port)"), LogKey.status: "200",
                LogKey.durationMs: .string(String(Self.milliseconds(duration))),
                LogKey.bytesIn: .string(String(bytesFromClient)), LogKey.bytesOut: .string(String(bytesToClient)),
                LogKey.outcome: .string(reason),
            ])
    }

    static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}

extension AccessLog {
    /// Header fields whose values never reach a log line, whatever their case (`LogRedaction` adds every
    /// credential-like name too).
    static let redactedFields: Set<String> = LogRedaction.credentialFields

    /// For routes with `debug: true`: one line per attempt's request head and per response head, with the
    /// values of credential-bearing fields (listed or credential-like by name, and the connection's own
    /// credential header), query values and user info redacted (`LogRedaction`).
    func debugHead(
        route: String, attempt: Int, direction: String, startLine: String, headers: HTTPHeaders,
        credentialHeader: String?
    ) {
        let secret = credentialHeader?.lowercased()
        let fields = headers.map { field -> String in
            let name = field.name.lowercased()
            if LogRedaction.isCredentialField(name) || name == secret { return "\(field.name): \(LogRedaction.placeholder)" }
            if LogRedaction.urlFields.contains(name) { return "\(field.name): \(LogRedaction.target(field.value))" }
            return "\(field.name): \(field.value)"
        }
        logger.notice(
            "debug \(direction) attempt \(attempt): \(LogRedaction.startLine(startLine)) | \(fields.joined(separator: " | "))",
            metadata: [LogKey.route: .string(route), LogKey.attempts: .stringConvertible(attempt)])
    }
}
