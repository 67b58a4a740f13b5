import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import Logging
import Synchronization
import Testing

@testable import LatchkeyAuth

/// Authorization code across two replicas sharing an in-memory store: a grant taken from the store,
/// refresh-token rotation under the lease (never a stale refresh token sent), disconnect seen by the other.
@Suite struct SharedGrantTests {
    typealias Fixture = AuthorizationCodeSourceTests.Fixture

    /// r1 -> (a1, r2), r2 -> (a2, r3), ...: each refresh token works once; a replayed one is invalid_grant.
    static func rotatingServer() -> FakeTokenClient {
        let used = Mutex<Set<String>>([])
        return FakeTokenClient { request, _ in
            if request.url.path == "/revoke" { return .success(TokenEndpointResponse(status: 200, headers: [], body: [])) }
            guard let refresh = request.form("refresh_token"), refresh.hasPrefix("r"), let n = Int(refresh.dropFirst()),
                used.withLock({ $0.insert(refresh).inserted })
            else { return FakeTokenClient.providerError("invalid_grant", "replayed or unknown", status: 400) }
            return AuthorizationCodeSourceTests.tokens(access: "a\(n)", refresh: "r\(n + 1)")
        }
    }

    static func replica(_ fixture: Fixture, _ store: InMemorySharedStore) -> AuthorizationCodeSource {
        let source = fixture.make()
        let exchange = SharedTokenExchange(
            connectionName: "crm", settings: AuthorizationCodeSourceTests.settings().client, backend: store,
            sealer: SharedTokenExchangeTests.sealer, keyPrefix: "t/", leaseTTL: .seconds(10), logger: SharedTokenExchangeTests.logger)
        source.shareGrant(through: exchange)
        return source
    }

    static func header(_ source: AuthorizationCodeSource) async -> String? {
        (try? await AuthorizationCodeSourceTests.fetch(source).get())??.headerValue.value
    }

