import ArgumentParser
import Dispatch
import LatchkeyConfig
import LatchkeyProxy
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `latchkey run --config FILE`: load, validate, listen, serve until SIGTERM/SIGINT.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run", abstract: "Run the proxy.")

    @Option(name: .shortAndLong, help: "Path to the YAML config.")
    var config: String = "/etc/latchkey/proxy.conf"

    @Option(name: .long, help: "Override log_level (trace, debug, info, notice, warning, error, critical).")
    var logLevel: String?

    @Option(name: .long, help: "Override log_format (text, json).")
    var logFormat: String?

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: config)
        } catch {
            Output.error("latchkey: invalid configuration:\n\(error)")
            throw ExitCode(2)
        }
        guard let level = Logger.Level(rawValue: logLevel ?? configuration.logLevel) else {
            Output.error("latchkey: --log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            throw ExitCode(2)
        }
        guard let format = LatchkeyLogHandler.Format(rawValue: logFormat ?? configuration.logFormat) else {
            Output.error("latchkey: --log-format must be text or json")
            throw ExitCode(2)
        }
        LoggingSystem.bootstrap { label in LatchkeyLogHandler(label: label, level: level, format: format) }
        let logger = Logger(label: "latchkey")
        for warning in configuration.warnings { logger.warning("\(warning)") }

        let runtime: ProxyRuntime
        do {
            runtime = try RuntimeFactory.makeRuntime(
                configuration: configuration, metrics: LatchkeyMetrics(version: LatchkeyVersion.current), logger: logger)
        } catch {
            Output.error("latchkey: cannot start: \(error)")
            throw ExitCode(2)
        }
        let server = ProxyServer(runtime: runtime, logger: logger)
        let reloader = ConfigReloader(path: config, server: server, logger: logger)
        server.reloader = reloader
        reloader.onReloadStart = { SystemdNotifier.notify("RELOADING=1") }
        reloader.onReload = { _ in SystemdNotifier.notify("READY=1") }
        reloader.startWatching()
        let bound: ProxyServer.BoundAddresses
        do {
            bound = try server.start()
        } catch {
            Output.error("latchkey: cannot start: \(error)")
            throw ExitCode(2)
        }
        // Printed whatever the log level: scripts, probes and tests wait for these two lines.
        Output.error("proxy listening on \(bound.proxy)")
        if let admin = bound.admin { Output.error("admin listening on \(admin)") }
        logger.notice(
            "latchkey \(LatchkeyVersion.current) serving \(configuration.routes.count) routes, \(configuration.connections.count) connections from \(configuration.sourcePath)"
        )

        RuntimeFactory.warmUp(runtime, logger: logger)


        let signals = SignalHandlers(
            server: server, reloader: reloader, logger: logger, grace: .milliseconds(configuration.shutdownGraceMs))
        signals.install()
        // After the signal handlers: a SIGTERM right after READY must find them in place.
        SystemdNotifier.notify("READY=1")
        withExtendedLifetime(signals) { dispatchMain() }
    }
}

/// Bridges signals to the server through Dispatch signal sources: SIGHUP reloads; SIGTERM and SIGINT stop
/// accepting, let requests in flight finish (up to the grace period) and exit 0.
final class SignalHandlers: @unchecked Sendable {  // sources are created once and only read afterwards
    private let server: ProxyServer
    private let reloader: ConfigReloader
    private let logger: Logger
    private let grace: Duration
    private var sources: [any DispatchSourceSignal] = []

    init(server: ProxyServer, reloader: ConfigReloader, logger: Logger, grace: Duration) {
        self.server = server
        self.reloader = reloader
        self.logger = logger
        self.grace = grace
    }

    func install() {
        listen(SIGHUP) { [reloader] in reloader.reload(reason: "SIGHUP") }
        for signalNumber in [SIGTERM, SIGINT] {
            listen(signalNumber) { [server, logger, grace] in
                SystemdNotifier.notify("STOPPING=1")
                logger.notice("signal \(signalNumber): stopping; new connections are refused, requests in flight may finish within \(grace)")
                server.drain(grace: grace) { stillOpen in
                    if stillOpen > 0 {
                        logger.warning("grace period over: closing \(stillOpen) connection(s) still open")
                    }
                    logger.notice("stopped")
                    Output.flush()
                    exit(0)
                }
            }
        }
    }

    private func listen(_ signalNumber: Int32, _ handler: @escaping @Sendable () -> Void) {
        signal(signalNumber, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
        source.setEventHandler(handler: handler)
        source.activate()
        sources.append(source)
    }

    deinit { sources.forEach { $0.cancel() } }
}

/// Writes to stdout/stderr without touching the global `stdout`, which is not concurrency-safe.
enum Output {
    static func line(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
    }

    static func error(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    static func flush() { fflush(nil) }
}
