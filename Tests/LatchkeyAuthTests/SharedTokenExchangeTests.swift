import Dispatch
import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import Logging
import Synchronization
import Testing

@testable import LatchkeyAuth

/// A key-value store in memory with Redis's semantics for what the exchange uses (TTLs are ignored:
/// these tests end long before any). Answers asynchronously, like a network store; `down` fails every call.
final class InMemorySharedStore: SharedStoreBackend {
    private let values = Mutex<[String: [UInt8]]>([:])
    let down = Atomic<Bool>(false)
    private let queue = DispatchQueue(label: "in-memory-store")

    private func answer<T: Sendable>(_ completion: @escaping @Sendable (Result<T, SharedStoreFailure>) -> Void, _ body: @escaping @Sendable () -> T) {
        queue.async {
            if self.down.load(ordering: .relaxed) {
                return completion(.failure(SharedStoreFailure(reason: "store_unavailable", detail: "down")))
            }
            completion(.success(body()))
        }
    }

    func get(_ key: String, completion: @escaping @Sendable (Result<[UInt8]?, SharedStoreFailure>) -> Void) {
        answer(completion) { self.values.withLock { $0[key] } }
    }
    func put(_ key: String, value: [UInt8], ttl: Duration, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void) {
        answer(completion) { self.values.withLock { $0[key] = value } }
    }
    func acquireLease(_ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void) {
        answer(completion) {
            self.values.withLock { values in
                guard values[key] == nil else { return false }
                values[key] = Array(owner.utf8)
                return true
            }
        }
    }
    func renewLease(_ key: String, owner: String, ttl: Duration, completion: @escaping @Sendable (Result<Bool, SharedStoreFailure>) -> Void) {
        answer(completion) { self.values.withLock { $0[key] == Array(owner.utf8) } }
    }
    func releaseLease(_ key: String, owner: String) {
        answer({ (_: Result<Void, SharedStoreFailure>) in }) {
            self.values.withLock { if $0[key] == Array(owner.utf8) { $0[key] = nil } }
        }
    }
    func delete(_ key: String, completion: @escaping @Sendable (Result<Void, SharedStoreFailure>) -> Void) {
        answer(completion) { self.values.withLock { $0[key] = nil } }
    }
    var reachability: SharedStoreReachability {
        SharedStoreReachability(reachable: !down.load(ordering: .relaxed), lastFailure: nil, outages: 0)
    }
    var displayName: String { "memory" }
    /// Returns once every call made so far has been answered.
    func drain() { queue.sync {} }
    var allValues: [String: [UInt8]] { values.withLock { $0 } }
}

/// Several token managers (replicas) sharing one in-memory store: the exchange's lease, store hits,
/// rejected tokens and degraded mode, without sockets. Waits on counters, never on a fixed sleep.
@Suite struct SharedTokenExchangeTests {
    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
    static let sealer = SharedRecordSealer(key: Array(repeating: 3, count: 32))!

    static func replica(_ store: InMemorySharedStore, _ client: FakeTokenClient, _ name: String = "idp") -> (OAuthTokenManager, SharedTokenExchange) {
        let settings = OAuthTokenManagerTests.settings()
        let manager = OAuthTokenManager(name: name, settings: settings, client: client, scrubber: SecretScrubber(), logger: logger)
        let exchange = SharedTokenExchange(
            connectionName: name, settings: settings, backend: store, sealer: sealer, keyPrefix: "t/", leaseTTL: .seconds(10),
            logger: logger)
        manager.shareTokens(through: exchange)
        return (manager, exchange)
    }

    static func fetch(_ manager: OAuthTokenManager) -> Result<InjectedCredential?, CredentialError> {
        let outcome = Mutex<Result<InjectedCredential?, CredentialError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        manager.fetchCredential(for: .connectionDefault, timeout: .seconds(10)) { result in
            outcome.withLock { $0 = result }
            done.signal()
        }
        _ = done.wait(timeout: .now() + 15)
        return outcome.withLock { $0 } ?? .failure(CredentialError(.timeout, connection: "test", detail: "no answer"))
    }

    static func waitFor(_ what: String, _ condition: () -> Bool) {
        let deadline = Date().addingTimeInterval(10)
        while !condition() {
            if Date() > deadline { Issue.record("timed out waiting for \(what)"); return }
            usleep(2_000)
        }
    }

