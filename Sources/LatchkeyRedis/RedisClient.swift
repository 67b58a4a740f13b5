import LatchkeyConfig
import LatchkeyNet
import LatchkeyTLS
import Synchronization

/// The process's client for `shared_store:`: one pipelined `RedisConnection` on a loop of its own, so
/// store traffic never waits behind proxied traffic. Callable from any thread; completions run on the loop.
public final class RedisClient: @unchecked Sendable {
    // @unchecked Sendable: `connection` is created and used on `loop` only; `health` is a Mutex.
    public let settings: SharedStoreSettings
    public let loop: EventLoop
    private var connection: RedisConnection?
    /// A reconnect probe is scheduled. Loop-confined.
    private var probeArmed = false
    private let tlsContext: TLSClientContext?
    private let healthState = Mutex<RedisHealth>(RedisHealth())

    /// Fails when the TLS files cannot be loaded.
    public init(settings: SharedStoreSettings, loop: EventLoop) throws(TLSError) {
        self.settings = settings
        self.loop = loop
        if settings.usesTLS {
            tlsContext = try TLSClientContext(
                configuration: TLSClientConfiguration(
                    caFile: settings.caFile, certificateFile: settings.certificateFile, privateKeyFile: settings.privateKeyFile))
        } else {
            tlsContext = nil
        }
    }

    /// Whether the store answered last time, and the last failure (for `/readyz`, metrics and logs).
    public var health: RedisHealth { healthState.withLock { $0 } }

    /// Runs `command`; `completion` runs on the client's loop.
    public func run(_ command: RedisCommand, completion: @escaping @Sendable (Result<RedisReply, RedisError>) -> Void) {
        loop.execute { [self] in
            if connection == nil {
                connection = RedisConnection(loop: loop, settings: settings, tlsContext: tlsContext) { [weak self] error in
                    self?.healthState.withLock { $0.record(error) }
                    if error != nil { self?.armProbe() }
                }
            }
            connection!.send(command) { result in
                if case .success(.error(let message)) = result, message.hasPrefix("NOAUTH") || message.hasPrefix("WRONGPASS") {
                    return completion(.failure(RedisError(.refused, "authentication required or refused")))
                }
                completion(result)
            }
        }
    }
}

extension RedisClient {
    /// While the store is down, a `PING` after each retry pause notices it is back (and says so in
    /// `/readyz` and metrics) without waiting for the next token renewal. On the loop.
    private func armProbe() {
        guard !probeArmed else { return }
        probeArmed = true
        _ = loop.schedule(after: RedisConnection.retryPause + .milliseconds(10)) { [weak self] in
            guard let self else { return }
            self.probeArmed = false
            if !self.health.reachable { self.run(RedisCommand("PING")) { _ in } }
        }
    }
}

/// The store's reachability as last seen.
public struct RedisHealth: Sendable {
    /// False after a failed connection or a timeout, until a connection comes up again.
    public var reachable = true
    public var lastError: RedisError?
    /// How many times the store went from reachable to unreachable.
    public var outages = 0

    mutating func record(_ error: RedisError?) {
        if let error {
            if reachable { outages += 1 }
            reachable = false
            lastError = error
        } else {
            reachable = true
        }
    }
}
