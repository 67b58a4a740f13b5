import Dispatch
import Foundation
import LatchkeyConfig
import LatchkeyProxy
import Logging
import Synchronization

/// Reloads the configuration on request (SIGHUP) and when the config file or a secret file changes.
///
/// A reload parses and validates the whole file first; on any error the running configuration stays, the
/// errors are logged with file, line and key, and `status` (shown by `/readyz` and the metrics) keeps them.
/// Requests in flight finish on the runtime they started with; connections whose settings did not change
/// keep their credential sources and cached tokens. Runs on its own serial queue.
public final class ConfigReloader: @unchecked Sendable {  // mutable state only on `queue`; `state` behind its Mutex
    /// What the last reload did.
    public struct Status: Sendable {
        public var successes = 0
        public var failures = 0
        /// The errors of the last failed reload, nil once a reload succeeds.
        public var lastError: String?
        public var lastReload: Date?
    }

    private let path: String
    private let server: ProxyServer
    private let factory: RuntimeFactory
    private let logger: Logger
    private let queue = DispatchQueue(label: "latchkey.reload")
    private let state = Mutex(Status())
    private var poller: DispatchSourceTimer?
    private var watched: [String: FileIdentity] = [:]
    private var pendingChange = false
    /// Paths seen changing since the last reload they triggered (logged before it).
    private var changedPaths: Set<String> = []
    /// `workers:` and `event_loop:` as the running loops were made from: a reload cannot change them.
    private let startedLoops: (workers: WorkerCount, eventLoop: EventLoopChoice)
    /// Called before and after every reload attempt (systemd's RELOADING=1 / READY=1). Set before watching.
    public var onReloadStart: (@Sendable () -> Void)?
    public var onReload: (@Sendable (_ success: Bool) -> Void)?

    /// - Parameter factory: builds each new runtime (the one that built the running one).
    public init(path: String, server: ProxyServer, factory: RuntimeFactory, logger: Logger) {
        self.path = path
        self.server = server
        self.factory = factory
        self.logger = logger
        let configuration = server.runtime.configuration
        startedLoops = (configuration.workers, configuration.eventLoop)
    }

    public var status: Status { state.withLock { $0 } }

    /// Reloads now (asynchronously, serialized with other reloads).
    public func reload(reason: String) {
        queue.async { self.performReload(reason: reason) }
    }

    /// Checks the config and secret files every `interval`; a change seen on one check and unchanged on the
    /// next (the writer is done) triggers a reload. Polling `stat` follows symlinks, so the Kubernetes
    /// ConfigMap pattern (`..data` swapped atomically) is seen like an ordinary rewrite.
    ///
    /// The first snapshot is taken before this returns: call it before the listeners come up, so that a
    /// change made right after start-up is never mistaken for the state that was loaded.
    public func startWatching(interval: Duration = .seconds(1)) {
        queue.sync { self.watched = self.currentIdentities() }
        queue.async {
            let timer = DispatchSource.makeTimerSource(queue: self.queue)
            let milliseconds = Int(interval.components.seconds * 1000)
            timer.schedule(deadline: .now() + .milliseconds(milliseconds), repeating: .milliseconds(milliseconds))
            timer.setEventHandler { [weak self] in self?.checkFiles() }
            timer.activate()
            self.poller = timer
        }
    }

    /// The config file, secret files, and the files TLS contexts are built from (`ProxyConfiguration.tlsFiles`:
    /// CA, client certificate and key files, the interception CA): a reload rebuilds every context, so a
    /// rotated file reaches new connections; a broken one fails the reload and the running contexts stay.
    private func watchedPaths() -> [String] {
        let configuration = server.runtime.configuration
        return [path] + configuration.secretFiles + configuration.tlsFiles
    }

    private func currentIdentities() -> [String: FileIdentity] {
        var identities: [String: FileIdentity] = [:]
        for path in watchedPaths() { identities[path] = FileIdentity(path: path) }
        return identities
    }

