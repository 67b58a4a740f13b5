import LatchkeyHTTP
import Testing

@testable import LatchkeyConfig

/// `type: oauth2_authorization_code` and the top-level `state_dir` / `state_key`.
@Suite struct AuthorizationCodeConfigTests {
    static let key = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="  // base64 of 32 ASCII bytes

    static func yaml(_ connection: String, top: String = "state_dir: /var/lib/latchkey\nstate_key: \(key)\n") -> String {
        top + "connections:\n  crm:\n    type: oauth2_authorization_code\n" + connection
    }

    @Test func fullConnectionParses() throws {
        let config = try parse(
            Self.yaml(
                """
                    authorize_url: https://crm.example/oauth/authorize?tenant=7
                    token_url: https://crm.example/oauth/token
                    refresh_url: https://crm.example/oauth/refresh
                    revocation_url: https://crm.example/oauth/revoke
                    client_id: latchkey
                    client_secret: "{{secret:crm}}"
                    scopes: [contacts.read, offline_access]
                    authorize_params: {prompt: consent, access_type: offline}
                    token_headers: {X-Tenant: "7"}
                    redirect_uri: http://127.0.0.1:9901/oauth/callback
                """, top: "state_dir: state\nstate_key: \(Self.key)\nsecrets:\n  crm: {value: s3cret}\n"))
        guard case .oauth2AuthorizationCode(let settings) = config.connections[0].kind else {
            Issue.record("wrong kind")
            return
        }
        #expect(settings.authorizeURL?.description == "https://crm.example/oauth/authorize?tenant=7")
        #expect(settings.client.tokenURL?.description == "https://crm.example/oauth/token")
        #expect(settings.refreshURL?.description == "https://crm.example/oauth/refresh")
        #expect(settings.revocationURL?.description == "https://crm.example/oauth/revoke")
        #expect(settings.client.clientAuth == .clientSecretBasic)
        #expect(settings.client.clientSecret?.current().value == "s3cret")
        #expect(settings.client.scopes == ["contacts.read", "offline_access"])
        #expect(settings.authorizeParams.map { "\($0.0)=\($0.1)" } == ["prompt=consent", "access_type=offline"])
        #expect(settings.redirectURI == "http://127.0.0.1:9901/oauth/callback")
        #expect(config.stateDir == "state")  // relative to the config file's directory (none here)
        #expect(config.stateKey?.value == Self.key)
        #expect(config.connections[0].kind.typeName == "oauth2_authorization_code")
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("crm [oauth2_authorization_code] authorize_url=https://crm.example/oauth/authorize?tenant=7"))
        #expect(summary.contains("state_dir: state (state_key set)"))
        #expect(!summary.contains(Self.key))
    }

    @Test func publicClientDefaultsToNoClientAuthentication() throws {
        let config = try parse(Self.yaml("    discovery_url: https://crm.example\n    client_id: app\n"))
        guard case .oauth2AuthorizationCode(let settings) = config.connections[0].kind else { return }
        #expect(settings.client.clientAuth == OAuthClientAuthMethod.none)
        #expect(settings.authorizeURL == nil)
        #expect(settings.client.discoveryURL?.host == "crm.example")
    }

    @Test func clientAuthNoneIsNotForClientCredentials() {
        let found = errors(
            "connections:\n  c: {type: oauth2_client_credentials, token_url: https://i/t, client_id: a, client_secret: s, client_auth: none}")
        #expect(found.map(\.keyPath) == ["connections.c.client_auth"])
        #expect(found.first?.message.contains("invalid value 'none'; expected one of: client_secret_basic, client_secret_post, private_key_jwt") == true)
    }

    @Test func authorizeURLOrDiscoveryIsRequired() {
        expectSingleError(
            Self.yaml("    token_url: https://crm.example/token\n    client_id: app\n"), line: 5, column: 5,
            keyPath: "connections.crm", message: "missing 'authorize_url' or 'discovery_url'")
    }

    @Test func stateDirAndKeyAreRequired() {
        let found = errors(Self.yaml("    discovery_url: https://crm.example\n    client_id: app\n", top: ""))
        #expect(found.map(\.keyPath) == ["state_dir", "state_key"])
        #expect(found.first?.message.contains("connection 'crm' is oauth2_authorization_code") == true)
    }

    @Test func stateKeyMustBe32BytesOfBase64AndIsNeverEchoed() {
        let short = "c2hvcnQ="
        expectSingleError(
            Self.yaml("    discovery_url: https://crm.example\n    client_id: app\n", top: "state_dir: /s\nstate_key: \(short)\n"),
            line: 2, column: 12, keyPath: "state_key", message: "expected base64 of exactly 32 bytes")
        let found = errors("state_dir: /s\nstate_key: not-base64!!\n")
        #expect(found.count == 1)
        #expect(!found.description.contains("not-base64"))
    }

    @Test func plaintextRefreshEndpointIsRejected() {
        expectSingleError(
            Self.yaml(
                "    authorize_url: https://crm.example/a\n    token_url: https://crm.example/t\n"
                    + "    refresh_url: http://crm.example/r\n    client_id: app\n"),
            line: 8, column: 18, keyPath: "connections.crm.refresh_url", message: "plain HTTP")
    }

    @Test func reservedAuthorizeParamsAreRejected() {
        let found = errors(
            Self.yaml("    authorize_url: https://crm.example/a\n    token_url: https://crm.example/t\n    client_id: app\n"
                + "    authorize_params: {state: x, prompt: consent}\n"))
        #expect(found.map(\.keyPath) == ["connections.crm.authorize_params.state"])
    }

    @Test func clientCredentialsKeysOnlyDoNotApply() {
        let found = errors(
            Self.yaml("    authorize_url: https://crm.example/a\n    token_url: https://crm.example/t\n    client_id: app\n    audience: x\n"))
        #expect(found.map(\.message) == ["key does not apply to type 'oauth2_authorization_code'"])
    }
}
