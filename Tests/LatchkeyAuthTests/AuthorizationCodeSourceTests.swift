import Foundation
import LatchkeyConfig
import Logging
import LatchkeyHTTP
import Testing

@testable import LatchkeyAuth

/// The authorization-code source on a manual clock, an in-memory token endpoint and a real state dir.
@Suite struct AuthorizationCodeSourceTests {
    static let tokenURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443, path: "/token")
    static let revokeURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443, path: "/revoke")
    static let key = [UInt8](repeating: 9, count: 32)

    static func settings(authorizeURL: String = "https://idp.example.com/authorize") -> OAuthAuthorizationCodeSettings {
        OAuthAuthorizationCodeSettings(
            client: OAuthClientSettings(
                tokenURL: tokenURL, clientID: "latchkey", clientSecret: ReloadableSecret(initial: SecretString("s")),
                scopes: ["contacts.read", "offline_access"]),
            authorizeURL: try! EndpointURL.parse(authorizeURL), revocationURL: revokeURL,
            authorizeParams: [("prompt", "consent")])
    }

    struct Fixture {
        let client: FakeTokenClient
        let clock = ManualClock()
        let store: StateFileStore
        let states: AuthorizationStateStore
        init(client: FakeTokenClient) throws {
            self.client = client
            store = try StateFileStore(directory: NSTemporaryDirectory() + "latchkey-src-\(UUID().uuidString)", key: AuthorizationCodeSourceTests.key)
            states = AuthorizationStateStore(clock: clock)
        }
        func make(settings: OAuthAuthorizationCodeSettings = AuthorizationCodeSourceTests.settings()) -> AuthorizationCodeSource {
            AuthorizationCodeSource(
                name: "crm", settings: settings, client: client, scrubber: SecretScrubber(), store: store,
                pendingAuthorizations: states,
                clock: clock, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }), random: { 0 })
        }
    }

    /// Issue 10 §1: the authorization endpoint keeps its trailing '/' and its own query; ours is appended.
    @Test(arguments: [
        ("http://127.0.0.1:8000/o/authorize/", "http://127.0.0.1:8000/o/authorize/?response_type=code&"),
        ("https://b2c.example/t/oauth2/v2.0/authorize?p=B2C_1_policy", "https://b2c.example/t/oauth2/v2.0/authorize?p=B2C_1_policy&response_type=code&"),
        ("https://idp.example/authorize?", "https://idp.example/authorize?response_type=code&"),
        ("https://idp.example/authorize?a=1&", "https://idp.example/authorize?a=1&response_type=code&"),
    ])
    func authorizationURLKeepsTheEndpointAsWritten(_ endpoint: String, _ prefix: String) async throws {
        let fixture = try Fixture(client: FakeTokenClient(responder: { _, _ in .success(TokenEndpointResponse(status: 500, headers: [], body: [])) }))
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let source = fixture.make(settings: Self.settings(authorizeURL: endpoint))
        let redirect = try await Self.await { source.authorizationURL(defaultRedirectURI: "http://127.0.0.1:9901/oauth/callback", completion: $0) }.get()
        #expect(redirect.url.hasPrefix(prefix), "\(redirect.url)")
    }

    static func await<T: Sendable>(_ start: (@escaping @Sendable (T) -> Void) -> Void) async -> T {
        await withCheckedContinuation { continuation in start { continuation.resume(returning: $0) } }
    }

    static func fetch(_ source: AuthorizationCodeSource) async -> Result<InjectedCredential?, CredentialError> {
        await Self.await { source.fetchCredential(for: .connectionDefault, timeout: .seconds(30), completion: $0) }
    }

    static func query(_ url: String) -> [String: String] {
        let items = URLComponents(string: url)?.queryItems ?? []
        // Form encoding: '+' is a space (URLComponents leaves it).
        return Dictionary(items.map { ($0.name, ($0.value ?? "").replacingOccurrences(of: "+", with: " ")) }, uniquingKeysWith: { a, _ in a })
    }

    static func tokens(access: String, refresh: String?) -> Result<TokenEndpointResponse, NetworkFailure> {
        var json: [String: Any] = ["access_token": access, "token_type": "Bearer", "expires_in": 3600, "scope": "contacts.read offline_access"]
        if let refresh { json["refresh_token"] = refresh }
        return .success(FakeTokenClient.json200(json))
    }

    @Test func consentRenewalWithRotationRestartAndInvalidGrant() async throws {
        // Requests: 1 code exchange, 2 refresh (rotates r1 -> r2), 3 refresh after restart: invalid_grant.
        let client = FakeTokenClient { request, index in
            switch index {
            case 1: return Self.tokens(access: "a1", refresh: "r1")
            case 2: return Self.tokens(access: "a2", refresh: "r2")
            default: return FakeTokenClient.providerError("invalid_grant", "refresh token was rotated", status: 400)
            }
        }
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let source = fixture.make()
        #expect(source.status().state == .needsConsent)
        guard case .failure(let consent) = await Self.fetch(source) else { Issue.record("fetch without consent"); return }
        #expect(consent.code == .needsConsent)
        #expect(consent.detail.contains("/connections/crm/connect"))
        #expect(client.requestCount == 0)

        // Consent.
        let redirect = try await Self.await { source.authorizationURL(defaultRedirectURI: "http://127.0.0.1:9901/oauth/callback", completion: $0) }.get()
        let query = Self.query(redirect.url)
        #expect(redirect.url.hasPrefix("https://idp.example.com/authorize?response_type=code&client_id=latchkey"))
        #expect(query["code_challenge_method"] == "S256")
        #expect(query["state"] == redirect.state)
        #expect(query["redirect_uri"] == "http://127.0.0.1:9901/oauth/callback")
        #expect(query["scope"] == "contacts.read offline_access")
        #expect(query["prompt"] == "consent")
        let outcome = try await Self.await { source.completeAuthorization(code: "c0de", state: redirect.state, completion: $0) }.get()
        #expect(outcome.hasRefreshToken && outcome.warning == nil)
        let exchange = client.requests[0]
        #expect(exchange.form("grant_type") == "authorization_code")
        #expect(exchange.form("code") == "c0de")
        #expect(exchange.form("redirect_uri") == "http://127.0.0.1:9901/oauth/callback")
        #expect(PKCE(verifier: try #require(exchange.form("code_verifier"))).challenge == query["code_challenge"])
        #expect(exchange.header("Authorization")?.hasPrefix("Basic ") == true)
        #expect(source.currentCredential(for: .connectionDefault)??.headerValue.value == "Bearer a1")
        #expect(source.status().state == .connected)
        #expect(fixture.store.load(connection: "crm").grant?.refreshToken == "r1")
        // The state was single use.
        guard case .failure(let reused) = await Self.await({ source.completeAuthorization(code: "c0de", state: redirect.state, completion: $0) }) else { Issue.record("state reused"); return }
        #expect(reused.code == .authorizationFailed && reused.detail.contains("already used"))

        // Background renewal at 48 min with rotation: the new refresh token is on disk.
        fixture.clock.advance(by: .seconds(2880))
        source.waitUntilIdle()
        #expect(client.requestCount == 2)
        #expect(client.requests[1].form("grant_type") == "refresh_token")
        #expect(client.requests[1].form("refresh_token") == "r1")
        #expect(source.currentCredential(for: .connectionDefault)??.headerValue.value == "Bearer a2")
        #expect(fixture.store.load(connection: "crm").grant?.refreshToken == "r2")

        // Restart: the file is loaded, no consent; the first fetch refreshes with r2, which is refused.
        let restarted = fixture.make()
        #expect(restarted.status().state == .connected)
        #expect(restarted.currentCredential(for: .connectionDefault) == nil)  // access tokens live in memory only
        guard case .failure(let refused) = await Self.fetch(restarted) else { Issue.record("invalid_grant ignored"); return }
        #expect(client.requests[2].form("refresh_token") == "r2")
        #expect(refused.code == .needsConsent && refused.detail.contains("reconnected"))
        let status = restarted.status()
        guard case .needsReconnect(let reason) = status.state else {
            Issue.record("expected needs_reconnect, got \(status.state)")
            return
        }
        #expect(reason.contains("invalid_grant: refresh token was rotated"))  // the provider's words, kept
        #expect(reason.contains("connect again"))  // and what to do
        // No retries: time passes and the restarted source sends nothing more with r2 (the first source,
        // still alive in this test, renews on its own schedule).
        fixture.clock.advance(by: .seconds(3600))
        #expect(restarted.status().counters.tokenRequested == 1)
        #expect(restarted.status().counters.tokenFetchFailed == 1)
        #expect(restarted.status().renewalInFlight == false)
    }

    @Test func disconnectRevokesAndForgets() async throws {
        let client = FakeTokenClient { request, index in
            index == 1 ? Self.tokens(access: "a1", refresh: "r1") : .success(TokenEndpointResponse(status: 200, headers: [], body: []))
        }
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let source = fixture.make()
        let redirect = try await Self.await { source.authorizationURL(defaultRedirectURI: "http://127.0.0.1/cb", completion: $0) }.get()
        _ = try await Self.await { source.completeAuthorization(code: "c", state: redirect.state, completion: $0) }.get()
        let outcome = try await Self.await { source.disconnect(completion: $0) }.get()
        #expect(outcome.revoked && outcome.stateFileProblem == nil)
        let revoke = client.requests[1]
        #expect(revoke.url == Self.revokeURL)
        #expect(revoke.form("token") == "r1")
        #expect(revoke.form("token_type_hint") == "refresh_token")
        #expect(revoke.header("Authorization")?.hasPrefix("Basic ") == true)
        #expect(fixture.store.load(connection: "crm") == .missing)
        #expect(source.currentCredential(for: .connectionDefault) == nil)
        #expect(source.status().state == .needsConsent)
        #expect(fixture.clock.pendingTimers == 0)
    }

    @Test func corruptStateFileIsReportedNotOverwrittenUntilConsent() async throws {
        let client = FakeTokenClient { _, _ in Self.tokens(access: "a1", refresh: "r-new") }
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let path = fixture.store.path(for: "crm")
        #expect(FileManager.default.createFile(atPath: path, contents: Data("LKS1\u{1}garbage-garbage-garbage-garbage".utf8)))
        let source = fixture.make()
        guard case .needsReconnect(let reason) = source.status().state else { Issue.record("not reported"); return }
        #expect(reason.contains("state file unusable"))
        _ = await Self.fetch(source)
        #expect(client.requestCount == 0)
        #expect(FileManager.default.contents(atPath: path) == Data("LKS1\u{1}garbage-garbage-garbage-garbage".utf8))
        // An explicit connect replaces it.
        let redirect = try await Self.await { source.authorizationURL(defaultRedirectURI: "http://127.0.0.1/cb", completion: $0) }.get()
        _ = try await Self.await { source.completeAuthorization(code: "c", state: redirect.state, completion: $0) }.get()
        #expect(fixture.store.load(connection: "crm").grant?.refreshToken == "r-new")
        #expect(source.status().state == .connected)
    }

    @Test func providerErrorOnExchangeIsShownAndStateUnchanged() async throws {
        let client = FakeTokenClient { _, _ in FakeTokenClient.providerError("invalid_grant", "PKCE verification failed", status: 400) }
        let fixture = try Fixture(client: client)
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let source = fixture.make()
        let redirect = try await Self.await { source.authorizationURL(defaultRedirectURI: "http://127.0.0.1/cb", completion: $0) }.get()
        guard case .failure(let error) = await Self.await({ source.completeAuthorization(code: "c", state: redirect.state, completion: $0) }) else { Issue.record("exchange succeeded"); return }
        #expect(error.code == .authorizationFailed)
        #expect(error.detail == "code exchange failed: invalid_grant: PKCE verification failed")
        #expect(source.status().state == .needsConsent)
        #expect(source.status().reason?.contains("PKCE verification failed") == true)
        let denied = source.rejectAuthorization(state: "nope", error: "access_denied", errorDescription: "user said no")
        #expect(denied.detail.contains("unknown or already used state"))
    }
}

extension StateFileStore.LoadResult {
    var grant: StoredGrant? {
        if case .loaded(let grant) = self { return grant }
        return nil
    }
}
