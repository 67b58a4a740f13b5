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

    /// Writes the lines still batched (a graceful stop), then `completion`.
    func flush(then completion: @escaping @Sendable () -> Void) {
        guard let lines else { return completion() }
        lines.flush(then: completion)
    }

    func record(exchange: ForwardExchange, status: Int, outcome: String) {
        (exchange.machine.origin.route?.metrics ?? exchange.runtime.unmatchedMetrics).record(
            status: status, duration: exchange.elapsed, upstreamDuration: exchange.upstreamElapsed,
            attempts: exchange.attempts)
        if let lines {
            guard lines.writesInfo else { return }
            lines.info(on: exchange.loop) { line in Self.compose(exchange, status: status, outcome: outcome, into: &line) }
        } else {
            var line = MetadataLine()
            Self.compose(exchange, status: status, outcome: outcome, into: &line)
            logger.info("\(line.message)", metadata: line.metadata)
        }
    }

    /// The request's line: `METHOD host/path status`, then the fields sorted by key (the order the log
    /// handler gives metadata). Generic over where the line goes, so both paths write the same fields.
    private static func compose(
        _ exchange: ForwardExchange, status: Int, outcome: String, into line: inout some AccessLogLine
    ) {
        // Fields read in place from the machine's plans (a `let plan` would copy the whole plan).
        let endpoint = exchange.machine.plan.endpoint
        let route = exchange.machine.origin.route  // its fields were written when it was built
        // Each value read once (a read through the exchange is a retain and a release) and each key from one
        // `static let` (one lazy-initialisation check, not one per key).
        let method = exchange.method
        let host = exchange.machine.origin.clientHost
        let path = exchange.machine.origin.clientPath
        let keys = LogFieldKey.accessLine
        line.message(method)
        line.message(" " as StaticString)
        line.message(host)
        line.message(path)
        line.message(" " as StaticString)
        line.message(status)
        line.field(keys.attempts, exchange.attempts)
        line.field(keys.bytesIn, exchange.bytesFromClient)
        line.field(keys.bytesOut, exchange.bytesToClient)
        if let route { line.field(route.logFields.connection) } else { line.field(keys.connection, "-") }
        line.field(keys.durationMs, milliseconds(exchange.elapsed))
        line.field(keys.host, host)
        if exchange.machine.origin.intercepted { line.field(keys.intercepted, "true") }  // sorted: after host
        line.field(keys.method, method)
        line.field(keys.outcome, outcome)
        line.field(keys.path, path)
        if exchange.machine.requestHead.version == .http2 { line.field(keys.protocolName, "h2") }  // sorted: after path
        if let route { line.field(route.logFields.route) } else { line.field(keys.route, "-") }
        line.field(keys.status, status)
        if let upstream = route?.logFields.upstream, endpoint === route?.upstreamEndpoint {
            line.field(upstream)
        } else {
            line.field(keys.upstream, endpoint.scheme, "://", endpoint.authority)
        }
        if let upstream = exchange.upstreamElapsed {
            line.field(keys.upstreamMs, milliseconds(upstream))
        }
    }

    /// `protocolName`: `h2` for a request on an HTTP/2 stream (`latchkey.protocol`), nil for HTTP/1.x.
    func recordRejected(
        method: String, target: String, status: Int, error: String, runtime: ProxyRuntime, protocolName: String? = nil
    ) {
        runtime.unmatchedMetrics.record(status: status, duration: .zero, upstreamDuration: nil, attempts: 0)
        var metadata: Logger.Metadata = [
            LogKey.method: .string(method), LogKey.status: .string(String(status)), LogKey.outcome: .string(error),
        ]
        if let protocolName { metadata[LogKey.protocolName] = .string(protocolName) }
        // Without the query (it can carry keys) and without `user:password@` of an absolute-form target.
        logger.info(
            "\(method) \(LogRedaction.withoutUserInfo(RequestPlanner.pathOnly(target))) \(status)", metadata: metadata)
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

    /// Whole milliseconds, truncated (one 128-bit division, not `components`' two: every request's line
    /// has two of these).
    static func milliseconds(_ duration: Duration) -> Int {
        Int(duration.saturatingNanoseconds / 1_000_000)
    }
}

/// Where an access-log line is composed: the batched bytes (`LogLine`) or a `Logger` call (`MetadataLine`).
protocol AccessLogLine {
    mutating func message(_ text: String)
    mutating func message(_ text: StaticString)
    mutating func message(_ value: Int)
    mutating func field(_ key: LogFieldKey, _ value: String)
    mutating func field(_ key: LogFieldKey, _ value: Int)
    mutating func field(_ key: LogFieldKey, _ first: String, _ second: String, _ third: String)
    mutating func field(_ prepared: PreparedLogField)
}

extension LogLine: AccessLogLine {}

/// The access-log line as a message and `Logger.Metadata`, for loggers other than `LatchkeyLogHandler`.
struct MetadataLine: AccessLogLine {
    var message = ""
    var metadata: Logger.Metadata = [:]

    mutating func message(_ text: String) { message += text }
    mutating func message(_ text: StaticString) { message += text.description }
    mutating func message(_ value: Int) { message += String(value) }
    mutating func field(_ key: LogFieldKey, _ value: String) { metadata[key.name] = .string(value) }
    mutating func field(_ key: LogFieldKey, _ value: Int) { metadata[key.name] = .string(String(value)) }
    mutating func field(_ key: LogFieldKey, _ first: String, _ second: String, _ third: String) {
        metadata[key.name] = .string(first + second + third)
    }
    mutating func field(_ prepared: PreparedLogField) { metadata[prepared.key.name] = .string(prepared.value) }
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
