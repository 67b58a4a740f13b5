import ArgumentParser
import Dispatch
import LatchkeyAdmin
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyProxy
import LatchkeyTLS
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
        SignalHandlers.blockHandledSignals()  // before any thread starts: see SignalHandlers
        // The composition root: everything process-wide is made here, once, and handed down.
        let scrubber = SecretScrubber()
        let output = Output(scrubber: scrubber)
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: config, scrubber: scrubber)
        } catch {
            output.error("latchkey: invalid configuration:\n\(error)")
            throw ExitCode(2)
        }
        guard let level = Logger.Level(rawValue: logLevel ?? configuration.logLevel) else {
            output.error("latchkey: --log-level must be one of \(Logger.Level.allCases.map(\.rawValue).joined(separator: ", "))")
            throw ExitCode(2)
        }
        guard let format = LatchkeyLogHandler.Format(rawValue: logFormat ?? configuration.logFormat) else {
            output.error("latchkey: --log-format must be text or json")
            throw ExitCode(2)
        }
        LoggingSystem.bootstrap { label in
            LatchkeyLogHandler(label: label, level: level, format: format, scrubber: scrubber)
        }
        let logger = Logger(label: "latchkey")
        for warning in configuration.warnings { logger.warning("\(warning)") }
        for notice in configuration.notices { logger.notice("\(notice)") }

        // One set of own listeners for the server and the token client: token requests never reach them.
        // The token client's loop is a Dispatch one: token traffic is rare and needs no thread of its own.
        let ownListeners = OwnListeners()
        let pendingAuthorizations = AuthorizationStateStore()
        let metrics = LatchkeyMetrics(version: LatchkeyVersion.current)
        let sharedStores = SharedStores(metrics: metrics, logger: logger)
        let tokenClient = UpstreamHTTPClient(
            loop: EventLoop(label: "latchkey.token-client", backend: .dispatch), ownListeners: ownListeners)
        let factory = RuntimeFactory(
            tokenClient: tokenClient,
            pendingAuthorizations: pendingAuthorizations, scrubber: scrubber,
            metrics: metrics, logger: logger, sharedStores: sharedStores, revocation: Self.revocation(ownListeners, logger))
        let runtime: ProxyRuntime
        do {
            runtime = try factory.makeRuntime(configuration: configuration)
        } catch {
            output.error("latchkey: cannot start: \(error)")
            throw ExitCode(2)
        }
        var loops = EventLoopPlan(workers: configuration.workers, eventLoop: configuration.eventLoop, budget: .current())
        let server = ProxyServer(
            runtime: runtime, logger: logger, scrubber: scrubber, ownListeners: ownListeners, loopCount: loops.count,
            backend: loops.backend)
        if server.group.backend != loops.backend {  // e.g. epoll_create1 refused (seccomp, out of descriptors)
            logger.warning("event_loop: \(loops.backend.rawValue) could not be set up; the loops use \(server.group.backend.rawValue)")
            loops.backend = server.group.backend
        }
        // Token requests use the running runtime's contexts: rebuilt by each reload (rotated TLS files included).
        tokenClient.useContexts { [server] in server.runtime.clientContexts[$0] }
        logger.notice("\(loops.summary)")
        if let warning = loops.warning { logger.warning("\(warning)") }
        let reloader = ConfigReloader(path: config, server: server, factory: factory, logger: logger)
        let admin = AdminService(
            server: server, pendingAuthorizations: pendingAuthorizations, lastReloadError: { reloader.status.lastError },
            sharedStore: { sharedStores.active?.reachability })
        reloader.onReloadStart = { SystemdNotifier.notify("RELOADING=1") }
        reloader.onReload = { [server] success in
            // A reload decoded YAML and built TLS contexts again: the binary's part of that goes back.
            if success {
                ColdPages.release(.executableColdCode, policy: server.runtime.configuration.coldPages, logger: logger)
            }
            SystemdNotifier.notify("READY=1")
        }
        reloader.startWatching()
        let bound: ProxyServer.BoundAddresses
        do {
            bound = try server.start(admin: admin)
        } catch {
            output.error("latchkey: cannot start: \(error)")
            throw ExitCode(2)
        }
        // Printed whatever the log level: scripts, probes and tests wait for these two lines.
        output.error("proxy listening on \(bound.proxy)")
        if let admin = bound.admin { output.error("admin listening on \(admin)") }
        logger.notice(
            "latchkey \(LatchkeyVersion.current) serving \(configuration.routes.count) routes, \(configuration.connections.count) connections from \(configuration.sourcePath)"
        )

        ColdPages.release(.fileMappings, policy: configuration.coldPages, logger: logger)
        factory.warmUp(runtime) { [server] fetches in
            // The first token fetches ran code start-up had not (the token client, JSON decoding, the trust
            // store of a token endpoint): it goes back too, as at the start, which this usually follows
            // within a second.
            guard fetches > 0 else { return }
            ColdPages.release(
                .fileMappings, policy: server.runtime.configuration.coldPages, logger: logger,
                occasion: " (after the first token fetches)")
        }
        // Token renewals, the admin API and rare paths bring cold code back now and then: it goes back every
        // few minutes (a page-table walk of the binary's code, well under a millisecond).
        let coldCodeTimer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "latchkey.cold-pages"))
        coldCodeTimer.schedule(deadline: .now() + ColdPages.period, repeating: ColdPages.period, leeway: .seconds(30))
        coldCodeTimer.setEventHandler { [server] in
            ColdPages.release(
                .executableColdCode, policy: server.runtime.configuration.coldPages, logger: logger, level: .debug,
                occasion: " (every \(ColdPages.period))")
        }
        coldCodeTimer.activate()

        let signals = SignalHandlers(
            server: server, reloader: reloader, logger: logger, grace: .milliseconds(configuration.shutdownGraceMs))
        // Signals have been blocked since the top of run(): one sent as soon as READY=1 is out stays
        // pending until waitForever() takes it.
        SystemdNotifier.notify("READY=1")
        signals.waitForever()
    }
}

