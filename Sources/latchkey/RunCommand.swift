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

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: config)
        } catch {
            Output.error("latchkey: invalid configuration:\n\(error)")
            throw ExitCode(2)
        }
        let level = Logger.Level(rawValue: logLevel ?? configuration.logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "latchkey")
        for warning in configuration.warnings { logger.warning("\(warning)") }

        let runtime: ProxyRuntime
        do {
            runtime = try RuntimeFactory.makeRuntime(configuration: configuration, logger: logger)
        } catch {
            Output.error("latchkey: cannot start: \(error)")
            throw ExitCode(2)
        }
        let server = ProxyServer(runtime: runtime, logger: logger)
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

        let signals = SignalHandlers(server: server, logger: logger)
        signals.install()
        withExtendedLifetime(signals) { dispatchMain() }
    }
}

/// Bridges SIGTERM/SIGINT to an orderly exit through Dispatch signal sources.
final class SignalHandlers: @unchecked Sendable {  // sources are created once and only read afterwards
    private let server: ProxyServer
    private let logger: Logger
    private var sources: [any DispatchSourceSignal] = []

    init(server: ProxyServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    func install() {
        for signalNumber in [SIGTERM, SIGINT] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .main)
            source.setEventHandler { [server, logger] in
                logger.notice("signal \(signalNumber): stopping")
                server.stopListening()
                Output.flush()
                exit(0)
            }
            source.activate()
            sources.append(source)
        }
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
