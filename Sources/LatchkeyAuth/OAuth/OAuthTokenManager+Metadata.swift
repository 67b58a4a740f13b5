import Dispatch
import LatchkeyConfig

extension OAuthTokenManager {
    /// What discovery found for this connection, or nil (no `discovery_url`, or not discovered yet).
    /// Waits on the manager's queue: call from any other queue (e.g. after `check` completed).
    public func discoveredMetadata() -> Discovery.Metadata? {
        dispatchPrecondition(condition: .notOnQueue(queue))
        return queue.sync { discovered }
    }

    /// Whether this connection finds its endpoints by discovery.
    public var usesDiscovery: Bool { settings.tokenURL == nil && settings.discoveryURL != nil }
}
