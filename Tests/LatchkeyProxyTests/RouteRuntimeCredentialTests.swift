import LatchkeyAuth
import LatchkeyConfig
import Testing

@testable import LatchkeyProxy

/// A route asks its connection's source for the credential itself (`RouteRuntime.currentCredential`,
/// `fetchCredential`), with the route's own key; a route without a connection answers "nothing to inject".
@Suite struct RouteRuntimeCredentialTests {
    func runtime() throws -> ProxyRuntime {
        try makeRuntime(
            routes: [
                RouteSettings(
                    name: "keyed", pathPrefix: "/keyed/", connection: "partner",
                    upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089)),
                RouteSettings(
                    name: "plain", pathPrefix: "/plain/", upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8090)),
            ],
            connections: [
                ConnectionSettings(
                    name: "partner", kind: .apiKey(key: SecretString("k3y-value"), header: "X-Partner-Key", scheme: .none))
            ])
    }

    func fetched(_ route: ProxyRuntime.RouteRuntime) async -> Result<InjectedCredential?, CredentialError> {
        await withCheckedContinuation { continuation in
            route.fetchCredential(timeout: .seconds(1)) { continuation.resume(returning: $0) }
        }
    }

    @Test func aRouteWithAConnectionHasItsCredentialAtHandAndWhenFetched() async throws {
        let route = try #require(try runtime().routes["keyed"])
        let current = try #require(route.currentCredential())  // at hand: no fetch needed
        #expect(current?.headerName == "X-Partner-Key")
        #expect(current?.headerValue.value == "k3y-value")
        guard case .success(let credential) = await fetched(route) else {
            Issue.record("the static source failed")
            return
        }
        #expect(credential == current)
    }

    @Test func aRouteWithoutAConnectionInjectsNothingAndNeverWaits() async throws {
        let route = try #require(try runtime().routes["plain"])
        #expect(route.currentCredential() == nil)
        guard case .success(let credential) = await fetched(route) else {
            Issue.record("a route without a connection failed its lookup")
            return
        }
        #expect(credential == nil)
        route.invalidate(InjectedCredential(headerName: "X", headerValue: SecretString("y")))  // no source: a no-op
    }
}
