import LatchkeyConfig
import LatchkeyAuth
import LatchkeyProxy

/// The admin endpoints of authorization-code consent (RFC 6749 §4.1 with PKCE, RFC 7636):
/// `GET /connections/NAME/connect` redirects to the provider, `GET /oauth/callback` completes the grant,
/// `POST /connections/NAME/disconnect` revokes and forgets it.
struct ConsentEndpoints {
    let service: AdminService
    private var server: ProxyServer { service.server }

    private var api: AdminAPI { AdminAPI(service: service) }

    /// The consent operations of connection `name`; nil when it has none (not an authorization-code connection).
    private func source(named name: String) -> (any ConsentFlow)? {
        server.runtime.sources[name]?.consent
    }

    func connect(name: String, reply: @escaping @Sendable (AdminAPI.Response) -> Void) {
        guard let source = source(named: name) else {
            return reply(AdminAPI.error(404, "not_found", "no oauth2_authorization_code connection named \(name)"))
        }
        source.authorizationURL(defaultRedirectURI: api.adminBaseURL + "/oauth/callback") { result in
            switch result {
            case .success(let redirect):
                reply(
                    AdminAPI.Response(
                        status: 302, contentType: "text/html; charset=utf-8",
                        body: Self.page("Redirecting to the provider", "Continue at <a href=\"\(HTML.escape(redirect.url))\">the provider's consent page</a>."),
                        headers: [("Location", redirect.url)]))
            case .failure(let error):
                reply(AdminAPI.error(502, error.code.rawValue, error.detail))
            }
        }
    }

    func callback(query: [String: String], reply: @escaping @Sendable (AdminAPI.Response) -> Void) {
        guard let state = query["state"], let name = service.pendingAuthorizations.connection(for: state),
            let source = source(named: name)
        else {
            return reply(
                Self.failure(
                    400, "Unknown or expired authorization request",
                    "The state parameter is missing, unknown, already used or older than 10 minutes. Start again from /connections/NAME/connect."
                ))
        }
        if let error = query["error"] {
            let failure = source.rejectAuthorization(state: state, error: error, errorDescription: query["error_description"])
            return reply(Self.failure(400, "Connection \(name) was not authorized", failure.detail))
        }
        guard let code = query["code"] else {
            return reply(Self.failure(400, "No authorization code", "The callback carried neither code nor error."))
        }
        source.completeAuthorization(code: code, state: state) { result in
            switch result {
            case .success(let outcome):
                var text = "Latchkey now holds a grant for <b>\(HTML.escape(name))</b>"
                if let scope = outcome.scope { text += " (scope: \(HTML.escape(scope)))" }
                text += ". You can close this page."
                if let warning = outcome.warning { text += "<p>Warning: \(HTML.escape(warning))</p>" }
                reply(AdminAPI.Response(status: 200, contentType: "text/html; charset=utf-8", body: Self.page("Connected", text)))
            case .failure(let error):
                reply(Self.failure(502, "Connecting \(name) failed", error.detail))
            }
        }
    }

    func disconnect(name: String, reply: @escaping @Sendable (AdminAPI.Response) -> Void) {
        guard let source = source(named: name) else {
            return reply(AdminAPI.error(404, "not_found", "no oauth2_authorization_code connection named \(name)"))
        }
        source.disconnect { result in
            switch result {
            case .success(let outcome):
                var body = "{\"connection\":\(JSONString.quote(name)),\"state\":\"needs_consent\",\"revoked\":\(outcome.revoked)"
                if let problem = outcome.revocationProblem { body += ",\"revocation_problem\":\(JSONString.quote(problem))" }
                if let problem = outcome.stateFileProblem { body += ",\"state_file_problem\":\(JSONString.quote(problem))" }
                reply(AdminAPI.Response(status: 200, body: body + "}\n"))
            case .failure(let error):
                reply(AdminAPI.error(502, error.code.rawValue, error.detail))
            }
        }
    }

    private static func failure(_ status: Int, _ title: String, _ detail: String) -> AdminAPI.Response {
        AdminAPI.Response(status: status, contentType: "text/html; charset=utf-8", body: page(title, HTML.escape(detail)))
    }

    /// A small self-contained page (no scripts, no external resources).
    private static func page(_ title: String, _ html: String) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>Latchkey: \(HTML.escape(title))</title></head>
        <body style="font-family: sans-serif; max-width: 40em; margin: 3em auto"><h1>\(HTML.escape(title))</h1><p>\(html)</p></body></html>

        """
    }
}

/// HTML text escaping for values shown on admin pages.
enum HTML {
    static func escape(_ text: String) -> String {
        var out = ""
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
