import LatchkeyHTTP
import Testing

@testable import LatchkeyConfig

/// Endpoint URLs in config are used exactly as written (issue 10 §1); route `upstream` keeps its joining rule.
@Suite struct EndpointURLConfigTests {
    static func clientCredentials(_ lines: String) -> String {
        "connections:\n  idp:\n    type: oauth2_client_credentials\n    client_id: app\n    client_secret: s3cret-value\n"
            + lines
    }

    static func oauth(_ config: ProxyConfiguration) -> OAuthClientSettings? {
        guard case .oauth2ClientCredentials(let settings) = config.connections[0].kind else { return nil }
        return settings
    }

    @Test(arguments: [
        ("http://127.0.0.1:8000/o/token/", "/o/token/"),
        (
            "https://login.example.com/tenant/oauth2/v2.0/token?api-version=2.0",
            "/tenant/oauth2/v2.0/token?api-version=2.0"
        ),
        (
            "https://t.b2clogin.com/t.onmicrosoft.com/oauth2/v2.0/token?p=B2C_1_policy",
            "/t.onmicrosoft.com/oauth2/v2.0/token?p=B2C_1_policy"
        ),
        ("https://idp.example/realms/my%20realm/token/", "/realms/my%20realm/token/"),
        ("http://[::1]:9000/o/token/", "/o/token/"),
    ])
    func tokenURLIsKeptAsWritten(_ text: String, _ target: String) throws {
        let settings = try #require(Self.oauth(try parse(Self.clientCredentials("    token_url: \(text)\n"))))
        #expect(settings.tokenURL?.requestTarget == target)
        #expect(settings.tokenURL?.description.hasSuffix(target.dropFirst()) == true)
    }

    @Test func discoveryURLKeepsTrailingSlashAndQuery() throws {
        let settings = try #require(
            Self.oauth(
                try parse(
                    Self.clientCredentials(
                        "    discovery_url: http://127.0.0.1:8000/o/.well-known/openid-configuration/?p=x\n"))))
        #expect(settings.discoveryURL?.requestTarget == "/o/.well-known/openid-configuration/?p=x")
    }

    @Test(arguments: [
        ("https://idp.example/token#x", "fragment"),
        ("https://app:s3cret-value@idp.example/token", "user info"),
        ("ftp://idp.example/token", "scheme"),
        ("https://idp.example/o/to ken/", "space"),
        ("https://idp.example:0/token", "port"),
    ])
    func tokenURLRefusalsNameFileLineAndKey(_ text: String, _ message: String) {
        expectSingleError(
            Self.clientCredentials("    token_url: \"\(text)\"\n"), line: 6, column: 16,
            keyPath: "connections.idp.token_url",
            message: message)
        // The value (possibly a secret) is never quoted.
        #expect(!errors(Self.clientCredentials("    token_url: \"\(text)\"\n")).description.contains("idp.example"))
    }

    @Test func authorizationCodeEndpointsKeepTrailingSlashAndQuery() throws {
        let yaml = """
            state_dir: /var/lib/latchkey
            state_key: MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=
            connections:
              crm:
                type: oauth2_authorization_code
                authorize_url: http://127.0.0.1:8000/o/authorize/?p=B2C_1_policy
                token_url: http://127.0.0.1:8000/o/token/
                refresh_url: http://127.0.0.1:8000/o/token/?refresh=1
                revocation_url: http://127.0.0.1:8000/o/revoke_token/
                client_id: app
                redirect_uri: http://127.0.0.1:9901/oauth/callback/
            """
        let config = try parse(yaml)
        guard case .oauth2AuthorizationCode(let settings) = config.connections[0].kind else {
            Issue.record("wrong kind")
            return
        }
        #expect(settings.authorizeURL?.requestTarget == "/o/authorize/?p=B2C_1_policy")
        #expect(settings.client.tokenURL?.requestTarget == "/o/token/")
        #expect(settings.refreshURL?.requestTarget == "/o/token/?refresh=1")
        #expect(settings.revocationURL?.requestTarget == "/o/revoke_token/")
        #expect(settings.redirectURI == "http://127.0.0.1:9901/oauth/callback/")
    }

    @Test func authorizeURLAndRedirectURIRefuseFragmentsAndUserInfo() {
        let yaml = """
            state_dir: /var/lib/latchkey
            state_key: MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE=
            connections:
              crm:
                type: oauth2_authorization_code
                authorize_url: https://u:p@idp.example/authorize
                token_url: https://idp.example/token
                client_id: app
                redirect_uri: http://127.0.0.1:9901/cb#x
            """
        let found = errors(yaml)
        #expect(found.count == 2, "\(found)")
        #expect(found.contains { $0.keyPath == "connections.crm.authorize_url" && $0.message.contains("user info") })
        #expect(found.contains { $0.keyPath == "connections.crm.redirect_uri" && $0.message.contains("fragment") })
    }

    @Test func routeUpstreamKeepsItsJoiningRule() throws {
        let config = try parse(
            """
            routes:
              - path_prefix: /demo/
                upstream: "http://[::1]:8089/Base%20Path/"
            """)
        #expect(
            config.routes[0].upstream == UpstreamURL(scheme: "http", host: "::1", port: 8089, basePath: "/Base%20Path"))
        expectSingleError(
            "routes:\n  - path_prefix: /demo/\n    upstream: http://127.0.0.1:8089/base?x=1\n", line: 3, column: 15,
            keyPath: "routes[0].upstream", message: "must not have a query")
        expectSingleError(
            "routes:\n  - path_prefix: /demo/\n    upstream: \"http://127.0.0.1:8089/a b\"\n", line: 3, column: 15,
            keyPath: "routes[0].upstream", message: "space")
    }
}