    private func checkFiles() {
        let now = currentIdentities()
        if now != watched {
            for path in Set(now.keys).union(watched.keys) where now[path] != watched[path] { changedPaths.insert(path) }
            watched = now
            pendingChange = true  // wait one more interval for the writer to finish
            return
        }
        if pendingChange {
            pendingChange = false
            let changed = changedPaths.sorted()
            changedPaths = []
            if !changed.isEmpty { logger.notice("changed: \(changed.joined(separator: ", ")); reloading") }
            performReload(reason: "file change")
        }
    }

    fileprivate func recordFailure(_ error: String) {
        state.withLock {
            $0.failures += 1
            $0.lastError = error
            $0.lastReload = Date()
        }
    }

    private func performReload(reason: String) {
        onReloadStart?()
        // Taken before reading: a write that races this load differs from it, and the next check reloads.
        let identitiesBeforeLoad = currentIdentities()
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: path, scrubber: factory.scrubber)
        } catch {
            // The error list is several `file:line:column: key: message` lines: they start on a line of their own.
            return reloadFailed(reason: reason, error: "\(error)", separator: "\n")
        }
        let previous = server.runtime
        let runtime: ProxyRuntime
        do {
            runtime = try factory.makeRuntime(configuration: configuration, previous: previous)
        } catch {
            return reloadFailed(reason: reason, error: "\(error)", separator: " ")
        }
        if configuration.listen != previous.configuration.listen || configuration.admin != previous.configuration.admin {
            logger.warning("listen and admin addresses change only with a restart; keeping the current listeners")
        }
        if configuration.workers != startedLoops.workers || configuration.eventLoop != startedLoops.eventLoop {
            let loops = server.group.loops.count
            logger.warning(
                "workers and event_loop change only with a restart; keeping \(loops) event loop\(loops == 1 ? "" : "s") (\(server.group.backend.rawValue))"
            )
        }
        for warning in configuration.warnings { logger.warning("\(warning)") }
        for notice in configuration.notices { logger.notice("\(notice)") }
        server.replaceRuntime(runtime)
        factory.warmUp(runtime)
        // Secret files the new config added are taken as they are now; files it dropped are no longer watched.
        let paths = Set(watchedPaths())
        var next = identitiesBeforeLoad.filter { paths.contains($0.key) }
        for path in paths where next[path] == nil { next[path] = FileIdentity(path: path) }
        watched = next
        let kept = configuration.connections.filter { previous.sources[$0.name] === runtime.sources[$0.name] }.count
        // State and metrics first: whoever reads the log line then sees the reload counted.
        state.withLock {
            $0.successes += 1
            $0.lastError = nil
            $0.lastReload = Date()
        }
        runtime.metrics.recordConfigReload(success: true)
        logger.notice(
            "configuration reloaded (\(reason)): \(configuration.routes.count) routes, \(configuration.connections.count) connections, \(kept) kept their credentials"
        )
        onReload?(true)
    }
}

extension ConfigReloader {
    /// A reload that found errors: the running configuration stays; the errors are logged and kept for
    /// `/readyz` until a reload succeeds.
    fileprivate func reloadFailed(reason: String, error: String, separator: String) {
        // State and metrics first: whoever reads the log line then sees the failure counted.
        recordFailure(error)
        server.runtime.metrics.recordConfigReload(success: false)
        logger.error("configuration reload (\(reason)) failed; still serving the previous configuration:\(separator)\(error)")
        onReload?(false)
    }
}

/// What identifies a file's content cheaply: device, inode, size and modification time (after symlinks).
private struct FileIdentity: Equatable {
    let device: UInt64
    let inode: UInt64
    let size: Int64
    let modifiedSeconds: Int
    let modifiedNanoseconds: Int

    init?(path: String) {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        device = UInt64(info.st_dev)
        inode = UInt64(info.st_ino)
        size = Int64(info.st_size)
        modifiedSeconds = Int(info.st_mtim.tv_sec)
        modifiedNanoseconds = Int(info.st_mtim.tv_nsec)
    }
}
