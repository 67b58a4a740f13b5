import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyRedis
import Logging
import Synchronization

/// The process's connection to `shared_store:`, made on first use and kept across reloads (a reload that
/// changes `shared_store:` gets a new client; connections whose settings did not change keep the store
/// they were built with until they change). One Dispatch loop of its own: store traffic is a few commands
/// per token lifetime and must never wait behind proxied traffic.
final class SharedStores: Sendable {
    private let loop = EventLoop(label: "latchkey.shared-store", backend: .dispatch)
    private let current = Mutex<(settings: SharedStoreSettings, store: RedisSharedStore)?>(nil)
    /// `latchkey_shared_store_attempts_total{connection,outcome}`.
    let attempts: CounterFamily
    private let logger: Logger

    /// Registers `latchkey_shared_store_up` and `latchkey_shared_store_attempts_total` (once per process).
    init(metrics: LatchkeyMetrics, logger: Logger) {
        self.logger = logger
        attempts = metrics.registry.counter(
            "latchkey_shared_store_attempts_total",
            help: "Token attempts by what the shared store gave: store_hit, lease_fetch, lease_wait, degraded_fetch, store_write.",
            labels: ["connection", "outcome"])
        let up = metrics.registry.gauge(
            "latchkey_shared_store_up", help: "1 while the shared store (shared_store:) answers, 0 while replicas work alone.")
        up.setProvider { [weak self] in
            guard let store = self?.active else { return [] }
            return [(labelValues: [], value: store.reachability.reachable ? 1 : 0)]
        }
    }

    /// The store for `settings`; fails when its TLS files do not load.
    func store(for settings: SharedStoreSettings) throws -> RedisSharedStore {
        try current.withLock { current in
            if let current, current.settings == settings { return current.store }
            let client: RedisClient
            do {
                client = try RedisClient(settings: settings, loop: loop)
            } catch {
                throw SharedStoreSetupError(reason: "shared_store.tls: \(error) (check ca_file, cert_file and key_file)")
            }
            let store = RedisSharedStore(client: client)
            current = (settings, store)
            logger.notice(
                "OAuth tokens are shared with other replicas through \(settings.displayURL) (key_prefix \(settings.keyPrefix))")
            return store
        }
    }

    /// The store in use, if any (for `/readyz` and metrics).
    var active: RedisSharedStore? { current.withLock { $0?.store } }
}

/// `shared_store:` could not be set up (its TLS files do not load); stops `run` and fails a reload.
struct SharedStoreSetupError: Error, CustomStringConvertible {
    var reason: String
    var description: String { reason }
}
