/// An authorization-code connection's grant (its refresh token) in the shared store, sealed with
/// `state_key` like everything else there. The state file stays the local copy: a replica that cannot
/// reach the store keeps its last refresh token (issue 15: refresh tokens are never lost).
///
/// A disconnect leaves a tombstone rather than deleting the key: an empty store (a Redis restarted
/// without persistence) is refilled from a replica's local copy, while a tombstone newer than a replica's
/// grant tells it the grant was disconnected elsewhere.
struct SharedGrantStore: Sendable {
    /// The stored value: a grant, or the time of a disconnect.
    struct Record: Codable, Sendable {
        var grant: StoredGrant?
        var disconnectedAt: Double?

        enum CodingKeys: String, CodingKey {
            case grant
            case disconnectedAt = "disconnected_at"
        }
    }

    let exchange: SharedTokenExchange

    /// What the store holds: a record, `nil` (nothing: never consented, or the store lost its data), or a failure.
    func load(completion: @escaping @Sendable (Result<Record?, SharedStoreFailure>) -> Void) {
        let key = exchange.grantStoreKey
        exchange.backend.get(key) { result in
            completion(result.map { sealed in sealed.flatMap { try? exchange.sealer.openRecord($0, as: Record.self, storeKey: key) } })
        }
    }

    /// Writes `grant`; `completion` runs once the store answered (true: written).
    func save(_ grant: StoredGrant, completion: @escaping @Sendable (Bool) -> Void) {
        write(Record(grant: grant), completion: completion)
    }

    /// Replaces the grant with a tombstone and drops the shared access token (disconnect).
    func markDisconnected(at time: Double) {
        write(Record(disconnectedAt: time)) { _ in }
        exchange.backend.delete(exchange.storeKeys(for: .connectionDefault).token) { _ in }
    }

    /// Publishes a consent's access token for the other replicas.
    func shareAccessToken(_ grant: TokenGrant) {
        exchange.storeToken(grant, key: exchange.storeKeys(for: .connectionDefault).token)
    }

    private func write(_ record: Record, completion: @escaping @Sendable (Bool) -> Void) {
        let key = exchange.grantStoreKey
        guard let sealed = try? exchange.sealer.sealRecord(record, storeKey: key) else { return completion(false) }
        exchange.backend.put(key, value: sealed, ttl: .seconds(400 * 86_400)) { completion((try? $0.get()) != nil) }
    }
}
