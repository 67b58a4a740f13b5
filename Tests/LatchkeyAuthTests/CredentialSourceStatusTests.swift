import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import Logging
import Testing

@testable import LatchkeyAuth

/// Issue 11: what the admin API, consent endpoints and `check` need is asked of `any CredentialSource`,
/// never by casting to a concrete class. Each source answers for itself.
@Suite struct CredentialSourceStatusTests {
    /// Every source as the callers see it: an existential, no class in sight.
    static func erased(_ source: any CredentialSource) -> any CredentialSource { source }

    @Test func staticAndUnavailableSourcesHaveNoTokenNoConsentAndNothingToCheck() {
        let sources: [any CredentialSource] = [
            StaticCredentialSource(
                settings: ConnectionSettings(name: "b", kind: .bearer(token: SecretString("t0k3n"))), scrubber: SecretScrubber()),
            UnavailableCredentialSource(error: CredentialError(.misconfigured, connection: "u", detail: "state_dir")),
        ]
        for source in sources {
            #expect(source.sourceStatus.accessTokenExpiresAt == nil)
            #expect(source.consent == nil)
            #expect(source.providerCheck == nil)
        }
        guard case .fixed = sources[0].sourceStatus else {
            Issue.record("static: \(sources[0].sourceStatus)")
            return
        }
        // An unavailable source reports why, so that /connections/health can say it (issue 14 §1).
        guard case .unavailable(let reason) = sources[1].sourceStatus else {
            Issue.record("unavailable: \(sources[1].sourceStatus)")
            return
        }
        #expect(reason == "state_dir")
    }

    @Test func aTokenManagerReportsItsDefaultKeyAndCanBeChecked() async throws {
        let clock = ManualClock()
        let manager = OAuthTokenManagerTests.make(FakeTokenClient(responder: OAuthTokenManagerTests.counting()), clock)
        let source = Self.erased(manager)
        guard case .token(let before) = source.sourceStatus else {
            Issue.record("expected .token, got \(source.sourceStatus)")
            return
        }
        #expect(!before.hasToken && before.counters.tokenRequested == 0)
        #expect(source.consent == nil)
        let check = try #require(source.providerCheck)
        let outcome = await withCheckedContinuation { continuation in
            check.check(timeout: nil) { continuation.resume(returning: $0) }
        }
        #expect(try outcome.get().tokenURL == OAuthTokenManagerTests.tokenURL)
        #expect(check.discoveryReport() == nil)  // a configured token_url: no discovery to report
        guard case .token(let after) = source.sourceStatus else {
            Issue.record("expected .token")
            return
        }
        #expect(after.hasToken && after.counters.tokenFetched == 1)
        let expiresAt = try #require(source.sourceStatus.accessTokenExpiresAt)
        #expect(expiresAt == after.expiresAt)
    }

    @Test func anAuthorizationCodeSourceOffersConsentButNoUnattendedCheck() async throws {
        let fixture = try AuthorizationCodeSourceTests.Fixture(
            client: FakeTokenClient(responder: { _, _ in AuthorizationCodeSourceTests.tokens(access: "a1", refresh: "r1") }))
        defer { try? FileManager.default.removeItem(atPath: fixture.store.directory) }
        let source = Self.erased(fixture.make())
        guard case .authorizationCode(let status) = source.sourceStatus else {
            Issue.record("expected .authorizationCode, got \(source.sourceStatus)")
            return
        }
        #expect(status.state == .needsConsent)
        #expect(source.providerCheck == nil)
        // The consent endpoints' whole path, through the protocol only.
        let consent = try #require(source.consent)
        let redirect = try await AuthorizationCodeSourceTests.await {
            consent.authorizationURL(defaultRedirectURI: "http://127.0.0.1:9901/oauth/callback", completion: $0)
        }.get()
        let outcome = try await AuthorizationCodeSourceTests.await {
            consent.completeAuthorization(code: "c", state: redirect.state, completion: $0)
        }.get()
        #expect(outcome.hasRefreshToken)
        guard case .authorizationCode(let connected) = source.sourceStatus else {
            Issue.record("expected .authorizationCode")
            return
        }
        #expect(connected.state == .connected && connected.hasAccessToken)
        #expect(source.sourceStatus.accessTokenExpiresAt != nil)
        let disconnected = try await AuthorizationCodeSourceTests.await { consent.disconnect(completion: $0) }.get()
        #expect(disconnected.stateFileProblem == nil)
        guard case .authorizationCode(let after) = source.sourceStatus else { return }
        #expect(after.state == .needsConsent)
    }

    /// Issue 11: a basic credential's base64 goes to the scrubber the source was given, and no other.
    @Test func aBasicSourceRegistersItsHeaderWithItsOwnScrubber() throws {
        let scrubber = SecretScrubber()
        let bystander = SecretScrubber()
        let source = StaticCredentialSource(
            settings: ConnectionSettings(name: "p", kind: .basic(username: "svc", password: SecretString("pw-9f3k"))),
            scrubber: scrubber)
        let header = try #require(source.currentCredential(for: .connectionDefault) ?? nil).headerValue.value
        let encoded = String(header.dropFirst("Basic ".count))
        #expect(scrubber.containsSecret(encoded))
        #expect(!bystander.containsSecret(encoded))
    }
}