    @Test func threeReplicasAtAColdCacheMakeOneTokenRequest() throws {
        let store = InMemorySharedStore()
        let client = FakeTokenClient()  // holds requests until completed
        let replicas = (0..<3).map { _ in Self.replica(store, client) }
        let results = Mutex<[Result<InjectedCredential?, CredentialError>]>([])
        let group = DispatchGroup()
        for (manager, _) in replicas {
            group.enter()
            Thread.detachNewThread {  // not a Dispatch worker: blocking those starves the queues under test
                let result = Self.fetch(manager)
                results.withLock { $0.append(result) }
                group.leave()
            }
        }
        Self.waitFor("one request and two waiting replicas") {
            client.requestCount == 1 && replicas.map { $0.1.counters.leaseWaits }.reduce(0, +) == 2
        }
        client.completeNext(FakeTokenClient.token("shared-1"))
        #expect(group.wait(timeout: .now() + 15) == .success)
        #expect(client.requestCount == 1)
        let headers = results.withLock { $0 }.map { result -> String? in if case .success(let credential?) = result { return credential.headerValue.value }; return nil }
        #expect(headers == Array(repeating: "Bearer shared-1", count: 3))
        #expect(replicas.map { $0.1.counters.storeHits }.reduce(0, +) == 2)
        // Sealed: the token is nowhere in the store in clear.
        for value in store.allValues.values { #expect(!String(decoding: value, as: UTF8.self).contains("shared-1")) }
    }

    @Test func aTokenAnUpstreamRejectedIsNotTakenFromTheStoreAgain() throws {
        let store = InMemorySharedStore()
        let client = FakeTokenClient(responder: OAuthTokenManagerTests.counting())
        let (first, _) = Self.replica(store, client)
        let (second, secondExchange) = Self.replica(store, client)
        let t1 = try #require(try Self.fetch(first).get())
        #expect(try Self.fetch(second).get() == t1)  // from the store
        #expect(client.requestCount == 1 && secondExchange.counters.storeHits == 1)
        second.invalidate(t1, for: .connectionDefault)  // an upstream answered 401
        let renewed = try #require(try Self.fetch(second).get())
        #expect(renewed.headerValue.value == "Bearer t2")
        #expect(client.requestCount == 2)
    }

    @Test func storeDownFetchesAloneAndTheNextFetchResyncs() throws {
        let store = InMemorySharedStore()
        store.down.store(true, ordering: .relaxed)
        let client = FakeTokenClient(responder: OAuthTokenManagerTests.counting())
        let (first, firstExchange) = Self.replica(store, client)
        let (second, _) = Self.replica(store, client)
        #expect(try Self.fetch(first).get()?.headerValue.value == "Bearer t1")
        #expect(try Self.fetch(second).get()?.headerValue.value == "Bearer t2")  // each on its own
        store.drain()  // the degraded replicas' writes were made while the store was down
        #expect(firstExchange.counters.degradedFetches == 1 && store.allValues.isEmpty)
        store.down.store(false, ordering: .relaxed)
        let (third, thirdExchange) = Self.replica(store, client)
        #expect(try Self.fetch(third).get()?.headerValue.value == "Bearer t3")
        #expect(thirdExchange.counters.leaseFetches == 1)
        Self.waitFor("the record written") { thirdExchange.counters.storeWrites == 1 }  // written after it is handed out
        let (fourth, fourthExchange) = Self.replica(store, client)
        #expect(try Self.fetch(fourth).get()?.headerValue.value == "Bearer t3")
        #expect(fourthExchange.counters.storeHits == 1 && client.requestCount == 3)
    }

    @Test func storeKeysChangeWithTheSettingsThatDecideTheToken() {
        func keys(_ change: (inout OAuthClientSettings) -> Void) -> String {
            var settings = OAuthTokenManagerTests.settings()
            change(&settings)
            return SharedTokenExchange(
                connectionName: "idp", settings: settings, backend: InMemorySharedStore(), sealer: Self.sealer, keyPrefix: "t/",
                leaseTTL: .seconds(10), logger: Self.logger
            ).storeKeys(for: .connectionDefault).token
        }
        let base = keys { _ in }
        #expect(base.hasPrefix("t/token/idp/"))
        #expect(keys { $0.clientID = "other" } != base)
        #expect(keys { $0.scopes = ["admin"] } != base)
        #expect(keys { $0.audience = "https://api" } != base)
        #expect(keys { $0.timeoutMs = 1234 } == base)  // not about which token
        #expect(keys { $0.clientSecret = ReloadableSecret(initial: SecretString("rotated")) } == base)  // a rotated secret keeps the token
    }
}
