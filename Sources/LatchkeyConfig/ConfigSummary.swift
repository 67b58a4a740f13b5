/// The human-readable listing `latchkey check` prints: listeners, connections, routes and warnings.
///
/// Shows only non-secret settings (username, header, scheme, token URL, client id, scopes, ...). Credential
/// values are never printed, and any displayed field that contains a resolved secret or credential value
/// (say, a username taken from `{{secret:...}}`) is shown as `<redacted>`.
public enum ConfigSummary {
    public static func render(_ config: ProxyConfiguration) -> String {
        var out: [String] = []
        func show(_ value: String) -> String {
            config.sensitiveValues.contains { value.contains($0) } ? "<redacted>" : value
        }
        out.append("Configuration: \(config.sourcePath)")
        out.append("  listen:    \(config.listen)")
        out.append("  admin:     \(config.admin.map(\.description) ?? "off")")
        out.append("  unmatched: \(config.unmatched.rawValue)")
        out.append("  connect_ports: \(config.connectPorts.map(String.init).joined(separator: ", "))")
        out.append("  log:       \(config.logLevel), \(config.logFormat)")
        out.append("  workers:   \(config.workers) (event_loop \(config.eventLoop.rawValue))")
        if let dir = config.stateDir { out.append("  state_dir: \(show(dir)) (state_key \(config.stateKey == nil ? "missing" : "set"))") }
        if let store = config.sharedStore {
            let auth = store.password == nil ? "no password" : "password set" + (store.username.map { ", user \($0)" } ?? "")
            out.append("  shared_store: \(store.displayURL) key_prefix=\(store.keyPrefix) (\(auth))")
        }
        if let intercept = config.intercept {
            let certificate = intercept.caCertificateFile.map(show) ?? "inline"
            let key = intercept.caKeyFile.map { "ca_key=\(show($0))" } ?? "ca_key=<secret>"
            let seconds = intercept.leafValidity.components.seconds
            let validity = seconds % 3600 == 0 ? "\(seconds / 3600)h" : seconds % 60 == 0 ? "\(seconds / 60)m" : "\(seconds)s"
            out.append("  intercept: ca_cert=\(certificate) \(key) leaf_validity=\(validity)")
        } else {
            out.append("  intercept: off (CONNECTs to routed hosts are refused)")
        }
        // The top-level defaults (inherited key by key; each route's and connection's line shows the result).
        out.append("  tls:       " + ([config.tls.policyDescription] + tlsFiles(config.tls, show)).joined(separator: " "))
        let l = config.limits
        out.append(
            "  limits:    request line \(l.maxRequestLineBytes) B, headers \(l.maxHeaderBytes) B, "
                + "idle per upstream \(l.maxIdlePerUpstream), idle timeout \(l.idleTimeoutMs) ms, "
                + "connections \(l.maxConnections) (admin \(l.adminMaxConnections)), "
                + "header timeout \(l.headerTimeoutMs) ms, tunnel idle \(l.tunnelIdleTimeoutMs) ms")

        out.append("Connections (\(config.connections.count)):")
        for connection in config.connections {
            var details: [String] = []
            switch connection.kind {
            case .basic(let username, _):
                details = ["username=\(show(username))", "password=<secret>"]
            case .bearer:
                details = ["token=<secret>"]
            case .apiKey(_, let header, let scheme):
                details = ["header=\(show(header))", "scheme=\(scheme.rawValue)", "key=<secret>"]
            case .none:
                details = ["injects nothing"]
            case .oauth2ClientCredentials(let oauth):
                details = oauthDetails(oauth, show)
            case .oauth2AuthorizationCode(let code):
                if let url = code.authorizeURL { details.append("authorize_url=\(show(url.description))") }
                details += oauthDetails(code.client, show)
                if let url = code.refreshURL { details.append("refresh_url=\(show(url.description))") }
                if let url = code.revocationURL { details.append("revocation_url=\(show(url.description))") }
                if let uri = code.redirectURI { details.append("redirect_uri=\(show(uri))") }
            }
            if connection.requiredForReadiness { details.append("required_for_readiness") }
            out.append("  \(connection.name) [\(connection.kind.typeName)] " + details.joined(separator: " "))
        }

        out.append("Routes (\(config.routes.count)):")
        for route in config.routes {
            var match: [String] = []
            match.append("host=\(route.host.map { show($0.description) } ?? "*any*")")
            if let prefix = route.pathPrefix { match.append("path_prefix=\(show(prefix))") }
            if let methods = route.methods { match.append("methods=\(methods.sorted().joined(separator: ","))") }
            var line = "  \(show(route.name)) (line \(route.line)): " + match.joined(separator: " ")
            line += " -> connection=\(route.connection ?? "none")"
            line += " upstream=\(route.upstream.map { show($0.description) } ?? "request target")"
            if route.stripPrefix { line += " strip_prefix" }
            line += " timeout=\(route.timeoutMs)ms connect_timeout=\(route.connectTimeoutMs)ms"
            if route.allowPlaintextCredentials { line += " allow_plaintext_credentials" }
            let retry = route.retry
            if retry.maxRetries > 0 {
                line += " retry=\(retry.maxRetries)x"
                line += retry.exponentialBackoff ? " backoff=exponential" : " delay=\(retry.delayMs)ms"
                if retry.retryOnAllErrors { line += " retry_on_all_errors" }
                line += " body_buffer=\(retry.bodyBufferBytes)B"
            }
            if let deadline = route.deadlineMs { line += " deadline=\(deadline)ms" }
            if route.maxRedirects > 0 { line += " max_redirects=\(route.maxRedirects)" }
            if route.debug { line += " debug" }
            if !route.intercept { line += " intercept=false" }
            if route.http2 != .auto { line += " http2=\(route.http2.rawValue)" }
            if let scopes = route.scopes { line += " scopes=\(show(scopes.joined(separator: " ")))" }
            if let audience = route.audience { line += " audience=\(show(audience))" }
            if let params = route.tokenParams { line += " token_params=\(params.keys.sorted().joined(separator: ","))" }
            let tls = tlsDetails(route.tls, show)
            if !tls.isEmpty { line += " " + tls.joined(separator: " ") }
            out.append(line)
        }

        out.append(contentsOf: config.notices.map { "Note: " + $0 })
        if !config.warnings.isEmpty {
            out.append("Warnings (\(config.warnings.count)):")
            out.append(contentsOf: config.warnings.map { "  " + $0 })
        }
        return out.joined(separator: "\n") + "\n"
    }

