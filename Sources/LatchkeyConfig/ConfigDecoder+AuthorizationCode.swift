import Foundation
import LatchkeyHTTP
import Yams

extension ConfigDecoder {
    /// `type: oauth2_authorization_code`: the shared token-endpoint settings plus the authorization
    /// endpoint, refresh and revocation endpoints, `authorize_params` and `redirect_uri`.
    func decodeAuthorizationCode(_ map: Fields) -> OAuthAuthorizationCodeSettings? {
        let client = decodeOAuthClient(map, authorizationCode: true)
        var settings = OAuthAuthorizationCodeSettings(client: client ?? OAuthClientSettings(clientID: ""))
        if let endpoint = endpointURL(map, "authorize_url") {
            settings.authorizeURL = endpoint.url
        } else if map["authorize_url"] == nil && map["discovery_url"] == nil {
            fail(map.node, map.path, "missing 'authorize_url' or 'discovery_url'")
        }
        let allowPlaintext = client?.allowPlaintextCredentials ?? false
        for key in ["refresh_url", "revocation_url"] {
            guard let endpoint = endpointURL(map, key) else { continue }
            if key == "refresh_url" { settings.refreshURL = endpoint.url } else { settings.revocationURL = endpoint.url }
            if !endpoint.url.isTLS && !endpoint.url.isLoopback && !allowPlaintext {
                fail(
                    endpoint.text.node, endpoint.text.path, "tokens would be sent over plain HTTP to a non-loopback host",
                    suggestion: "use https:// or set allow_plaintext_credentials: true")
            }
        }
        settings.authorizeParams = stringMap(map, "authorize_params")?.map { ($0.key.value, $0.value.value) } ?? []
        let reserved: Set = ["response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"]
        for (name, _) in settings.authorizeParams where reserved.contains(name) {
            fail(map["authorize_params"], map.path("authorize_params") + ".\(name)", "set by Latchkey; remove it")
        }
        if let text = string(map, "redirect_uri") {
            // Sent as written (it must match the registration byte for byte); parsed only to refuse what
            // RFC 6749 §3.1.2 forbids (a fragment) and what the endpoint parser refuses everywhere.
            do throws(ValueProblem) {
                _ = try EndpointURL.parseForConfig(text.value)
                settings.redirectURI = text.value
            } catch {
                fail(text.node, text.path, error.message + " (RFC 6749 §3.1.2)")
            }
        }
        return client == nil ? nil : settings
    }

    /// `state_dir:` and `state_key:` at the top level, checked against the connections that need them.
    func decodeState(_ top: Fields, into configuration: inout ProxyConfiguration) {
        if let text = string(top, "state_dir") {
            if text.value.isEmpty { fail(text.node, text.path, "must not be empty") } else {
                configuration.stateDir = absolutePath(text.value)
            }
        }
        if let text = string(top, "state_key") {
            sensitiveValues.insert(text.value)
            let trimmed = text.value.trimmingCharacters(in: .whitespacesAndNewlines)
            if !readsSecrets {
                configuration.stateKey = SecretString(Data(count: 32).base64EncodedString())  // never used by check
            } else if let bytes = Data(base64Encoded: trimmed), bytes.count == 32 {
                configuration.stateKey = SecretString(trimmed)
            } else {
                // Never echo the value: it is a key.
                fail(
                    text.node, text.path, "expected base64 of exactly 32 bytes (an AES-256 key)",
                    suggestion: "generate one with: openssl rand -base64 32")
            }
        }
        let needing = configuration.connections.filter {
            if case .oauth2AuthorizationCode = $0.kind { return true } else { return false }
        }
        guard let first = needing.first else { return }
        for key in ["state_dir", "state_key"] where top[key] == nil {
            fail(
                top.node, key,
                "missing '\(key)' (required because connection '\(first.name)' is oauth2_authorization_code: refresh tokens are kept encrypted in state_dir)"
            )
        }
    }
}
