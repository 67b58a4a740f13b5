import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import Testing

/// The issue 10 §3 token-request forms: the JWT bearer grant (RFC 7523 §2.1), `client_assertion_file`
/// (RFC 7523 §2.2) and mutual-TLS client authentication (RFC 8705 §2).
@Suite struct GrantRequestTests {
    static let tokenURL = EndpointURL(scheme: "https", host: "oauth2.example.com", port: 443, path: "/token")

    private func build(_ settings: OAuthClientSettings, key: CredentialKey = .connectionDefault) throws -> TokenEndpointRequest {
        try TokenRequestBuilder(connectionName: "c", settings: settings, scrubber: SecretScrubber())
            .makeRequest(tokenURL: Self.tokenURL, parameters: OAuthRequestParameters(settings: settings, key: key), now: 1_700_000_000)
    }

    private func decode(_ token: String) throws -> (header: [String: Any], claims: [String: Any], parts: [Substring]) {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        try #require(parts.count == 3)
        func json(_ segment: Substring) throws -> [String: Any] {
            let bytes = try #require(Base64.decode(String(segment)))
            return try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        }
        return (try json(parts[0]), try json(parts[1]), parts)
    }

    private func jwtBearer(_ jwt: JWTBearerSettings, clientID: String = "", scopes: [String] = ["read", "write"]) -> OAuthClientSettings {
        var settings = OAuthClientSettings(
            clientID: clientID, clientAuth: .none, privateKey: ReloadableSecret(initial: SecretString(TestKeys.rsa.privatePEM)),
            keyID: "kid-1", scopes: scopes)
        settings.jwtBearer = jwt
        return settings
    }