    private static func oauthDetails(_ oauth: OAuthClientSettings, _ show: (String) -> String) -> [String] {
        var details: [String] = []
        if let url = oauth.tokenURL { details.append("token_url=\(show(url.description))") }
        if let url = oauth.discoveryURL { details.append("discovery_url=\(show(url.description))") }
        if let jwt = oauth.jwtBearer {
            details.append("issuer=\(show(jwt.issuer)) subject=\(show(jwt.subject))")
            if let file = jwt.serviceAccountFile { details.append("service_account_file=\(show(file))") }
        }
        if !oauth.clientID.isEmpty || oauth.jwtBearer == nil { details.append("client_id=\(show(oauth.clientID))") }
        details.append("client_auth=\(oauth.clientAuth.rawValue)")
        if let file = oauth.clientAssertionFile { details.append("client_assertion_file=\(show(file))") }
        if (oauth.clientAuth == .privateKeyJWT && oauth.clientAssertionFile == nil) || oauth.clientAuth == .clientSecretJWT {
            details.append("signing_alg=\(oauth.signingAlgorithm.rawValue)")
            if let kid = oauth.keyID { details.append("key_id=\(show(kid))") }
            if oauth.certificate != nil { details.append("certificate_thumbprint=\(oauth.certificateThumbprint.rawValue)") }
            if let audience = oauth.assertionAudience { details.append("assertion_audience=\(show(audience))") }
        }
        if !oauth.scopes.isEmpty { details.append("scopes=\(show(oauth.scopes.joined(separator: " ")))") }
        if let audience = oauth.audience { details.append("audience=\(show(audience))") }
        if !oauth.tokenParams.isEmpty {
            details.append("token_params=\(oauth.tokenParams.map { $0.0 }.joined(separator: ","))")
        }
        if !oauth.tokenHeaders.isEmpty {
            details.append("token_headers=\(oauth.tokenHeaders.map { $0.0 }.joined(separator: ","))")
        }
        details.append("timeout=\(oauth.timeoutMs)ms")
        if let refresh = oauth.refreshBeforeMs { details.append("refresh_before=\(refresh)ms") }
        details.append(contentsOf: tlsDetails(oauth.tls, show))
        return details
    }

    /// The effective TLS settings (top-level defaults merged in): the policy always, files and overrides when set.
    private static func tlsDetails(_ tls: TLSSettings, _ show: (String) -> String) -> [String] {
        var details = tls.policyFields.map { "tls.\($0.key)=\($0.value)" }
        details += tlsFiles(tls, show).map { "tls." + $0 }
        if let name = tls.serverName { details.append("tls.server_name=\(show(name))") }
        if tls.insecureSkipVerify { details.append("tls.insecure_skip_verify") }
        return details
    }

    private static func tlsFiles(_ tls: TLSSettings, _ show: (String) -> String) -> [String] {
        var files: [String] = []
        if let ca = tls.caFile { files.append("ca_file=\(show(ca))") }
        if let cert = tls.certFile { files.append("cert_file=\(show(cert))") }
        if let key = tls.keyFile { files.append("key_file=\(show(key))") }
        return files
    }
}
