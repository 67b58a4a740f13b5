import Dispatch
import Foundation

/// One attempt going through the store: carries out `SharedFetchStateMachine`'s actions. Lives on the
/// exchange's queue; retained by the closures of the calls it has in flight, so it ends with the last one.
final class SharedFetch: @unchecked Sendable {
    // @unchecked Sendable: every field is touched only on `exchange.queue`.
    let exchange: SharedTokenExchange
    let key: CredentialKey
    let storeKeys: (token: String, lease: String)
    let fetch: @Sendable (@escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) -> Void
    let completion: @Sendable (Result<TokenGrant, CredentialError>) -> Void
    var machine: SharedFetchStateMachine
    let owner = UUID().uuidString
    var leaseRenewal: (any Cancellable)?
    var waited = false

    init(
        exchange: SharedTokenExchange, key: CredentialKey,
        fetch: @escaping @Sendable (@escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) -> Void,
        completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void
    ) {
        self.exchange = exchange
        self.key = key
        self.storeKeys = exchange.storeKeys(for: key)
        self.fetch = fetch
        self.completion = completion
        machine = SharedFetchStateMachine(maximumWait: exchange.leaseTTL)
    }

    func start() { handle(.start) }

    private func handle(_ event: SharedFetchStateMachine.Event) {
        dispatchPrecondition(condition: .onQueue(exchange.queue))
        let action = machine.event(event, now: exchange.clock.now(), wallNow: exchange.clock.wallClock())
        perform(action)
    }

    /// Delivers a completion on the exchange's queue.
    private func later(_ event: SharedFetchStateMachine.Event) {
        exchange.queue.async { self.handle(event) }
    }

    private func perform(_ action: SharedFetchStateMachine.Action) {
        let backend = exchange.backend
        switch action {
        case .read:
            backend.get(storeKeys.token) { result in
                self.later(.readFinished(result.map { $0.flatMap(self.open) }))
            }
        case .takeLease:
            backend.acquireLease(storeKeys.lease, owner: owner, ttl: exchange.leaseTTL) { self.later(.leaseFinished($0)) }
        case .pollAfter(let delay):
            if !waited {
                waited = true
                exchange.record(.leaseWait)
            }
            _ = exchange.clock.schedule(after: delay, on: exchange.queue) { self.handle(.pollDue) }
        case .use(let grant, let release):
            if release { backend.releaseLease(storeKeys.lease, owner: owner) }
            exchange.record(.storeHit)
            exchange.logger.debug("OAuth token taken from the shared store")
            completion(.success(grant))
        case .fetch(let shared):
            if shared {
                exchange.record(.leaseFetch)
                keepLease()
            } else {
                exchange.record(.degradedFetch)
                exchange.logger.warning(
                    "shared store unavailable; fetching a token for this replica alone",
                    metadata: ["latchkey.shared_store": "\(backend.reachability.lastFailure.map { "\($0)" } ?? "slow")"])
            }
            fetch { result in self.later(.fetchFinished(result)) }
        case .publish(let grant, let release):
            leaseRenewal?.cancel()
            exchange.storeToken(grant, key: storeKeys.token) {
                // Release only after the record is written: a waiter that then takes the lease finds it.
                if release { backend.releaseLease(self.storeKeys.lease, owner: self.owner) }
            }
            completion(.success(grant))
        case .fail(let error, let release):
            leaseRenewal?.cancel()
            if release { backend.releaseLease(storeKeys.lease, owner: owner) }
            completion(.failure(error))
        case .none:
            break
        }
    }

    /// A record that opens with our key and holds no token an upstream rejected here, or nil (absent,
    /// sealed with another key, or rejected: treated as absent, and overwritten by the next fetch).
    private func open(_ sealed: [UInt8]) -> SharedTokenRecord? {
        do {
            let record = try exchange.sealer.openRecord(sealed, as: SharedTokenRecord.self, storeKey: storeKeys.token)
            return exchange.isRejected(record, for: key) ? nil : record
        } catch {
            exchange.logger.warning("shared store record does not open with state_key; ignoring it", metadata: ["latchkey.reason": "\(error)"])
            return nil
        }
    }

    /// Renews the lease every third of its lifetime while the fetch runs (a slow provider must not let
    /// another replica start a second fetch).
    private func keepLease() {
        let interval = exchange.leaseTTL / 3
        leaseRenewal = exchange.clock.schedule(after: interval, on: exchange.queue) { [weak self] in
            guard let self, case .fetching = self.machine.state else { return }
            self.exchange.backend.renewLease(self.storeKeys.lease, owner: self.owner, ttl: self.exchange.leaseTTL) { _ in }
            self.keepLease()
        }
    }
}
