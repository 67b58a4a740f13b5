import Foundation
import LatchkeyConfig
import Logging
import Synchronization
import LatchkeyHTTP
import Testing

@testable import LatchkeyAuth

/// The token manager on a manual clock and an in-memory token endpoint: no sleeping anywhere.
@Suite struct OAuthTokenManagerTests {
    static let tokenURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443, path: "/token")

    static func settings(_ change: (inout OAuthClientSettings) -> Void = { _ in }) -> OAuthClientSettings {
        var s = OAuthClientSettings(tokenURL: tokenURL, clientID: "id", clientSecret: ReloadableSecret(initial: SecretString("s")))
        change(&s)
        return s
    }

    static func make(_ client: FakeTokenClient, _ clock: ManualClock, settings: OAuthClientSettings = settings()) -> OAuthTokenManager {
        OAuthTokenManager(name: "idp", settings: settings, client: client, scrubber: SecretScrubber(), clock: clock, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), random: { 0 })
    }

    /// Sequential tokens t1, t2, ... with the given lifetime.
    static func counting(expiresIn: Int? = 3600) -> FakeTokenClient.Responder {
        { _, index in FakeTokenClient.token("t\(index)", expiresIn: expiresIn) }
    }

    static func fetch(_ manager: OAuthTokenManager, _ key: CredentialKey = .connectionDefault, timeout: Duration = .seconds(30)) async
        -> Result<InjectedCredential?, CredentialError>
    {
        await withCheckedContinuation { continuation in
            manager.fetchCredential(for: key, timeout: timeout) { continuation.resume(returning: $0) }
        }
    }

    /// Starts a fetch, then moves the clock in `step`s (running timers: retries, the wait's end) until
    /// it is answered. Returns the result and the manual time it took.
    static func fetchAdvancing(
        _ manager: OAuthTokenManager, _ clock: ManualClock, _ key: CredentialKey = .connectionDefault,
        timeout: Duration = .seconds(30), step: Duration = .milliseconds(250)
    ) -> (Result<InjectedCredential?, CredentialError>, Duration) {
        let answer = Mutex<Result<InjectedCredential?, CredentialError>?>(nil)
        let started = clock.now()
        manager.fetchCredential(for: key, timeout: timeout) { r in answer.withLock { $0 = r } }
        for _ in 0..<100_000 {
            manager.waitUntilIdle()
            if let result = answer.withLock({ $0 }) { return (result, clock.now() - started) }
            clock.advance(by: step)
        }
        return (.failure(CredentialError(.timeout, connection: "test", detail: "never answered")), clock.now() - started)
    }

    static func bearer(_ token: String) -> InjectedCredential {
        InjectedCredential(headerName: "Authorization", headerValue: SecretString("Bearer " + token))
    }

    static func current(_ manager: OAuthTokenManager, _ key: CredentialKey = .connectionDefault) -> String? {
        manager.currentCredential(for: key)??.headerValue.value
    }

    @Test func singleFlightForAHundredConcurrentFetches() async throws {
        let client = FakeTokenClient()
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let results = Mutex<[Result<InjectedCredential?, CredentialError>]>([])
        let group = DispatchGroup()
        for _ in 0..<100 {
            DispatchQueue.global().async(group: group) {
                manager.fetchCredential(for: .connectionDefault, timeout: .seconds(30)) { r in results.withLock { $0.append(r) } }
            }
        }
        // All hundred calls are made before the answer; then let the manager's queue catch up.
        await withCheckedContinuation { c in group.notify(queue: .global()) { c.resume() } }
        manager.waitUntilIdle()
        #expect(results.withLock { $0.count } == 0)
        #expect(client.requestCount == 1)
        client.completeNext(FakeTokenClient.token("t1"))
        manager.waitUntilIdle()
        let all = results.withLock { $0 }
        #expect(all.count == 100)
        #expect(all.allSatisfy { (try? $0.get()) == Self.bearer("t1") })
        #expect(client.requestCount == 1)
        #expect(manager.status(for: .connectionDefault).counters == { var c = OAuthCounters(); c.tokenRequested = 1; c.tokenFetched = 1; return c }())
    }

    @Test func backgroundRenewalBeforeExpiryWithoutMakingRequestsWait() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        #expect(Self.current(manager) == nil)
        #expect(try await Self.fetch(manager).get() == Self.bearer("t1"))
        clock.advance(by: .seconds(2879))
        #expect(client.requestCount == 1)
        client.setResponder(nil)  // hold the renewal
        clock.advance(by: .seconds(1))  // 48 min: renewal starts
        #expect(client.requestCount == 2)
        // The renewal is in flight: the valid token is served at once, by both paths.
        #expect(Self.current(manager) == "Bearer t1")
        #expect(try await Self.fetch(manager).get() == Self.bearer("t1"))
        #expect(client.requestCount == 2)
        client.completeNext(FakeTokenClient.token("t2"))
        manager.waitUntilIdle()
        #expect(Self.current(manager) == "Bearer t2")
        // The next renewal is scheduled from the new token's issue.
        client.setResponder(Self.counting())
        clock.advance(by: .seconds(2880))
        #expect(client.requestCount == 3)
    }

    @Test func shortTokenRenewsAtHalfLifeAndExpires() async throws {
        let client = FakeTokenClient(responder: Self.counting(expiresIn: 5))
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        _ = try await Self.fetch(manager).get()
        clock.advance(by: .milliseconds(2499))
        #expect(client.requestCount == 1)
        client.setResponder(nil)
        clock.advance(by: .milliseconds(1))
        #expect(client.requestCount == 2)
        // Never injected in its last quarter (the 5 s skew, cut to a quarter of a short lifetime).
        clock.advance(by: .milliseconds(1249))
        #expect(Self.current(manager) == "Bearer t1")
        clock.advance(by: .milliseconds(1))  // 3.75 s: inside the skew, renewal still held
        #expect(Self.current(manager) == nil)
    }

    @Test func servesCachedTokenWhileEndpointFailsAndBacksOff() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        _ = try await Self.fetch(manager).get()
        client.setResponder { _, _ in .failure(NetworkFailure(reason: "connection refused")) }
        clock.advance(by: .seconds(2880))
        #expect(client.requestCount == 2)
        #expect(Self.current(manager) == "Bearer t1")
        #expect(try await Self.fetch(manager).get() == Self.bearer("t1"))
        // Retries at 1, 2, 4, 8 s after each failure.
        var expected = 2
        for delay in [1, 2, 4, 8] {
            clock.advance(by: .seconds(delay) - .milliseconds(1))
            #expect(client.requestCount == expected)
            clock.advance(by: .milliseconds(1))
            expected += 1
            #expect(client.requestCount == expected)
        }
        let status = manager.status(for: .connectionDefault)
        #expect(status.hasToken && status.counters.tokenFetchFailed == 5)
        #expect(status.lastError?.detail.contains("connection refused") == true)
        client.setResponder(Self.counting())
        clock.advance(by: .seconds(16))
        #expect(Self.current(manager) == "Bearer t7")  // 1 + renewal + 4 retries + this one
        #expect(manager.status(for: .connectionDefault).lastError == nil)
    }

    // Issue 10 §2 replaces "no token: fail fast": permanent failures still fail at once, but are
    // retried in the background on the slow schedule (30 s doubling to 5 min) instead of on demand.
    @Test func permanentFailureFailsAtOnceThenRetriesSlowlyInTheBackground() async throws {
        let client = FakeTokenClient(responder: { _, _ in FakeTokenClient.providerError("invalid_client", "Client authentication failed") })
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let first = await Self.fetch(manager, timeout: .seconds(30))
        guard case .failure(let error) = first else { return #expect(Bool(false)) }
        #expect(error.code == .providerError && error.kind == .permanent)
        #expect(error.detail == "invalid_client: Client authentication failed")
        // No loop: the last error at once, no new request, however often asked.
        for _ in 0..<5 {
            guard case .failure(let again) = await Self.fetch(manager) else { return #expect(Bool(false)) }
            #expect(again.detail == error.detail)
        }
        #expect(client.requestCount == 1)
        clock.advance(by: .milliseconds(29_999))
        #expect(client.requestCount == 1)
        clock.advance(by: .milliseconds(1))  // 30 s: the background retry, still refused
        #expect(client.requestCount == 2)
        clock.advance(by: .milliseconds(59_999))  // then 60 s
        #expect(client.requestCount == 2)
        client.setResponder(Self.counting())
        clock.advance(by: .milliseconds(1))
        #expect(client.requestCount == 3)
        #expect(Self.current(manager) == "Bearer t3")  // fixed meanwhile: served without a request waiting
        #expect(try await Self.fetch(manager).get() == Self.bearer("t3"))
    }

    @Test func permanentFailureBackoffCapsAtFiveMinutes() {
        #expect(Backoff.refused.delay(failures: 1, random: 0) == .seconds(30))
        #expect(Backoff.refused.delay(failures: 4, random: 0) == .seconds(240))
        #expect(Backoff.refused.delay(failures: 50, random: 0) == .seconds(300))
        #expect(Backoff.refused.delay(failures: 50, random: 0.99) >= .seconds(240))
    }

    @Test func transientFailuresAreRetriedWhileARequestWaitsHonouringRetryAfter() async throws {
        let client = FakeTokenClient()
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let answer = Mutex<Result<InjectedCredential?, CredentialError>?>(nil)
        manager.fetchCredential(for: .connectionDefault, timeout: .seconds(30)) { r in answer.withLock { $0 = r } }
        manager.waitUntilIdle()
        client.completeNext(.failure(NetworkFailure(reason: "connection refused")))
        manager.waitUntilIdle()
        #expect(answer.withLock { $0 } == nil)  // still waiting
        clock.advance(by: .milliseconds(249))
        #expect(client.requestCount == 1)
        clock.advance(by: .milliseconds(1))  // backoff 250 ms
        #expect(client.requestCount == 2)
        let busy = TokenEndpointResponse(
            status: 503, headers: [("Retry-After", "2")], body: Array(#"{"error":"temporarily_unavailable"}"#.utf8))
        client.completeNext(.success(busy))
        manager.waitUntilIdle()
        clock.advance(by: .milliseconds(1999))  // the backoff says 500 ms; Retry-After says 2 s: never sooner
        #expect(client.requestCount == 2)
        clock.advance(by: .milliseconds(1))
        #expect(client.requestCount == 3)
        client.completeNext(FakeTokenClient.token("t1"))
        manager.waitUntilIdle()
        #expect(try #require(answer.withLock { $0 }).get() == Self.bearer("t1"))
        #expect(manager.status(for: .connectionDefault).counters.tokenFetchFailed == 2)
    }

    @Test func theWaitEndsWithTheProvidersWordsAfterTokenWaitMs() throws {
        let client = FakeTokenClient(responder: { _, _ in
            FakeTokenClient.providerError("temporarily_unavailable", "maintenance", status: 503)
        })
        let clock = ManualClock()
        let manager = Self.make(client, clock, settings: Self.settings { $0.tokenWaitMs = 1000 })
        let (result, took) = Self.fetchAdvancing(manager, clock, step: .milliseconds(50))
        guard case .failure(let error) = result else { return #expect(Bool(false)) }
        #expect(error.code == .providerError && error.detail == "temporarily_unavailable: maintenance")
        // Attempts at 0, 0.25 and 0.75 s; the next (1.75 s) is past the wait, so the request is answered
        // then and there rather than held until 1 s.
        #expect(client.requestCount == 3)
        #expect(took == .milliseconds(750))
        // A request whose wait would end before the retry at 1.75 s gets the last error at once ...
        clock.advance(by: .milliseconds(50))
        let (early, none) = Self.fetchAdvancing(manager, clock, timeout: .milliseconds(900))
        #expect(none == .zero && (try? early.get()) == nil && client.requestCount == 3)
        // ... one that can wait for it waits, and gets the retry's answer.
        client.setResponder(Self.counting())
        let (late, waited) = Self.fetchAdvancing(manager, clock, step: .milliseconds(50))
        #expect(try late.get() == Self.bearer("t4") && waited == .milliseconds(950))
    }

    @Test func theWaitNeverOutlastsTheCallersTimeout() {
        let client = FakeTokenClient()
        let clock = ManualClock()
        let manager = Self.make(client, clock)  // token_wait_ms 10 s
        let (result, took) = Self.fetchAdvancing(manager, clock, timeout: .seconds(2), step: .milliseconds(100))
        guard case .failure(let error) = result else { return #expect(Bool(false)) }
        #expect(error.code == .timeout && took == .seconds(2))
    }

    @Test func tokenIsNeverInjectedInItsLastFiveSeconds() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let clock = ManualClock()
        let manager = Self.make(client, clock, settings: Self.settings { $0.refreshBeforeMs = 0 })
        _ = try await Self.fetch(manager).get()
        client.setResponder(nil)
        clock.advance(by: .milliseconds(3_594_999))
        #expect(Self.current(manager) == "Bearer t1" && client.requestCount == 1)
        clock.advance(by: .milliseconds(1))  // 3595 s: unusable, and renewed even though refresh_before_ms is 0
        #expect(Self.current(manager) == nil)
        #expect(client.requestCount == 2)
    }

    @Test func refusedRenewalKeepsServingTheValidTokenAndRetriesSlowly() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        _ = try await Self.fetch(manager).get()
        client.setResponder { _, _ in FakeTokenClient.providerError("invalid_client", "secret rotated", status: 401) }
        clock.advance(by: .seconds(2880))  // renewal: refused
        #expect(client.requestCount == 2 && Self.current(manager) == "Bearer t1")
        clock.advance(by: .milliseconds(29_999))
        #expect(client.requestCount == 2)
        clock.advance(by: .milliseconds(1))
        #expect(client.requestCount == 3 && Self.current(manager) == "Bearer t1")
    }

    @Test func aHerdOfColdKeysOpensAtMostFourTokenRequests() async throws {
        let client = FakeTokenClient()
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let results = Mutex<[String: Result<InjectedCredential?, CredentialError>]>([:])
        let keys = (0..<10).map { CredentialKey(scopes: ["s\($0)"]) }
        for key in keys {
            manager.fetchCredential(for: key, timeout: .seconds(30)) { r in results.withLock { $0[key.scopes![0]] = r } }
        }
        manager.waitUntilIdle()
        #expect(client.heldCount == OAuthTokenManager.maxConcurrentRequests)
        for n in 1...10 {
            client.completeNext(FakeTokenClient.token("t\(n)"))
            manager.waitUntilIdle()
            #expect(client.heldCount <= 4)
        }
        #expect(client.requestCount == 10)
        #expect(results.withLock { $0.count } == 10)
        #expect(results.withLock { $0.values.allSatisfy { (try? $0.get()) != nil } })
    }

    @Test func fetchTimesOutThenTheLateTokenIsCached() async throws {
        let client = FakeTokenClient()
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let pending = Task { await Self.fetch(manager, timeout: .seconds(2)) }
        while client.heldCount == 0 { await Task.yield() }
        clock.advance(by: .seconds(2))
        guard case .failure(let error) = await pending.value else { return #expect(Bool(false)) }
        #expect(error.code == .timeout)
        client.completeNext(FakeTokenClient.token("late"))
        manager.waitUntilIdle()
        #expect(Self.current(manager) == "Bearer late")
    }

    @Test func invalidateDropsOnlyTheCachedTokenAndRefetches() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        let t1 = try #require(try await Self.fetch(manager).get())
        manager.invalidate(t1, for: .connectionDefault)
        #expect(Self.current(manager) == nil)  // at once, before the queue hop
        #expect(try await Self.fetch(manager).get() == Self.bearer("t2"))
        manager.invalidate(t1, for: .connectionDefault)  // stale: ignored
        manager.waitUntilIdle()
        #expect(Self.current(manager) == "Bearer t2")
        #expect(client.requestCount == 2)
    }

    @Test func rotatedSecretIsUsedOnTheNextRequest() async throws {
        let secret = Mutex("first")
        let settings = Self.settings {
            $0.clientAuth = .clientSecretPost
            $0.clientSecret = ReloadableSecret(initial: SecretString("initial"), reload: { SecretString(secret.withLock { $0 }) })
        }
        let client = FakeTokenClient(responder: Self.counting())
        let manager = Self.make(client, ManualClock(), settings: settings)
        let t1 = try #require(try await Self.fetch(manager).get())
        secret.withLock { $0 = "second" }
        manager.invalidate(t1, for: .connectionDefault)
        _ = try await Self.fetch(manager).get()
        #expect(client.requests.map { $0.form("client_secret") } == ["first", "second"])
    }

    @Test func tokenWithoutExpiryIsReusedUntilInvalidated() async throws {
        let client = FakeTokenClient(responder: Self.counting(expiresIn: nil))
        let clock = ManualClock()
        let manager = Self.make(client, clock)
        _ = try await Self.fetch(manager).get()
        #expect(clock.pendingTimers == 0)
        clock.advance(by: .seconds(86_400 * 10))
        #expect(Self.current(manager) == "Bearer t1")
        #expect(manager.status(for: .connectionDefault).expiresAt == nil)
    }

    @Test func eachRouteKeyHasItsOwnTokenAndParameters() async throws {
        let client = FakeTokenClient(responder: Self.counting())
        let manager = Self.make(client, ManualClock(), settings: Self.settings { $0.scopes = ["base"] })
        let admin = CredentialKey(scopes: ["admin"], audience: "api2")
        #expect(try await Self.fetch(manager).get() == Self.bearer("t1"))
        #expect(try await Self.fetch(manager, admin).get() == Self.bearer("t2"))
        #expect(try await Self.fetch(manager).get() == Self.bearer("t1"))
        #expect(client.requests.map { $0.form("scope") } == ["base", "admin"])
        #expect(client.requests[1].form("audience") == "api2")
        #expect(manager.status().count == 2)
    }

    @Test func discoveryFillsTheTokenURL() async throws {
        let client = FakeTokenClient(responder: { request, index in
            switch request.url.requestTarget {
            case "/.well-known/oauth-authorization-server/tenant":
                return .success(TokenEndpointResponse(status: 404, headers: [], body: []))
            case "/tenant/.well-known/openid-configuration":
                return .success(FakeTokenClient.json200([
                    "issuer": "https://idp.example.com/tenant", "token_endpoint": "https://idp.example.com/tenant/token",
                ]))
            default: return FakeTokenClient.token("t\(index)")
            }
        })
        let settings = Self.settings {
            $0.tokenURL = nil
            $0.discoveryURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443, path: "/tenant")
        }
        let manager = Self.make(client, ManualClock(), settings: settings)
        let result = await withCheckedContinuation { c in manager.check { c.resume(returning: $0) } }
        let check = try result.get()
        #expect(check.tokenURL.description == "https://idp.example.com/tenant/token")
        #expect(check.expiresIn == .seconds(3600))
        #expect(client.requests.map(\.method) == ["GET", "GET", "POST"])
        #expect(client.requests[2].url.requestTarget == "/tenant/token")
        // Discovery is remembered.
        let t1 = try #require(try await Self.fetch(manager).get())
        manager.invalidate(t1, for: .connectionDefault)
        _ = try await Self.fetch(manager).get()
        #expect(client.requests.map(\.method) == ["GET", "GET", "POST", "POST"])
    }

    @Test func unreachableDiscoveryIsAClearError() async {
        let client = FakeTokenClient(responder: { _, _ in .failure(NetworkFailure(reason: "connection refused")) })
        let settings = Self.settings {
            $0.tokenURL = nil
            $0.discoveryURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443)
        }
        let clock = ManualClock()
        let manager = Self.make(client, clock, settings: settings)
        // Transient: retried while the request waits (three attempts of two well-known URLs each in 1 s).
        guard case .failure(let error) = Self.fetchAdvancing(manager, clock, timeout: .seconds(1)).0 else {
            return #expect(Bool(false))
        }
        #expect(error.detail.hasPrefix("discovery failed: https://idp.example.com/.well-known/oauth-authorization-server: connection refused"))
        #expect(client.requestCount == 6)
    }

    @Test func checkReportsTheProviderError() async {
        let client = FakeTokenClient(responder: { _, _ in FakeTokenClient.providerError("invalid_scope", "unknown scope x", status: 400) })
        let manager = Self.make(client, ManualClock())
        let result = await withCheckedContinuation { c in manager.check { c.resume(returning: $0) } }
        guard case .failure(let error) = result else { return #expect(Bool(false)) }
        #expect(error.description == "token_provider_error (connection idp): invalid_scope: unknown scope x")
    }

    @Test func plaintextTokenEndpointIsRefusedAtRunTime() async {
        let client = FakeTokenClient(responder: Self.counting())
        let settings = Self.settings { $0.tokenURL = EndpointURL(scheme: "http", host: "idp.example.com", port: 80, path: "/token") }
        let manager = Self.make(client, ManualClock(), settings: settings)
        guard case .failure(let error) = await Self.fetch(manager) else { return #expect(Bool(false)) }
        #expect(error.code == .misconfigured)
        #expect(client.requestCount == 0)
    }
}
