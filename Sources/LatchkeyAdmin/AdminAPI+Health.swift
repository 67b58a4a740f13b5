import LatchkeyAuth
import LatchkeyConfig
import LatchkeyProxy

/// `/readyz` and `/connections/health`: whether this proxy can serve, and whether each connection can
/// put a credential on a request. Kept apart on purpose: an orchestrator acts on readiness (takes the pod
/// out of its Service, holds back the app behind a startup probe), so one provider's outage must not
/// fail it for traffic that never uses that provider. Connection health is for dashboards and alerts.
extension AdminAPI {
    /// Ready when the config is loaded and the listeners are up (this answer comes from the running
    /// server, which binds the proxy listener before the admin one) — and every connection marked
    /// `required_for_readiness: true` has a usable credential or is still inside its first fetch.
    /// A failed reload does not make the proxy unready (it keeps serving the previous config) but is
    /// shown here; so are authorization-code connections waiting for a person (`needs_attention`) and the
    /// number of unhealthy connections, with a pointer to their details.
    func readiness() -> Response {
        let runtime = server.runtime
        var notReady: [String] = []
        var attention: [String] = []
        var unhealthy = 0
        for connection in runtime.configuration.connections {
            let status = runtime.sources[connection.name]?.sourceStatus ?? CredentialSourceStatus.fixed
            let health = ConnectionHealth(status)
            if !health.isUp { unhealthy += 1 }
            // Waiting for a person: shown, so that whoever reads readiness learns where to act.
            if case .authorizationCode(let code) = status, code.state != .connected {
                attention.append(
                    "{\"connection\":\(JSONString.quote(connection.name)),\"state\":\"\(code.state.name)\","
                        + "\"reason\":\(JSONString.quote(code.reason ?? code.state.name))}")
            }
            guard connection.requiredForReadiness, !health.allowsReadiness, let reason = health.reason else { continue }
            notReady.append(
                "{\"connection\":\(JSONString.quote(connection.name)),\"reason\":\(JSONString.quote(reason)),"
                    + "\"required_for_readiness\":true}")
        }
        var body = "{\"status\":\"\(notReady.isEmpty ? "ready" : "not_ready")\""
        if !notReady.isEmpty { body += ",\"not_ready\":[\(notReady.joined(separator: ","))]" }
        if !attention.isEmpty { body += ",\"needs_attention\":[\(attention.joined(separator: ","))]" }
        if unhealthy > 0 {
            body += ",\"unhealthy_connections\":\(unhealthy),\"see\":\"/connections/health\""
        }
        if let error = service.lastReloadError() {
            body += ",\"config_reload_error\":\(JSONString.quote(error))"
        }
        body += sharedStoreReadiness() + "}\n"
        return Response(status: notReady.isEmpty ? 200 : 503, body: body)
    }

    /// 200 when every connection has a usable credential; else 503 listing each one that has none, with
    /// its state (`starting`: first fetch in flight; `down`) and reason. Never a token.
    func connectionHealth() -> Response {
        let runtime = server.runtime
        var unhealthy: [String] = []
        for connection in runtime.configuration.connections {
            let health = ConnectionHealth(runtime.sources[connection.name]?.sourceStatus ?? .fixed)
            guard let reason = health.reason else { continue }
            unhealthy.append(
                "{\"connection\":\(JSONString.quote(connection.name)),\"state\":\"\(health.word)\","
                    + "\"reason\":\(JSONString.quote(reason)),\"required_for_readiness\":\(connection.requiredForReadiness)}")
        }
        let status = unhealthy.isEmpty ? "healthy" : "unhealthy"
        let body = "{\"status\":\"\(status)\",\"unhealthy\":[\(unhealthy.joined(separator: ","))]}\n"
        return Response(status: unhealthy.isEmpty ? 200 : 503, body: body)
    }
}
