import Foundation
import LatchkeyAuth
import LatchkeyConfig

/// The admin endpoints' answers, built from the server's current state. Never includes a secret or token.
struct AdminAPI {
    struct Response {
        var status: Int
        var contentType = "application/json"
        var body: String
    }

    let server: ProxyServer

    func respond(method: String, path: String) -> Response {
        switch (method, path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"): return Response(status: 200, body: "{\"status\":\"ok\"}\n")
        case ("GET", "/readyz"), ("HEAD", "/readyz"): return readiness()
        case ("GET", "/connections"): return connections()
        case ("GET", "/metrics"):
            return Response(status: 200, contentType: MetricsRegistry.contentType, body: server.runtime.metrics.render())
        case (_, "/healthz"), (_, "/readyz"), (_, "/connections"), (_, "/metrics"):
            return Response(status: 405, body: "{\"error\":\"method_not_allowed\",\"detail\":\"use GET\"}\n")
        default:
            return Response(
                status: 404,
                body: "{\"error\":\"not_found\",\"detail\":\(JSONString.quote("no admin endpoint \(path); try /healthz, /readyz, /connections, /metrics"))}\n"
            )
        }
    }

    /// Ready when the config is loaded, the listeners are up (we are answering) and every OAuth connection
    /// holds a valid token or is inside its first fetch. A failed reload does not make the proxy unready (it
    /// keeps serving the previous config) but is shown here.
    private func readiness() -> Response {
        let runtime = server.runtime
        var notReady: [String] = []
        for connection in runtime.configuration.connections {
            guard let manager = runtime.sources[connection.name] as? OAuthTokenManager else { continue }
            let status = manager.status(for: .connectionDefault)
            if status.hasToken || (status.fetchInFlight && status.lastError == nil) { continue }
            let reason = status.lastError?.detail ?? "no token yet"
            notReady.append("{\"connection\":\(JSONString.quote(connection.name)),\"reason\":\(JSONString.quote(reason))}")
        }
        var body = "{\"status\":\"\(notReady.isEmpty ? "ready" : "not_ready")\""
        if !notReady.isEmpty { body += ",\"not_ready\":[\(notReady.joined(separator: ","))]" }
        if let error = server.reloader?.status.lastError {
            body += ",\"config_reload_error\":\(JSONString.quote(error))"
        }
        body += "}\n"
        return Response(status: notReady.isEmpty ? 200 : 503, body: body)
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
            if let manager = runtime.sources[connection.name] as? OAuthTokenManager {
                let status = manager.status(for: .connectionDefault)
                let state = status.hasToken ? "connected" : (status.lastError != nil ? "error" : "connecting")
                fields.append("\"state\":\"\(state)\"")
                if let expiresAt = status.expiresAt {
                    fields.append("\"token_expires_in_seconds\":\(max(0, Int(expiresAt - now)))")
                }
                if let error = status.lastError {
                    fields.append("\"last_error\":\(JSONString.quote(error.detail))")
                }
                let counters = status.counters
                fields.append(
                    "\"token_requests\":\(counters.tokenRequested),\"token_fetched\":\(counters.tokenFetched),\"token_fetch_failed\":\(counters.tokenFetchFailed)"
                )
            } else {
                fields.append("\"state\":\"static\"")
            }
            items.append("{" + fields.joined(separator: ",") + "}")
        }
        return Response(status: 200, body: "{\"connections\":[\(items.joined(separator: ","))]}\n")
    }
}
