import Foundation
import Testing

@testable import LatchkeyConfig

/// Issue 10 §3: `type: oauth2_jwt_bearer`, `service_account_file`, `client_assertion_file` and the
/// RFC 8705 `client_auth` methods.
@Suite struct GrantConfigTests {
    static let pem = "-----BEGIN PRIVATE KEY-----\nMIIE...\n-----END PRIVATE KEY-----\n"
    static let serviceAccount = """
        {"type": "service_account", "project_id": "p", "private_key_id": "abc123",
         "private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE...\\n-----END PRIVATE KEY-----\\n",
         "client_email": "proxy@p.iam.gserviceaccount.com", "token_uri": "https://oauth2.googleapis.com/token"}
        """
    static let files = ["/keys/sa.json": serviceAccount, "/keys/rsa.pem": pem, "/certs/c.pem": "cert", "/certs/c.key": "key",
                        "/var/run/secrets/tokens/idp": "a.b.c"]

    private func connection(_ body: String) throws -> OAuthClientSettings {
        let config = try parse("connections:\n  c:\n" + body, files: Self.files)
        guard case .oauth2ClientCredentials(let settings) = config.connections[0].kind else {
            Issue.record("wrong kind")
            return OAuthClientSettings(clientID: "")
        }
        #expect(config.connections[0].kind.typeName == (settings.jwtBearer == nil ? "oauth2_client_credentials" : "oauth2_jwt_bearer"))
        return settings
    }

    private func messages(_ body: String) -> [String] {
        errors("connections:\n  c:\n" + body, files: Self.files).map { "\($0.keyPath): \($0.message)" }
    }

    @Test func jwtBearerWithPrivateKeyAndAssertionFields() throws {
        let settings = try connection(
            """
                type: oauth2_jwt_bearer
                token_url: https://login.salesforce.com/services/oauth2/token
                issuer: 3MVG9-consumer-key
                subject: integration@example.com
                audience: https://login.salesforce.com
                private_key: "{{secret:k}}"
                claims: {tenant: t1}
                scopes: [api]
            secrets:
              k: {file: /keys/rsa.pem}
            """)
        let jwt = try #require(settings.jwtBearer)
        #expect(jwt.issuer == "3MVG9-consumer-key" && jwt.subject == "integration@example.com")
        #expect(jwt.audience == "https://login.salesforce.com" && settings.audience == nil)
        #expect(jwt.claims == [.init(name: "tenant", value: "t1")] && !jwt.scopesInAssertion)
        #expect(settings.clientAuth == .none && settings.clientID.isEmpty && settings.scopes == ["api"])
        #expect(settings.privateKey?.current().value.hasPrefix("-----BEGIN PRIVATE KEY-----") == true)
    }

    @Test func issuerDefaultsToClientIDAndSubjectToIssuer() throws {
        let settings = try connection(
            "    type: oauth2_jwt_bearer\n    token_url: https://idp.example.com/token\n    client_id: app\n    private_key: \"{{secret:k}}\"\n"
                + "secrets:\n  k: {file: /keys/rsa.pem}\n")
        #expect(settings.jwtBearer?.issuer == "app" && settings.jwtBearer?.subject == "app")
    }

    @Test func serviceAccountFileSuppliesKeyIdentityAndTokenURL() throws {
        let settings = try connection("    type: oauth2_jwt_bearer\n    service_account_file: /keys/sa.json\n    scopes: [https://www.googleapis.com/auth/cloud-platform]\n")
        let jwt = try #require(settings.jwtBearer)
        #expect(jwt.issuer == "proxy@p.iam.gserviceaccount.com" && jwt.subject == jwt.issuer && jwt.scopesInAssertion)
        #expect(jwt.serviceAccountFile == "/keys/sa.json")
        #expect(settings.keyID == "abc123" && settings.signingAlgorithm == .rs256)
        #expect(settings.tokenURL?.description == "https://oauth2.googleapis.com/token")
        #expect(settings.privateKey?.initial.value == Self.pem)
        // Domain-wide delegation: `subject` names the user to impersonate.
        let delegated = try connection("    type: oauth2_jwt_bearer\n    service_account_file: /keys/sa.json\n    subject: admin@example.com\n")
        #expect(delegated.jwtBearer?.subject == "admin@example.com" && delegated.jwtBearer?.issuer == "proxy@p.iam.gserviceaccount.com")
    }

