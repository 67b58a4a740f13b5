import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@Suite struct DiscoveryTests {
    private func url(_ text: String) -> EndpointURL { Discovery.parseURL(text)! }

    @Test func issuerWithoutPath() {
        let candidates = Discovery.candidateURLs(for: url("https://idp.example.com")).map(\.description)
        #expect(candidates == [
            "https://idp.example.com/.well-known/oauth-authorization-server",
            "https://idp.example.com/.well-known/openid-configuration",
        ])
    }

    @Test func issuerWithPathInsertsWellKnownBeforeThePath() {
        // RFC 8414 §3.1 example: issuer https://example.com/issuer1.
        let candidates = Discovery.candidateURLs(for: url("https://example.com:8443/issuer1/")).map(\.description)
        #expect(candidates == [
            "https://example.com:8443/.well-known/oauth-authorization-server/issuer1",
            "https://example.com:8443/issuer1/.well-known/openid-configuration",
            "https://example.com:8443/.well-known/openid-configuration/issuer1",
        ])
    }

    @Test func fullWellKnownURLIsUsedAsIs() {
        let u = url("https://login.example.com/tenant/v2.0/.well-known/openid-configuration")
        #expect(Discovery.candidateURLs(for: u) == [u])
    }

    @Test func metadataParsingAndAuthMethodCheck() throws {
        let body = FakeTokenClient.json200([
            "issuer": "https://idp", "token_endpoint": "https://idp.example.com:9443/oauth2/token?tenant=a",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
        ]).body
        let metadata = try Discovery.parseMetadata(body, clientAuth: .privateKeyJWT, connection: "c").get()
        #expect(metadata.tokenEndpoint == EndpointURL(scheme: "https", host: "idp.example.com", port: 9443, path: "/oauth2/token", query: "tenant=a"))
        guard case .failure(let error) = Discovery.parseMetadata(body, clientAuth: .clientSecretBasic, connection: "c") else {
            return #expect(Bool(false))
        }
        #expect(error.code == .misconfigured && error.detail.contains("client_secret_basic"))
    }

    /// Issue 10 §1: a Django-style document (every path ends in '/') and a B2C-style query are kept as
    /// published, through the same parser as config; a `.well-known` URL with a trailing '/' is used as is.
    @Test func publishedEndpointsAreKeptExactlyAsWritten() throws {
        let wellKnown = url("http://127.0.0.1:8000/o/.well-known/openid-configuration/")
        #expect(Discovery.candidateURLs(for: wellKnown).map(\.requestTarget) == ["/o/.well-known/openid-configuration/"])
        let issuerWithQuery = url("https://b2c.example/tenant/v2.0/?p=B2C_1_policy")
        #expect(Discovery.candidateURLs(for: issuerWithQuery).map(\.requestTarget) == [
            "/.well-known/oauth-authorization-server/tenant/v2.0?p=B2C_1_policy",
            "/tenant/v2.0/.well-known/openid-configuration?p=B2C_1_policy",
            "/.well-known/openid-configuration/tenant/v2.0?p=B2C_1_policy",
        ])
        let body = FakeTokenClient.json200([
            "token_endpoint": "http://127.0.0.1:8000/o/token/",
            "authorization_endpoint": "https://b2c.example/tenant/oauth2/v2.0/authorize?p=B2C_1_policy",
            "revocation_endpoint": "http://127.0.0.1:8000/o/revoke_token/",
        ]).body
        let metadata = try Discovery.parseMetadata(body, clientAuth: .clientSecretBasic, connection: "c").get()
        #expect(metadata.tokenEndpoint.requestTarget == "/o/token/")
        #expect(metadata.authorizationEndpoint?.requestTarget == "/tenant/oauth2/v2.0/authorize?p=B2C_1_policy")
        #expect(metadata.revocationEndpoint?.requestTarget == "/o/revoke_token/")
        // What the config parser refuses, discovery refuses too (a fragment, user info).
        #expect(Discovery.parseURL("https://idp.example/token#x") == nil)
        #expect(Discovery.parseURL("https://u:p@idp.example/token") == nil)
        let bad = FakeTokenClient.json200(["token_endpoint": "https://idp.example/o/token/#frag"]).body
        guard case .failure(let error) = Discovery.parseMetadata(bad, clientAuth: .clientSecretBasic, connection: "c") else {
            return #expect(Bool(false))
        }
        #expect(error.code == .misconfigured && error.detail.contains("token_endpoint is unusable: URL must not have a fragment"))
    }

    @Test func absentAuthMethodsDefaultToClientSecretBasic() throws {
        let body = FakeTokenClient.json200(["token_endpoint": "https://[::1]:8080/token"]).body
        let metadata = try Discovery.parseMetadata(body, clientAuth: .clientSecretBasic, connection: "c").get()
        #expect(metadata.authMethodsSupported == ["client_secret_basic"])
        #expect(metadata.tokenEndpoint.host == "::1" && metadata.tokenEndpoint.isLoopback)
        #expect(Discovery.parseMetadata(body, clientAuth: .clientSecretPost, connection: "c").isFailure)
    }
}

extension Result {
    var isFailure: Bool { if case .failure = self { true } else { false } }
}