    @Test func jwtBearerGrantSignsTheAssertionAndSendsScopeAsAParameter() throws {
        let settings = jwtBearer(
            JWTBearerSettings(issuer: "3MVG9-consumer-key", subject: "alice@example.com", audience: "https://login.salesforce.com",
                              claims: [.init(name: "tenant", value: "t1")]))
        let request = try build(settings)
        #expect(request.formPairs.map(\.0) == ["grant_type", "assertion", "scope"])
        #expect(request.form("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer")
        #expect(request.form("scope") == "read write")
        #expect(request.form("client_id") == nil && request.header("Authorization") == nil)
        let (header, claims, parts) = try decode(try #require(request.form("assertion")))
        #expect(header["alg"] as? String == "RS256" && header["kid"] as? String == "kid-1")
        #expect(claims["iss"] as? String == "3MVG9-consumer-key")
        #expect(claims["sub"] as? String == "alice@example.com")
        #expect(claims["aud"] as? String == "https://login.salesforce.com")
        #expect(claims["tenant"] as? String == "t1")
        #expect(claims["scope"] == nil)
        #expect(claims["iat"] as? Int == 1_700_000_000 && claims["exp"] as? Int == 1_700_000_000 + JWTBearerAssertion.lifetime)
        #expect((claims["jti"] as? String)?.isEmpty == false)
        let signature = try #require(Base64.decode(String(parts[2])))
        #expect(TestKeys.verify(Array((parts[0] + "." + parts[1]).utf8), signature: signature, publicPEM: TestKeys.rsa.publicPEM, algorithm: .rs256))
    }

    @Test func serviceAccountShapePutsScopesInTheAssertionAndDefaultsAudienceToTheTokenURL() throws {
        let settings = jwtBearer(JWTBearerSettings(issuer: "sa@project.iam.gserviceaccount.com", scopesInAssertion: true))
        let request = try build(settings)
        #expect(request.formPairs.map(\.0) == ["grant_type", "assertion"])
        let (_, claims, _) = try decode(try #require(request.form("assertion")))
        #expect(claims["iss"] as? String == "sa@project.iam.gserviceaccount.com")
        #expect(claims["sub"] as? String == "sa@project.iam.gserviceaccount.com")
        #expect(claims["aud"] as? String == "https://oauth2.example.com/token")
        #expect(claims["scope"] as? String == "read write")
    }

    @Test func jwtBearerSignsWithAnEncryptedKeyAndItsPassphrase() throws {
        var settings = jwtBearer(JWTBearerSettings(issuer: "svc"), scopes: [])
        settings.privateKey = ReloadableSecret(
            initial: SecretString(TestKeys.reencode(TestKeys.ec.privatePEM, traditional: false, passphrase: "pass-phrase-1")))
        settings.privateKeyPassphrase = ReloadableSecret(initial: SecretString("pass-phrase-1"))
        settings.signingAlgorithm = .es256
        let (header, _, parts) = try decode(try #require(try build(settings).form("assertion")))
        #expect(header["alg"] as? String == "ES256")
        let signature = try #require(Base64.decode(String(parts[2])))
        #expect(TestKeys.verify(Array((parts[0] + "." + parts[1]).utf8), signature: signature, publicPEM: TestKeys.ec.publicPEM, algorithm: .es256))
        settings.privateKeyPassphrase = ReloadableSecret(initial: SecretString("wrong"))
        #expect(throws: CredentialError.self) { try build(settings) }
    }

    @Test func aJWTBearerKeyIsCheckedAtLoad() {
        var settings = jwtBearer(JWTBearerSettings(issuer: "svc"))
        #expect(OAuthClientKeyCheck.errors(in: settings, connection: "c").isEmpty)
        settings.signingAlgorithm = .es256  // an RSA key cannot sign ES256
        #expect(!OAuthClientKeyCheck.errors(in: settings, connection: "c").isEmpty)
        settings.privateKey = ReloadableSecret(initial: SecretString("not a key"))
        #expect(OAuthClientKeyCheck.errors(in: settings, connection: "c").first?.keyPath == "connections.c.private_key")
    }

    @Test func aRoutesAudienceOverrideSetsTheAssertionAudience() throws {
        let settings = jwtBearer(JWTBearerSettings(issuer: "svc", audience: "https://configured.example.com"))
        let request = try build(settings, key: CredentialKey(scopes: ["only"], audience: "https://route.example.com"))
        let (_, claims, _) = try decode(try #require(request.form("assertion")))
        #expect(claims["aud"] as? String == "https://route.example.com")
        #expect(request.form("scope") == "only" && request.form("audience") == nil)
    }

    @Test func jwtBearerWithClientSecretAuthenticatesTheClientToo() throws {
        var settings = jwtBearer(JWTBearerSettings(issuer: "app"), clientID: "app", scopes: [])
        settings.clientAuth = .clientSecretBasic
        settings.clientSecret = ReloadableSecret(initial: SecretString("s"))
        let request = try build(settings)
        #expect(request.header("Authorization") == TokenRequestBuilder.basicAuthorization(clientID: "app", secret: "s"))
        #expect(request.form("scope") == nil)
    }

    @Test func clientAssertionFileIsReadOnEveryRequest() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lk-assertion-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let settings = OAuthClientSettings(clientID: "app", clientAuth: .privateKeyJWT)
        var withFile = settings
        withFile.clientAssertionFile = path
        try "aaa.bbb.ccc\n".write(toFile: path, atomically: true, encoding: .utf8)
        let first = try build(withFile)
        #expect(first.form("client_assertion_type") == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        #expect(first.form("client_assertion") == "aaa.bbb.ccc")
        #expect(first.form("client_id") == "app" && first.header("Authorization") == nil)
        try "ddd.eee.fff".write(toFile: path, atomically: true, encoding: .utf8)  // the kubelet rotated it
        #expect(try build(withFile).form("client_assertion") == "ddd.eee.fff")
    }

    @Test func clientAssertionFileMissingOrNotAJWTIsAClearErrorWithoutTheContent() throws {
        var settings = OAuthClientSettings(clientID: "app", clientAuth: .privateKeyJWT)
        settings.clientAssertionFile = "/nonexistent/token"
        #expect { try build(settings) } throws: { ($0 as? CredentialError)?.detail.contains("cannot be read") == true }
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lk-assertion-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "not-a-jwt-secretish".write(toFile: path, atomically: true, encoding: .utf8)
        settings.clientAssertionFile = path
        #expect {
            try build(settings)
        } throws: {
            let detail = ($0 as? CredentialError)?.detail ?? ""
            return detail.contains("compact JWT") && !detail.contains("secretish")
        }
    }

    @Test(arguments: [OAuthClientAuthMethod.tlsClientAuth, .selfSignedTLSClientAuth])
    func mutualTLSSendsOnlyTheClientIDAndTheCertificateSettings(method: OAuthClientAuthMethod) throws {
        let settings = OAuthClientSettings(
            clientID: "mtls-app", clientAuth: method, scopes: ["read"],
            tls: TLSSettings(certFile: "/etc/latchkey/client.pem", keyFile: "/etc/latchkey/client.key"))
        let request = try build(settings)
        #expect(request.formPairs.map { "\($0.0)=\($0.1)" } == ["grant_type=client_credentials", "scope=read", "client_id=mtls-app"])
        #expect(request.header("Authorization") == nil)
        #expect(request.tls.certFile == "/etc/latchkey/client.pem" && request.tls.keyFile == "/etc/latchkey/client.key")
    }
}
