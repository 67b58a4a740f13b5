import LatchkeyAuth
import LatchkeyConfig
import LatchkeyNet
import LatchkeyProxy

/// The admin listener's service: each connection accepted there becomes an `AdminConnection` answering
/// from `AdminAPI`. What the endpoints read and reach is handed in by the composition root: the server
/// (current runtime, bound admin address, scrubber), the process's consent `state` store and the reload
/// status.
public final class AdminService: AdminConnectionHandler {
    let server: ProxyServer
    /// Where the OAuth callback finds the connection a `state` belongs to (the `RuntimeFactory`'s store).
    let pendingAuthorizations: AuthorizationStateStore
    /// The errors of the last failed reload, nil after a success or before any, for `/readyz`.
    let lastReloadError: @Sendable () -> String?
    /// The shared store's reachability for `/readyz` (nil: no `shared_store:`).
    let sharedStore: @Sendable () -> SharedStoreReachability?

    public init(
        server: ProxyServer, pendingAuthorizations: AuthorizationStateStore,
        lastReloadError: @escaping @Sendable () -> String? = { nil },
        sharedStore: @escaping @Sendable () -> SharedStoreReachability? = { nil }
    ) {
        self.sharedStore = sharedStore
        self.server = server
        self.pendingAuthorizations = pendingAuthorizations
        self.lastReloadError = lastReloadError
    }

    /// Every answer but a consent redirect is scrubbed with the server's scrubber.
    var scrubber: SecretScrubber { server.scrubber }

    public func serve(_ connection: TCPConnection) {
        AdminConnection(stream: connection, service: self).start()
    }
}
