import LatchkeyHTTP
import Yams

extension ConfigDecoder {
    static let connectionKeysByType: [String: [String]] = [
        "basic": ["type", "username", "password"],
        "bearer": ["type", "token"],
        "api_key": ["type", "key", "header", "scheme"],
        "none": ["type"],
        "oauth2_client_credentials": [
            "type", "token_url", "discovery_url", "client_id", "client_secret", "client_auth", "private_key", "key_id",
            "signing_alg", "scopes", "audience", "token_params", "token_headers", "tls", "allow_plaintext_credentials",
            "refresh_before_ms", "timeout_ms", "private_key_passphrase", "certificate", "certificate_thumbprint",
            "assertion_audience", "token_wait_ms", "client_assertion_file",
        ],
        "oauth2_jwt_bearer": [
            "type", "token_url", "discovery_url", "client_id", "client_secret", "client_auth", "client_assertion_file",
            "private_key", "private_key_passphrase", "key_id", "signing_alg", "service_account_file", "issuer", "subject",
            "audience", "claims", "scopes", "token_params", "token_headers", "tls", "allow_plaintext_credentials",
            "refresh_before_ms", "timeout_ms", "token_wait_ms",
        ],
        "oauth2_authorization_code": [
            "type", "authorize_url", "token_url", "refresh_url", "revocation_url", "discovery_url", "client_id",
            "client_secret", "client_auth", "private_key", "key_id", "signing_alg", "scopes", "authorize_params",
            "token_params", "token_headers", "redirect_uri", "tls", "allow_plaintext_credentials", "refresh_before_ms",
            "timeout_ms", "private_key_passphrase", "certificate", "certificate_thumbprint", "assertion_audience",
            "token_wait_ms", "client_assertion_file",
        ],
    ]
    /// Keys every connection type accepts, whatever its credential.
    static let keysOfEveryConnection = ["required_for_readiness"]
    static let connectionTypes = [
        "basic", "bearer", "api_key", "none", "oauth2_client_credentials", "oauth2_authorization_code",
        "oauth2_jwt_bearer",
    ]

    /// Header names an `api_key` connection may not inject into: the message framing, the routing, the
    /// hop-by-hop fields a proxy drops or rewrites, and the fields addressed to or written by the proxy.
    static let reservedCredentialHeaders: Set<String> = [
        "content-length", "transfer-encoding", "host", "connection", "keep-alive", "proxy-connection", "te",
        "trailer", "upgrade", "proxy-authorization", "proxy-authenticate", "via", "max-forwards",
    ]

    /// `connections:` — a mapping of names to credential definitions, kept in file order.
    func decodeConnections(_ node: Node?) -> [ConnectionSettings] {
        guard let node, let map = fields(node, path: "connections", allowed: nil) else { return [] }
        var result: [ConnectionSettings] = []
        for entry in map.entries {
            let path = map.path(entry.key)
            guard Self.isName(entry.key) else {
                fail(entry.keyNode, path, "invalid connection name; use letters, digits, '_', '-' and '.'")
                continue
            }
            connectionNames.append(entry.key)
            guard var definition = fields(entry.value, path: path, allowed: nil) else { continue }
            guard let typeText = requiredString(definition, "type", what: Self.connectionTypes.joined(separator: "|")),
                let type = choice(typeText, in: Self.connectionTypes)
            else { continue }
            let allKeys = Set(Self.connectionKeysByType.values.joined())
            restrict(
                &definition, allowed: Self.connectionKeysByType[type]! + Self.keysOfEveryConnection,
                context: "type '\(type)'", elsewhere: allKeys)
            let required = bool(definition, "required_for_readiness") ?? false
            if let kind = decodeConnectionKind(type, definition) {
                result.append(
                    ConnectionSettings(
                        name: entry.key, kind: kind, line: entry.keyNode.mark?.line ?? 0, requiredForReadiness: required))
            }
        }
        return result
    }

    private func decodeConnectionKind(_ type: String, _ map: Fields) -> ConnectionKind? {
        switch type {
        case "basic":
            let username = requiredString(map, "username")
            let password = credential(map, "password", allowEmpty: true)
            if let username {
                if username.value.contains(":") {
                    fail(username.node, username.path, "a Basic username must not contain ':' (RFC 7617 §2)")
                } else {
                    checkHeaderSafe(username)
                }
            }
            guard let username, let password else { return nil }
            return .basic(username: username.value, password: password)
        case "bearer":
            return credential(map, "token").map { .bearer(token: $0) }
        case "api_key":
            let key = credential(map, "key")
            var header = "Authorization"
            if let text = string(map, "header") {
                if !Self.isToken(text.value) {
                    fail(text.node, text.path, "invalid header name '\(text.raw)'")
                } else if Self.reservedCredentialHeaders.contains(text.value.lowercased()) {
                    fail(
                        text.node, text.path,
                        "'\(text.value)' is a framing or hop-by-hop field (RFC 9110 §7.6.1, RFC 9112 §6) and cannot carry a key",
                        suggestion: "use Authorization or an X-... header")
                } else {
                    header = text.value
                }
            }
            let scheme = choice(map, "scheme", as: APIKeyScheme.self) ?? APIKeyScheme.none
            return key.map { .apiKey(key: $0, header: header, scheme: scheme) }
        case "none":
            return ConnectionKind.none
        case "oauth2_authorization_code":
            return decodeAuthorizationCode(map).map { .oauth2AuthorizationCode($0) }
        case "oauth2_jwt_bearer":
            return decodeJWTBearer(map).map { .oauth2ClientCredentials($0) }
        default:
            return decodeOAuthClient(map, authorizationCode: false).map { .oauth2ClientCredentials($0) }
        }
    }

