import LatchkeyAuth
import LatchkeyConfig
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

    /// The store for `settings`; fails when its TLS files do not load.
    func store(for settings: SharedStoreSettings) throws -> RedisSharedStore {
        try current.withLock { current in
            if let current, current.settings == settings { return current.store }
            let store = RedisSharedStore(client: try RedisClient(settings: settings, loop: loop))
            current = (settings, store)
            return store
        }
    }

    /// The store in use, if any (for `/readyz` and metrics).
    var active: RedisSharedStore? { current.withLock { $0?.store } }
}
