import LatchkeyAuth

/// `SharedStoreBackend` on Redis: plain `GET`/`SET PX`/`DEL`, leases with `SET NX PX`, and the
/// owner-checked lease renewal and release as Lua scripts (`EVAL`), atomic on the server.
public struct RedisSharedStore: SharedStoreBackend {
    public let client: RedisClient

    public init(client: RedisClient) { self.client = client }

    static let renewScript =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end"
    static let releaseScript =
        "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"
    public func get(_ key: String, completion: @escaping @Sendable (Result<[UInt8]?, SharedStoreFailure>) -> Void) {
        run(["GET", key]) { reply in
            switch reply {
            case .bulk(let bytes): return .success(bytes)
            case .null: return .success(nil)
            default: return nil
            }
        } completion: { completion($0) }
    }

    public func put(_ key: String, value: [UInt8], ttl: Duration, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void) {
        run([Array("SET".utf8), Array(key.utf8), value, Array("PX".utf8), Array("\(Self.milliseconds(ttl))".utf8)]) { reply in
            if case .status = reply { return .success(()) }
            return nil
        } completion: { completion($0) }
    }

    public func acquireLease(
        _ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void
    ) {
        run(["SET", key, owner, "NX", "PX", "\(Self.milliseconds(ttl))"]) { reply in
            switch reply {
            case .status: return .success(true)
            case .null: return .success(false)
            default: return nil
            }
        } completion: { completion($0) }
    }

    public func renewLease(
        _ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void
    ) {
        run(["EVAL", Self.renewScript, "1", key, owner, "\(Self.milliseconds(ttl))"], decode: Self.flag) { completion($0) }
    }

    public func releaseLease(_ key: String, owner: String) {
        run(["EVAL", Self.releaseScript, "1", key, owner], decode: Self.flag) { _ in }
    }

    public func delete(_ key: String, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void) {
        run(["DEL", key]) { reply in
            if case .integer = reply { return .success(()) }
            return nil
        } completion: { completion($0) }
    }

    public var reachability: SharedStoreReachability {
        let health = client.health
        return SharedStoreReachability(
            reachable: health.reachable, lastFailure: health.lastError.map(Self.failure), outages: health.outages)
    }

    public var displayName: String { client.settings.displayURL }

    /// `PING`, for `latchkey check`: the round trip's outcome.
    public func ping(completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void) {
        run(["PING"]) { reply in
            if case .status = reply { return .success(()) }
            return nil
        } completion: { completion($0) }
    }

    // MARK: Plumbing

    private static func flag(_ reply: RedisReply) -> Result<Bool, SharedStoreFailure>? {
        if case .integer(let value) = reply { return .success(value != 0) }
        return nil
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        max(1, duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000)
    }

    static func failure(_ error: RedisError) -> SharedStoreFailure {
        SharedStoreFailure(reason: error.shortDescription, detail: error.detail)
    }

    private func run<T>(
        _ arguments: [String], decode: @escaping @Sendable (RedisReply) -> Result<T, SharedStoreFailure>?,
        completion: @escaping @Sendable (Result<T, SharedStoreFailure>) -> Void
    ) {
        run(arguments.map { Array($0.utf8) }, decode: decode, completion: completion)
    }

    /// Runs one command; a reply `decode` does not expect (an error reply included) is a failure.
    private func run<T>(
        _ arguments: [[UInt8]], decode: @escaping @Sendable (RedisReply) -> Result<T, SharedStoreFailure>?,
        completion: @escaping @Sendable (Result<T, SharedStoreFailure>) -> Void
    ) {
        let command = RedisCommand(arguments)
        client.run(command) { result in
            switch result {
            case .failure(let error):
                completion(.failure(Self.failure(error)))
            case .success(let reply):
                if let decoded = decode(reply) { return completion(decoded) }
                let reason: String
                if case .error(let message) = reply { reason = message.split(separator: " ").first.map(String.init) ?? "ERR" } else { reason = "unexpected reply" }
                completion(.failure(SharedStoreFailure(reason: "store_refused", detail: "\(command.name): \(reason)")))
            }
        }
    }
}
