import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyAuth

@Suite struct TokenRequestBuilderTests {
    static let tokenURL = EndpointURL(scheme: "https", host: "idp.example.com", port: 443, path: "/oauth2/token")

    private func build(_ settings: OAuthClientSettings, key: CredentialKey = .connectionDefault, url: EndpointURL = tokenURL) throws
        -> TokenEndpointRequest
    {
        try TokenRequestBuilder(connectionName: "c", settings: settings, scrubber: SecretScrubber())
            .makeRequest(tokenURL: url, parameters: OAuthRequestParameters(settings: settings, key: key), now: 1_700_000_000)
    }

    @Test func clientSecretBasicWithScopesAudienceParamsAndHeaders() throws {
        let settings = OAuthClientSettings(
            clientID: "a b+c&d=e%f:g/é", clientSecret: ReloadableSecret(initial: SecretString("p&ss word")),
            scopes: ["read", "write:all"], audience: "https://api.example.com", tokenParams: [("resource", "r1")],
            tokenHeaders: [("X-Tenant", "t1")])
        let request = try build(settings)
        #expect(request.method == "POST")
        #expect(request.header("Content-Type") == "application/x-www-form-urlencoded")
        #expect(request.header("X-Tenant") == "t1")
        #expect(request.header("Authorization") == TokenRequestBuilder.basicAuthorization(clientID: "a b+c&d=e%f:g/é", secret: "p&ss word"))
        #expect(String(decoding: request.body, as: UTF8.self)
            == "grant_type=client_credentials&scope=read+write%3Aall&audience=https%3A%2F%2Fapi.example.com&resource=r1")
        #expect(request.form("client_secret") == nil)
    }

    @Test func clientSecretPostAndRouteOverrides() throws {
        let settings = OAuthClientSettings(
            clientID: "id", clientSecret: ReloadableSecret(initial: SecretString("s")), clientAuth: .clientSecretPost,
            scopes: ["a"], audience: "aud", tokenParams: [("resource", "r1"), ("x", "1")])
        let key = CredentialKey(scopes: ["b", "c"], audience: "aud2", tokenParams: ["x": "2", "extra": "e"])
        let request = try build(settings, key: key)
        #expect(request.header("Authorization") == nil)
        #expect(request.formPairs.map { "\($0.0)=\($0.1)" } == [
            "grant_type=client_credentials", "scope=b c", "audience=aud2", "resource=r1", "x=2", "extra=e", "client_id=id",
            "client_secret=s",
        ])
    }

    @Test func privateKeyJWTParameters() throws {
        let settings = OAuthClientSettings(
            clientID: "id", clientAuth: .privateKeyJWT, privateKey: ReloadableSecret(initial: SecretString(TestKeys.ec.privatePEM)),
            keyID: "kid1", signingAlgorithm: .es256)
        let request = try build(settings)
        #expect(request.form("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(request.form("client_assertion")?.split(separator: ".").count == 3)
        #expect(request.header("Authorization") == nil)
    }

    @Test func clientSecretJWTIsAnHMACAssertionWithTheConfiguredAudience() throws {
        let secret = String(repeating: "s3cr3t-", count: 10)
        var settings = OAuthClientSettings(
            clientID: "id", clientSecret: ReloadableSecret(initial: SecretString(secret)), clientAuth: .clientSecretJWT,
            signingAlgorithm: .hs384)
        settings.assertionAudience = "https://idp.example.com"
        let request = try build(settings)
        #expect(request.form("client_assertion_type") == TokenRequestBuilder.assertionType)
        #expect(request.form("client_secret") == nil && request.header("Authorization") == nil)
        let parts = try #require(request.form("client_assertion")).split(separator: ".").map(String.init)
        try #require(parts.count == 3)
        let header = try #require(Base64.decode(parts[0]).map { String(decoding: $0, as: UTF8.self) })
        let claims = try #require(Base64.decode(parts[1]).map { String(decoding: $0, as: UTF8.self) })
        #expect(header.contains(#""alg":"HS384""#))
        #expect(claims.contains(#""aud":"https://idp.example.com""#) && !claims.contains("oauth2/token"))
        let mac = try AssertionSigner.hmac(Array("\(parts[0]).\(parts[1])".utf8), secret: secret, algorithm: .hs384)
        #expect(Base64.encodeURLSafe(mac) == parts[2])
        #expect(!request.body.isEmpty && !String(decoding: request.body, as: UTF8.self).contains(secret))
    }

    @Test func plaintextNonLoopbackIsRefused() throws {
        let settings = OAuthClientSettings(clientID: "id", clientSecret: ReloadableSecret(initial: SecretString("s")))
        let plain = EndpointURL(scheme: "http", host: "idp.example.com", port: 80, path: "/token")
        #expect(throws: CredentialError.self) { try build(settings, url: plain) }
        _ = try build(settings, url: EndpointURL(scheme: "http", host: "127.0.0.1", port: 8080, path: "/token"))
        var allowed = settings
        allowed.allowPlaintextCredentials = true
        _ = try build(allowed, url: plain)
    }

    @Test func missingSecretIsMisconfigured() {
        let settings = OAuthClientSettings(clientID: "id")
        #expect(throws: CredentialError.self) { try build(settings) }
    }

    /// Issue 10 §1: the token URL is used exactly as written; its query is not a place for grant parameters,
    /// and a private_key_jwt `aud` is the URL as written (trailing '/' and query included).
    @Test func tokenURLWithTrailingSlashAndQueryIsUsedAsWritten() throws {
        let url = try EndpointURL.parse("https://login.example.com/tenant/oauth2/v2.0/token/?api-version=2.0")
        let settings = OAuthClientSettings(
            clientID: "id", clientSecret: ReloadableSecret(initial: SecretString("s")), clientAuth: .clientSecretPost,
            scopes: ["a"])
        let request = try build(settings, url: url)
        #expect(request.url.requestTarget == "/tenant/oauth2/v2.0/token/?api-version=2.0")
        #expect(request.url == url)
        #expect(request.formPairs.map { "\($0.0)=\($0.1)" } == ["grant_type=client_credentials", "scope=a", "client_id=id", "client_secret=s"])

        let jwt = OAuthClientSettings(
            clientID: "id", clientAuth: .privateKeyJWT, privateKey: ReloadableSecret(initial: SecretString(TestKeys.ec.privatePEM)),
            signingAlgorithm: .es256)
        let assertion = try #require(try build(jwt, url: url).form("client_assertion"))
        let payload = try #require(Base64.decode(String(assertion.split(separator: ".")[1])))
        let claims = try #require(try JSONSerialization.jsonObject(with: Data(payload)) as? [String: Any])
        #expect(claims["aud"] as? String == "https://login.example.com/tenant/oauth2/v2.0/token/?api-version=2.0")
    }

    /// Issue 11: the `client_secret_basic` header's base64 (which a provider may echo) is registered with the
    /// builder's own scrubber, not a global one.
    @Test func clientSecretBasicRegistersItsBase64WithTheInjectedScrubber() throws {
        let settings = OAuthClientSettings(clientID: "app", clientSecret: ReloadableSecret(initial: SecretString("s3cr3t")))
        let scrubber = SecretScrubber()
        let bystander = SecretScrubber()
        let request = try TokenRequestBuilder(connectionName: "c", settings: settings, scrubber: scrubber)
            .makeRequest(tokenURL: Self.tokenURL, parameters: OAuthRequestParameters(settings: settings, key: .connectionDefault), now: 0)
        let encoded = TokenRequestBuilder.basicCredentials(clientID: "app", secret: "s3cr3t")
        #expect(request.header("Authorization") == "Basic " + encoded)
        #expect(scrubber.scrub("echo: \(encoded)") == "echo: [redacted]")
        #expect(!bystander.containsSecret(encoded))
    }
}