    @Test func rotationIsSharedAndNoStaleRefreshTokenIsEverSent() async throws {
        let client = Self.rotatingServer()
        let store = InMemorySharedStore()
        let fixtureA = try Fixture(client: client)
        let fixtureB = try Fixture(client: client)
        defer { for f in [fixtureA, fixtureB] { try? FileManager.default.removeItem(atPath: f.store.directory) } }
        try fixtureA.store.save(
            StoredGrant(refreshToken: "r1", scope: nil, obtainedAt: 0, tokenURL: "https://idp.example.com/token", clientID: "latchkey"),
            connection: "crm")
        let a = Self.replica(fixtureA, store)
        let b = Self.replica(fixtureB, store)

        #expect(await Self.header(a) == "Bearer a1")  // refresh r1 -> a1, r2 (r2 stored before a1 is used)
        #expect(await Self.header(b) == "Bearer a1")  // B: no state file; grant and token from the store
        #expect(client.requestCount == 1)

        b.invalidate(InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a1")), for: .connectionDefault)
        #expect(await Self.header(b) == "Bearer a2")  // B refreshes with r2 under the lease
        a.invalidate(InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a1")), for: .connectionDefault)
        #expect(await Self.header(a) == "Bearer a2")  // A takes B's token: no refresh with its stale r2
        a.invalidate(InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a2")), for: .connectionDefault)
        #expect(await Self.header(a) == "Bearer a3")  // A syncs r3 from the store first
        #expect(client.requests.compactMap { $0.form("refresh_token") } == ["r1", "r2", "r3"])
        // B's state file got the grant too (refresh tokens are never only in Redis).
        guard case .loaded(let kept) = fixtureB.store.load(connection: "crm") else { Issue.record("no state file on B"); return }
        #expect(kept.refreshToken == "r3")

        // Disconnect on A: B stops at its next look at the store.
        _ = await AuthorizationCodeSourceTests.await { a.disconnect(completion: $0) }
        b.invalidate(InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer a2")), for: .connectionDefault)
        let after = await AuthorizationCodeSourceTests.fetch(b)
        guard case .failure(let error) = after else { Issue.record("B still serves a disconnected grant"); return }
        #expect(error.code == .needsConsent)
        #expect(fixtureB.store.load(connection: "crm") == .missing)
    }

    @Test func aRefusedRefreshTokenInTheStoreIsNotAdoptedAgain() async throws {
        // The provider refuses every refresh token (revoked out of band).
        let client = FakeTokenClient { _, _ in FakeTokenClient.providerError("invalid_grant", "revoked", status: 400) }
        let store = InMemorySharedStore()
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        try fixture.store.save(
            StoredGrant(refreshToken: "r1", scope: nil, obtainedAt: 0, tokenURL: "https://idp.example.com/token", clientID: "latchkey"),
            connection: "crm")
        let source = Self.replica(fixture, store)
        for _ in 0..<3 {
            guard case .failure(let error) = await AuthorizationCodeSourceTests.fetch(source) else { Issue.record("expected a failure"); return }
            #expect(error.code == .needsConsent)
        }
        #expect(client.requestCount == 1)
        // The store's copy of r1 (put back by the refresh's sync) is not adopted: still needs a reconnect.
        #expect(source.status().state.name == "needs_reconnect")
    }

    @Test func aReplicaWhoseRefreshWasRefusedHealsFromANewerGrantInTheStore() async throws {
        let client = Self.rotatingServer()
        let store = InMemorySharedStore()
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        // B lost a rotation race while the store was down: its refresh token is already retired.
        try fixture.store.save(
            StoredGrant(refreshToken: "retired", scope: nil, obtainedAt: 0, tokenURL: "https://idp.example.com/token", clientID: "latchkey"),
            connection: "crm")
        let b = Self.replica(fixture, store)
        guard case .failure = await AuthorizationCodeSourceTests.fetch(b) else { Issue.record("expected invalid_grant"); return }
        #expect(b.status().state.name == "needs_reconnect")
        // The store is back and replica A writes its newer grant.
        let a = SharedTokenExchange(
            connectionName: "crm", settings: AuthorizationCodeSourceTests.settings().client, backend: store,
            sealer: SharedTokenExchangeTests.sealer, keyPrefix: "t/", leaseTTL: .seconds(10), logger: SharedTokenExchangeTests.logger)
        let written = await AuthorizationCodeSourceTests.await { done in
            SharedGrantStore(exchange: a).save(
                StoredGrant(refreshToken: "r5", scope: nil, obtainedAt: 100, tokenURL: "https://idp.example.com/token", clientID: "latchkey"),
                completion: done)
        }
        #expect(written)
        #expect(await Self.header(b) == "Bearer a5")  // adopted r5, refreshed once under the lease
        #expect(b.status().state.name == "connected")
    }

    @Test func aRotationWrittenWhileTheStoreIsDownReachesItWhenItIsBack() async throws {
        let client = Self.rotatingServer()
        let store = InMemorySharedStore()
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        try fixture.store.save(
            StoredGrant(refreshToken: "r1", scope: nil, obtainedAt: 0, tokenURL: "https://idp.example.com/token", clientID: "latchkey"),
            connection: "crm")
        store.down.store(true, ordering: .relaxed)
        let a = Self.replica(fixture, store)
        #expect(await Self.header(a) == "Bearer a1")  // degraded: refreshed alone, r2 kept locally
        store.drain()
        #expect(store.allValues.isEmpty)
        store.down.store(false, ordering: .relaxed)
        // The retry runs on the source's (manual) clock: step it until the grant is in the store.
        let reader = SharedGrantStore(exchange: SharedTokenExchange(
            connectionName: "crm", settings: AuthorizationCodeSourceTests.settings().client, backend: store,
            sealer: SharedTokenExchangeTests.sealer, keyPrefix: "t/", leaseTTL: .seconds(10), logger: SharedTokenExchangeTests.logger))
        var stored: String?
        for _ in 0..<5 where stored == nil {
            fixture.clock.advance(by: .seconds(1))
            a.waitUntilIdle()
            store.drain()
            let record = await AuthorizationCodeSourceTests.await { done in reader.load { done((try? $0.get()) ?? nil) } }
            stored = record?.grant?.refreshToken
        }
        #expect(stored == "r2")
    }
}