/// Turns SIGHUP into a reload, and SIGTERM or SIGINT into a drain (stop accepting, let requests in
/// flight finish within the grace period, exit 0).
///
/// Not Dispatch signal sources: on Linux, libdispatch registers a signal source asynchronously and
/// then forwards each signal with `pthread_kill` to the worker thread that happened to register it.
/// A signal sent before the registration, or after that worker has exited, is lost: about one
/// SIGTERM in ten sent the instant READY=1 went out never stopped the proxy (seen in CI, then
/// reproduced under CPU load). Instead the three signals are blocked from the first line of `run`,
/// before any thread exists (threads inherit the mask, and libdispatch's workers block every signal
/// anyway), so a signal stays pending until the main thread takes it with sigwait(2).
final class SignalHandlers: Sendable {
    private static let handledSignals: [Int32] = [SIGHUP, SIGTERM, SIGINT]

    private let server: ProxyServer
    private let reloader: ConfigReloader
    private let logger: Logger
    private let grace: Duration
    private let queue = DispatchQueue(label: "latchkey.signals")

    init(server: ProxyServer, reloader: ConfigReloader, logger: Logger, grace: Duration) {
        self.server = server
        self.reloader = reloader
        self.logger = logger
        self.grace = grace
    }

    /// Blocks the handled signals on the calling thread and so on every thread started after it.
    /// Must run before the first thread is started.
    static func blockHandledSignals() {
        var set = signalSet()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Takes the handled signals one at a time, for ever. Handling runs on a serial queue so that a
    /// second signal (a SIGHUP during a drain) is still taken promptly.
    func waitForever() -> Never {
        var set = Self.signalSet()
        while true {
            var received: Int32 = 0
            guard sigwait(&set, &received) == 0 else { continue }
            let signalNumber = received
            queue.async { self.handle(signalNumber) }
        }
    }

    private func handle(_ signalNumber: Int32) {
        if signalNumber == SIGHUP {
            reloader.reload(reason: "SIGHUP")
            return
        }
        SystemdNotifier.notify("STOPPING=1")
        logger.notice("signal \(signalNumber): stopping; new connections are refused, requests in flight may finish within \(grace)")
        server.drain(grace: grace) { [logger] stillOpen in
            if stillOpen > 0 {
                logger.warning("grace period over: closing \(stillOpen) connection(s) still open")
            }
            logger.notice("stopped")
            Output.flush()
            exit(0)
        }
    }

    private static func signalSet() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        for signalNumber in handledSignals { sigaddset(&set, signalNumber) }
        return set
    }
}

/// Writes to stdout/stderr without touching the global `stdout`, which is not concurrency-safe.
/// The CLI's output, every line with the secret values known to `scrubber` (the command's, filled as it
/// loads the config) scrubbed: `check` prints provider errors, which may echo a client secret.
struct Output {
    let scrubber: SecretScrubber

    func line(_ text: String) { Self.unscrubbedLine(scrubber.scrub(text)) }

    /// For the one line that must go out as is: the consent URL `connect` prints (it names the client).
    static func unscrubbedLine(_ text: String) {
        let bytes = Array((text + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(1, $0.baseAddress, $0.count) }
    }

    func error(_ text: String) {
        let bytes = Array((scrubber.scrub(text) + "\n").utf8)
        bytes.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
    }

    static func flush() { fflush(nil) }
}

extension RunCommand {
    /// The process's revocation machinery: CRLs from distribution points are fetched by an HTTP client on a
    /// Dispatch loop of its own (never a data-path loop), which refuses the proxy's own listeners.
    static func revocation(_ ownListeners: OwnListeners, _ logger: Logger) -> RevocationEnvironment {
        let client = UpstreamHTTPClient(
            loop: EventLoop(label: "latchkey.crl-fetcher", backend: .dispatch), ownListeners: ownListeners)
        return RevocationEnvironment(
            cache: CRLCache(fetcher: CRLFetcher(client: client, logger: logger)), logger: logger)
    }
}
