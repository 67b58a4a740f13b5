import LatchkeyConfig
import Testing

@testable import LatchkeyAuth

/// Issue 14 §1: a connection's health, derived from its status one case at a time. Readiness only looks at
/// it for connections marked `required_for_readiness`, and then only fails once the first fetch has failed.
@Suite struct ConnectionHealthTests {
    static func token(hasToken: Bool = false, error: String? = nil, inFlight: Bool = false, requested: Int = 1) -> CredentialSourceStatus {
        var counters = OAuthCounters()
        counters.tokenRequested = requested
        return .token(
            OAuthKeyStatus(
                key: .connectionDefault, hasToken: hasToken, expiresAt: nil,
                lastError: error.map { CredentialError(.endpointUnavailable, connection: "c", detail: $0) },
                fetchInFlight: inFlight, counters: counters))
    }

    @Test func fixedCredentialsAndUsableTokensAreUp() {
        #expect(ConnectionHealth(.fixed) == .up)
        #expect(ConnectionHealth(Self.token(hasToken: true)) == .up)
        // A usable token with a failed renewal behind it still serves requests.
        #expect(ConnectionHealth(Self.token(hasToken: true, error: "renewal failed")) == .up)
        #expect(ConnectionHealth(.fixed).isUp && ConnectionHealth(.fixed).allowsReadiness)
        #expect(ConnectionHealth(.fixed).reason == nil)
    }

    @Test func theFirstFetchInFlightIsStartingNotDown() {
        let health = ConnectionHealth(Self.token(inFlight: true))
        #expect(health == .starting)
        #expect(!health.isUp)
        #expect(health.allowsReadiness)
        #expect(health.word == "starting")
        #expect(health.reason == "first token fetch under way")
    }

    /// Between start-up and the queued first fetch there is no state yet: that is starting, never a "down"
    /// without a reason (a slow start once answered /connections/health in that window).
    @Test func aKeyNeverFetchedIsStarting() {
        #expect(ConnectionHealth(Self.token(requested: 0)) == .starting)
        #expect(ConnectionHealth(Self.token(requested: 0)).allowsReadiness)
    }

    @Test func aFailedFetchWithoutATokenIsDownWithTheProvidersReason() {
        let health = ConnectionHealth(Self.token(error: "connection refused", inFlight: true))
        #expect(health == .down(reason: "connection refused"))
        #expect(!health.isUp && !health.allowsReadiness)
        // Fetched before, no token now, no error and nothing in flight: an expired token not renewed yet.
        #expect(ConnectionHealth(Self.token()) == .down(reason: "no usable token (expired, not renewed yet)"))
    }

    @Test func anUnavailableSourceIsDown() {
        #expect(ConnectionHealth(.unavailable(reason: "state_dir: missing")) == .down(reason: "state_dir: missing"))
    }
}