    /// A required credential value (password, token, key): resolved, checked for header injection.
    private func credential(_ map: Fields, _ key: String, allowEmpty: Bool = false) -> SecretString? {
        guard let text = requiredString(map, key) else { return nil }
        sensitiveValues.insert(text.value)
        guard checkHeaderSafe(text) else { return nil }
        if !allowEmpty && text.value.isEmpty {
            fail(text.node, text.path, "must not be empty")
            return nil
        }
        return SecretString(text.value)
    }

    /// Rejects CR, LF and NUL in a value that ends up in a header (request smuggling / header injection).
    /// With `multiline` (PEM keys) only NUL is rejected. The message never includes the value.
    @discardableResult
    func checkHeaderSafe(_ text: ScalarValue, multiline: Bool = false) -> Bool {
        let bad = text.value.unicodeScalars.contains { $0 == "\0" || (!multiline && ($0 == "\r" || $0 == "\n")) }
        if bad {
            let what = multiline ? "a NUL character" : "a CR, LF or NUL character (header injection)"
            fail(text.node, text.path, "resolved value contains \(what); check the secret or variable it comes from")
        }
        return !bad
    }

    /// RFC 9110 §5.6.2 token (header names, methods).
    static func isToken(_ text: String) -> Bool {
        !text.isEmpty
            && text.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "!#$%&'*+-.^_`|~".unicodeScalars.contains($0))
            }
    }

    /// `type: oauth2_client_credentials`, and the token-endpoint half of `oauth2_authorization_code`
    /// (where `client_auth: none`, a public client, is allowed and is the default without secret or key),
    /// and of `oauth2_jwt_bearer` (`jwtBearer`: the assertion is the grant, so `client_id` is optional,
    /// client authentication defaults to `none`, and a `service_account_file` may supply the token URL).
    func decodeOAuthClient(_ map: Fields, authorizationCode: Bool, jwtBearer: Bool = false) -> OAuthClientSettings? {
        var ok = true
        var settings = OAuthClientSettings(clientID: "")
        let tokenURL = endpointURL(map, "token_url")
        let discoveryURL = endpointURL(map, "discovery_url")
        settings.tokenURL = tokenURL?.url
        settings.discoveryURL = discoveryURL?.url
        if map["token_url"] == nil && map["discovery_url"] == nil && !(jwtBearer && map["service_account_file"] != nil) {
            fail(map.node, map.path, "missing 'token_url' or 'discovery_url'")
            ok = false
        }
        if let id = jwtBearer ? string(map, "client_id") : requiredString(map, "client_id") {
            if id.value.isEmpty { fail(id.node, id.path, "must not be empty") }
            checkHeaderSafe(id)
            settings.clientID = id.value
        } else if !jwtBearer {
            ok = false
        }
        if jwtBearer {
            settings.clientAuth = .none
            settings.jwtBearer = JWTBearerSettings(issuer: "")  // completed by decodeJWTBearer
        }
        // A jwt-bearer grant signs its own assertion with `signing_alg`; client_secret_jwt would need a second,
        // HMAC algorithm for the client assertion, so the two are not combined.
        let methods = OAuthClientAuthMethod.allCases.filter {
            (authorizationCode || jwtBearer || $0 != .none) && !(jwtBearer && $0 == .clientSecretJWT)
        }
        if let text = string(map, "client_auth"), let method = choice(text, in: methods.map(\.rawValue)) {
            settings.clientAuth = OAuthClientAuthMethod(rawValue: method)!
        } else if authorizationCode && map["client_auth"] == nil {
            // A public client unless a secret or key says otherwise.
            settings.clientAuth = map["client_secret"] != nil ? .clientSecretBasic : map["private_key"] != nil ? .privateKeyJWT : .none
        }
        if map["client_auth"] == nil && map["client_assertion_file"] != nil { settings.clientAuth = .privateKeyJWT }
        settings.clientAssertionFile = readableFile(map, "client_assertion_file")
        settings.clientSecret = reloadable(map, "client_secret", multiline: false)
        settings.privateKey = reloadable(map, "private_key", multiline: true)
        switch settings.clientAuth {
        case .clientSecretBasic, .clientSecretPost, .clientSecretJWT:
            if map["client_secret"] == nil {
                fail(map.node, map.path, "missing 'client_secret' (required for client_auth \(settings.clientAuth.rawValue))")
            }
        case .privateKeyJWT where jwtBearer:
            if map["client_assertion_file"] == nil {
                fail(map.node, map.path, "missing 'client_assertion_file' (client_auth private_key_jwt on oauth2_jwt_bearer)")
            }
        case .privateKeyJWT:
            if map["private_key"] == nil && map["client_assertion_file"] == nil {
                fail(map.node, map.path, "missing 'private_key' or 'client_assertion_file' (required for client_auth private_key_jwt)")
            } else if map["private_key"] != nil && map["client_assertion_file"] != nil {
                fail(map.keyNode("client_assertion_file"), map.path("client_assertion_file"), "give 'private_key' or 'client_assertion_file', not both")
            }
        case .tlsClientAuth, .selfSignedTLSClientAuth:
            // RFC 8705 §2: the TLS client certificate is the credential.
            if settings.clientID.isEmpty {
                fail(map.node, map.path, "missing 'client_id' (required for client_auth \(settings.clientAuth.rawValue))")
            }
        case .none:
            break
        }
        if map["client_assertion_file"] != nil && settings.clientAuth != .privateKeyJWT {
            fail(
                map.keyNode("client_assertion_file"), map.path("client_assertion_file"),
                "'client_assertion_file' is sent only with client_auth private_key_jwt (this connection uses \(settings.clientAuth.rawValue))")
        }
        settings.keyID = string(map, "key_id")?.value
        decodeAssertionKeys(map, into: &settings)
        settings.scopes = stringList(map, "scopes", spaceSeparated: true)?.map(\.value) ?? []
        settings.audience = string(map, "audience")?.value
        settings.tokenParams = stringMap(map, "token_params")?.map { ($0.key.value, $0.value.value) } ?? []
        settings.tokenHeaders = (stringMap(map, "token_headers") ?? []).compactMap { entry in
            guard Self.isToken(entry.key.value) else {
                fail(entry.key.node, entry.key.path, "invalid header name")
                return nil
            }
            return checkHeaderSafe(entry.value) ? (entry.key.value, entry.value.value) : nil
        }
        settings.tls = decodeTLS(map, "tls")
        if settings.clientAuth.isMutualTLS && (settings.tls.certFile == nil || settings.tls.keyFile == nil) {
            fail(
                map.node, map.path, "client_auth \(settings.clientAuth.rawValue) needs a client certificate",
                suggestion: "set tls: {cert_file: ..., key_file: ...} on the connection (RFC 8705 §2)")
        }
        settings.allowPlaintextCredentials = bool(map, "allow_plaintext_credentials") ?? false
        settings.refreshBeforeMs = int(map, "refresh_before_ms", in: ConfigBounds.refreshBeforeMs)
        if let timeout = int(map, "timeout_ms", in: ConfigBounds.timeoutMs) { settings.timeoutMs = timeout }
        if let wait = int(map, "token_wait_ms", in: ConfigBounds.tokenWaitMs) { settings.tokenWaitMs = wait }
        for endpoint in [tokenURL, discoveryURL].compactMap({ $0 })
        where !endpoint.url.isTLS && !endpoint.url.isLoopback && !settings.allowPlaintextCredentials {
            fail(
                endpoint.text.node, endpoint.text.path,
                "client credentials would be sent over plain HTTP to a non-loopback host",
                suggestion: "use https:// or set allow_plaintext_credentials: true")
        }
        return ok ? settings : nil
    }

    /// An endpoint URL value kept exactly as written (trailing '/', query), or nil (reported) when it does not parse.
    func endpointURL(_ map: Fields, _ key: String) -> (url: EndpointURL, text: ScalarValue)? {
        guard let text = string(map, key) else { return nil }
        do throws(ValueProblem) {
            return (try EndpointURL.parseForConfig(text.value), text)
        } catch {
            fail(text.node, text.path, error.message)
            return nil
        }
    }

    /// A route `upstream` URL value, or nil (reported) when it does not parse.
    func url(_ map: Fields, _ key: String) -> (url: UpstreamURL, text: ScalarValue)? {
        guard let text = string(map, key) else { return nil }
        do throws(ValueProblem) {
            return (try UpstreamURL.parse(text.value), text)
        } catch {
            fail(text.node, text.path, error.message)
            return nil
        }
    }

    /// An optional secret kept re-readable: `current()` re-resolves the template as written, so a
    /// rotated secret file is picked up; a value that no longer resolves or is unsafe falls back.
    func reloadable(_ map: Fields, _ key: String, multiline: Bool) -> ReloadableSecret? {
        guard let text = string(map, key) else { return nil }
        sensitiveValues.insert(text.value)
        guard checkHeaderSafe(text, multiline: multiline) else { return nil }
        let resolver = self.resolver
        let template = text.raw
        return ReloadableSecret(initial: SecretString(text.value)) {
            guard let value = resolver.resolveFresh(template) else { return nil }
            let unsafe = value.unicodeScalars.contains { $0 == "\0" || (!multiline && ($0 == "\r" || $0 == "\n")) }
            return unsafe ? nil : SecretString(value)
        }
    }
}