    @Test func summaryShowsTheAssertionIdentityAndNeverTheKey() throws {
        let config = try parse("connections:\n  c:\n    type: oauth2_jwt_bearer\n    service_account_file: /keys/sa.json\n", files: Self.files)
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("[oauth2_jwt_bearer]") && summary.contains("issuer=proxy@p.iam.gserviceaccount.com"))
        #expect(summary.contains("service_account_file=/keys/sa.json") && !summary.contains("MIIE"))
    }

    @Test func badServiceAccountFilesAreNamedWithoutTheirContent() {
        var files = Self.files
        files["/keys/bad.json"] = "{\"type\": \"service_account\", \"private_key\": \"-----BEGIN PRIVATE KEY-----SECRETBITS\"}"
        let found = errors("connections:\n  c:\n    type: oauth2_jwt_bearer\n    service_account_file: /keys/bad.json\n", files: files)
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "connections.c.service_account_file" && found.first?.line == 4)
        #expect(found.first?.message.contains("client_email") == true && found.first?.message.contains("SECRETBITS") == false)
        #expect(messages("    type: oauth2_jwt_bearer\n    service_account_file: /keys/missing.json\n").contains { $0.contains("cannot read") })
    }

    @Test func jwtBearerProblems() {
        #expect(messages("    type: oauth2_jwt_bearer\n    token_url: https://idp.example.com/token\n    issuer: x\n")
            .contains { $0.contains("missing 'private_key' or 'service_account_file'") })
        #expect(messages("    type: oauth2_jwt_bearer\n    token_url: https://idp.example.com/token\n    private_key: k\n")
            .contains { $0.contains("missing 'issuer'") })
        #expect(messages("    type: oauth2_jwt_bearer\n    token_url: https://idp.example.com/token\n    issuer: x\n    private_key: k\n    claims: {exp: \"9\"}\n")
            .contains { $0.hasPrefix("connections.c.claims.exp") && $0.contains("set by the proxy") })
        #expect(messages("    type: oauth2_jwt_bearer\n    service_account_file: /keys/sa.json\n    private_key: k\n")
            .contains { $0.contains("supplies the key") })
        // The grant's own assertion uses signing_alg; an HMAC client assertion beside it is refused.
        #expect(messages("    type: oauth2_jwt_bearer\n    token_url: https://idp.example.com/token\n    issuer: x\n    private_key: k\n    client_id: a\n    client_secret: s\n    client_auth: client_secret_jwt\n")
            .contains { $0.hasPrefix("connections.c.client_auth") && $0.contains("invalid value 'client_secret_jwt'") })
        // A key of another type is refused with the type named.
        #expect(messages("    type: oauth2_client_credentials\n    token_url: https://idp.example.com/token\n    client_id: a\n    client_secret: s\n    issuer: x\n")
            .contains { $0.contains("issuer") })
    }

    @Test func clientAssertionFileImpliesPrivateKeyJWT() throws {
        let settings = try connection(
            "    type: oauth2_client_credentials\n    token_url: https://login.microsoftonline.com/t/oauth2/v2.0/token\n    client_id: app\n"
                + "    client_assertion_file: /var/run/secrets/tokens/idp\n")
        #expect(settings.clientAuth == .privateKeyJWT && settings.clientAssertionFile == "/var/run/secrets/tokens/idp")
        #expect(settings.privateKey == nil)
    }

    @Test func clientAssertionFileProblems() {
        #expect(messages("    type: oauth2_client_credentials\n    token_url: https://idp/token\n    client_id: app\n    client_assertion_file: /nope\n")
            .contains { $0.hasPrefix("connections.c.client_assertion_file") && $0.contains("cannot read") })
        #expect(messages("    type: oauth2_client_credentials\n    token_url: https://idp/token\n    client_id: app\n    client_assertion_file: /var/run/secrets/tokens/idp\n    private_key: k\n")
            .contains { $0.contains("not both") })
        #expect(messages("    type: oauth2_client_credentials\n    token_url: https://idp/token\n    client_id: app\n    client_secret: s\n    client_auth: client_secret_post\n    client_assertion_file: /var/run/secrets/tokens/idp\n")
            .contains { $0.contains("only with client_auth private_key_jwt") })
    }

    @Test(arguments: ["tls_client_auth", "self_signed_tls_client_auth"])
    func mutualTLSNeedsACertificate(method: String) throws {
        let base = "    type: oauth2_client_credentials\n    token_url: https://mtls.idp.example.com/token\n    client_id: app\n    client_auth: \(method)\n"
        #expect(messages(base).contains { $0.contains("needs a client certificate") })
        let settings = try connection(base + "    tls: {cert_file: /certs/c.pem, key_file: /certs/c.key}\n")
        #expect(settings.clientAuth.rawValue == method && settings.clientAuth.isMutualTLS)
        #expect(settings.tls.certFile == "/certs/c.pem" && settings.clientSecret == nil)
    }
}

/// The connection blocks of docs/configuration.md's "Providers" section load as written.
@Suite struct ProviderDocsTests {
    @Test func providersSectionParses() throws {
        let docs = URL(fileURLWithPath: Fixture.examplePath).deletingLastPathComponent().appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Providers").last)
        let yaml = try #require(section.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        let secrets = ["entra_key", "entra_cert", "django_secret", "keycloak_secret", "auth0_secret", "okta_key", "salesforce_key"]
        let top = "secrets:\n" + secrets.map { "  \($0): {value: placeholder-\($0)}\n" }.joined()
        let files = [
            "/var/run/secrets/tokens/entra": "a.b.c",
            "/run/secrets/google-sa.json": GrantConfigTests.serviceAccount,
        ]
        let config = try parse(top + yaml, files: files)
        #expect(config.connections.map(\.name) == ["graph", "graph-federated", "django", "keycloak", "auth0", "okta", "google", "salesforce"])
        #expect(config.connections.map(\.kind.typeName).filter { $0 == "oauth2_jwt_bearer" }.count == 2)
    }
}
