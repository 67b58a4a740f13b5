import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyMetrics
import LatchkeyProxy

/// The admin endpoints' answers, built from the server's current state. Never includes a secret or token.
///
/// `respond` may answer later (consent endpoints talk to the authorization server); `reply` runs exactly
/// once, on any queue.
struct AdminAPI {
    struct Response: Sendable {
        var status: Int
        var contentType = "application/json"
        var body: String
        var headers: [(String, String)] = []
    }

    let service: AdminService
    var server: ProxyServer { service.server }
    /// Whether the caller connected from a loopback address. The consent endpoints change what the proxy
    /// holds (start a grant, take one, revoke one), so they answer only locally: a person reaches them
    /// through a port-forward or SSH tunnel, which arrives on loopback, while probes and scrapers on a
    /// wildcard-bound admin listener (Kubernetes) reach the read-only endpoints.
    var peerIsLoopback = true
    /// The request's header fields, for `ConsentRequestGuard` (cross-site and DNS-rebinding checks).
    var requestHeaders = HTTPHeaders()

    /// Answers one request. Every body except a consent redirect's (it carries the provider URL) has every
    /// known secret value scrubbed (`SecretScrubber`): states and errors quote provider and config text.
    func respond(method: String, target: String, reply: @escaping @Sendable (Response) -> Void) {
        let reply: @Sendable (Response) -> Void = { response in
            guard response.status != 302 else { return reply(response) }
            var scrubbed = response
            scrubbed.body = service.scrubber.scrub(response.body)
            reply(scrubbed)
        }
        let path = HTTPRequestHead.pathOnly(target)
        let query = QueryString.parse(target)
        let segments = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        switch (method, path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"): return reply(Response(status: 200, body: "{\"status\":\"ok\"}\n"))
        case ("GET", "/readyz"), ("HEAD", "/readyz"): return reply(readiness())
        case ("GET", "/connections"): return reply(connections())
        case ("GET", "/routes"): return reply(routes())
        case ("GET", "/connections/health"), ("HEAD", "/connections/health"): return reply(connectionHealth())
        case ("GET", "/metrics"):
            return reply(Response(status: 200, contentType: MetricsRegistry.contentType, body: server.runtime.metrics.render()))
        case ("GET", "/oauth/callback"):
            guard peerIsLoopback else { return reply(Self.loopbackOnly) }
            return ConsentEndpoints(service: service).callback(query: query, reply: reply)
        default: break
        }
        if segments.count == 3, segments[0] == "connections", ["connect", "disconnect"].contains(segments[2]) {
            guard peerIsLoopback else { return reply(Self.loopbackOnly) }
            if ["GET", "POST"].contains(method),
                let refusal = ConsentRequestGuard(listenerHost: server.adminAddress?.host).refusal(
                    method: method, headers: requestHeaders)
            {
                return reply(Self.error(403, "cross_site_refused", refusal))
            }
            let endpoints = ConsentEndpoints(service: service)
            switch (method, segments[2]) {
            case ("GET", "connect"): return endpoints.connect(name: segments[1], reply: reply)
            case ("POST", "disconnect"): return endpoints.disconnect(name: segments[1], reply: reply)
            case (_, "connect"), (_, "disconnect"):
                return reply(Self.error(405, "method_not_allowed", "use GET .../connect and POST .../disconnect"))
            default: break
            }
        }
        if ["/healthz", "/readyz", "/connections", "/connections/health", "/routes", "/metrics", "/oauth/callback"].contains(path) {
            return reply(Self.error(405, "method_not_allowed", "use GET"))
        }
        reply(
            Self.error(
                404, "not_found",
                "no admin endpoint \(path); try /healthz, /readyz, /connections, /connections/health, /routes, /metrics, /connections/NAME/connect"
            ))
    }

    static let loopbackOnly = error(
        403, "loopback_only",
        "consent endpoints answer only on loopback; reach the admin listener through a port-forward (kubectl port-forward, ssh -L)")

    static func error(_ status: Int, _ error: String, _ detail: String) -> Response {
        Response(status: status, body: "{\"error\":\(JSONString.quote(error)),\"detail\":\(JSONString.quote(detail))}\n")
    }

    /// Status per connection: type, state, token expiry, last provider error, fetch counters.
    private func connections() -> Response {
        let runtime = server.runtime
        var items: [String] = []
        let now = Date().timeIntervalSince1970
        for connection in runtime.configuration.connections {
            var fields = [
                "\"name\":\(JSONString.quote(connection.name))", "\"type\":\(JSONString.quote(connection.kind.typeName))",
            ]
            switch runtime.sources[connection.name]?.sourceStatus ?? .fixed {
            case .token(let status):
                let state = status.hasToken ? "connected" : (status.lastError != nil ? "error" : "connecting")
                fields.append("\"state\":\"\(state)\"")
                fields += Self.tokenFields(expiresAt: status.expiresAt, now: now, lastError: status.lastError, counters: status.counters)
            case .authorizationCode(let status):
                fields.append("\"state\":\"\(status.state.name)\"")
                if let reason = status.reason { fields.append("\"reason\":\(JSONString.quote(reason))") }
                if let scope = status.scope { fields.append("\"scope\":\(JSONString.quote(scope))") }
                if let granted = status.refreshTokenObtainedAt { fields.append("\"granted_at\":\(Int(granted))") }
                if let consented = status.consentedAt { fields.append("\"consented_at\":\(consented)") }
                fields.append("\"connect_url\":\(JSONString.quote(connectURL(connection.name)))")
                fields += Self.tokenFields(
                    expiresAt: status.accessTokenExpiresAt, now: now, lastError: status.lastError, counters: status.counters)
            case .fixed:
                fields.append("\"state\":\"static\"")
            case .unavailable(let reason):
                fields.append("\"state\":\"error\",\"last_error\":\(JSONString.quote(reason))")
            }
            if let client = connection.oauthClient { fields.append("\"tls\":\(tlsJSON(client.tls, revocationScope: runtime.connectionRevocationScopes[connection.name] ?? "connection:\(connection.name)"))") }
            items.append("{" + fields.joined(separator: ",") + "}")
        }
        return Response(status: 200, body: "{\"connections\":[\(items.joined(separator: ","))]}\n")
    }

    private static func tokenFields(expiresAt: Double?, now: Double, lastError: CredentialError?, counters: OAuthCounters)
        -> [String]
    {
        var fields: [String] = []
        if let expiresAt { fields.append("\"token_expires_in_seconds\":\(max(0, Int(expiresAt - now)))") }
        if let lastError {
            fields.append("\"last_error\":\(JSONString.quote(lastError.detail))")
            // permanent: requests fail at once until the slow background retry succeeds (issue 10 §2).
            fields.append("\"last_error_kind\":\"\(lastError.kind.isPermanent ? "permanent" : "transient")\"")
        }
        fields.append(
            "\"token_requests\":\(counters.tokenRequested),\"token_fetched\":\(counters.tokenFetched),\"token_fetch_failed\":\(counters.tokenFetchFailed)"
        )
        return fields
    }

    func connectURL(_ name: String) -> String { adminBaseURL + "/connections/\(name)/connect" }

    /// The admin listener as a browser or redirect reaches it.
    var adminBaseURL: String {
        guard let address = server.adminAddress else { return "" }
        return AdminAddress.baseURL(host: address.host, port: address.port)
    }
}

/// Parses the query of a request-target (`application/x-www-form-urlencoded`: `+` is a space).
enum QueryString {
    static func parse(_ target: String) -> [String: String] {
        guard let mark = target.firstIndex(of: "?") else { return [:] }
        var values: [String: String] = [:]
        for pair in target[target.index(after: mark)...].split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]), values[name] == nil else { continue }
            values[name] = parts.count > 1 ? decode(parts[1]) ?? "" : ""
        }
        return values
    }

    static func decode(_ text: Substring) -> String? {
        String(text).replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }
}
