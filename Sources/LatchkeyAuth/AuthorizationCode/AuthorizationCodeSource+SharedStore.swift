import LatchkeyConfig

// Authorization code across replicas (issue 15): the grant lives in the shared store, refreshes run
// under the shared lease, a rotation reaches the store before its access token is used.
extension AuthorizationCodeSource {
    /// Shares this connection's grant and access tokens through `exchange`. Call right after init,
    /// before the source is shared.
    public func shareGrant(through exchange: SharedTokenExchange) {
        engine.shareTokens(through: exchange)
        sharedGrants = SharedGrantStore(exchange: exchange)
    }

    /// Brings the local grant in line with the store's, then runs `then` (on `queue`): adopts a newer
    /// grant (consent or rotation on another replica; also written to the state file), forgets ours when
    /// the store says it was disconnected after we got it, and puts ours back into an empty store. A
    /// store that does not answer changes nothing: the local grant is used.
    func syncGrant(from shared: SharedGrantStore, then: @escaping @Sendable () -> Void) {
        let generation = self.generation
        shared.load { result in
            self.engine.onQueue {
                defer { then() }
                guard generation == self.generation, case .success(let record) = result else { return }
                let ours = self.grant
                if let theirs = record?.grant {
                    guard theirs.refreshToken != ours?.refreshToken,
                        Digest.sha256(Array(theirs.refreshToken.utf8)) != self.rejectedGrant
                    else { return }
                    if let ours, ours.obtainedAt > theirs.obtainedAt {
                        return shared.save(ours) { _ in }  // ours is newer (written while the store was down)
                    }
                    if self.state != .connected {
                        // The engine still holds the refusal that ended our grant: clear it (no token is cached).
                        self.engine.reset(failingWaitersWith: self.consentError())
                    }
                    self.grant = theirs
                    self.state = .connected
                    self.lastProblem = nil
                    self.persist(theirs, after: "shared store sync")
                    self.logger.info("Took the grant from the shared store")
                } else if let disconnectedAt = record?.disconnectedAt {
                    guard let ours, ours.obtainedAt <= disconnectedAt else {
                        if let ours { shared.save(ours) { _ in } }
                        return
                    }
                    self.generation += 1
                    self.grant = nil
                    self.state = .needsConsent
                    try? self.store.remove(connection: self.connectionName)
                    self.engine.reset(failingWaitersWith: self.consentError())
                    self.logger.notice("Disconnected on another replica")
                } else if let ours {
                    shared.save(ours) { _ in }  // an empty store (restarted without persistence): refill it
                }
            }
        }
    }

    /// A rotated grant that did not reach the store (Redis down) is written again every second until it
    /// does, unless the grant changed meanwhile: replicas that lost the rotation race heal as soon as Redis
    /// answers, not at this replica's next renewal. On `queue`.
    func retrySharedSave(_ stored: StoredGrant, generation: UInt64) {
        _ = clock.schedule(after: Self.sharedSaveRetry, on: queue) { [weak self] in
            guard let self, let shared = self.sharedGrants, generation == self.generation, self.grant == stored else { return }
            shared.save(stored) { written in
                if !written { self.engine.onQueue { self.retrySharedSave(stored, generation: generation) } }
            }
        }
    }

    static let sharedSaveRetry = Duration.seconds(1)
}
