import Testing

@testable import LatchkeyConfig

/// Issue 10 §3: signing_alg against client_auth, client_secret_jwt, certificate, assertion_audience.
@Suite struct AssertionKeyConfigTests {
    private func connection(_ lines: String) -> String {
        "connections:\n  o:\n    type: oauth2_client_credentials\n    token_url: https://i.example/t\n    client_id: c\n"
            + lines
    }

    private func client(_ yaml: String, environment: [String: String] = [:]) throws -> OAuthClientSettings {
        let configuration = try parse(yaml, environment: environment)
        guard case .oauth2ClientCredentials(let settings) = configuration.connections[0].kind else {
            throw ConfigErrors(errors: [])
        }
        return settings
    }

    @Test func clientSecretJWTDefaultsToHS256AndTakesHS384And512() throws {
        let secret = String(repeating: "k", count: 64)
        let settings = try client(
            connection("    client_auth: client_secret_jwt\n    client_secret: ${S}\n"), environment: ["S": secret])
        #expect(settings.clientAuth == .clientSecretJWT && settings.signingAlgorithm == .hs256)
        let hs512 = try client(
            connection("    client_auth: client_secret_jwt\n    client_secret: ${S}\n    signing_alg: HS512\n"),
            environment: ["S": secret])
        #expect(hs512.signingAlgorithm == .hs512)
    }

    @Test func clientSecretJWTNeedsASecretAsLongAsTheHash() {
        expectSingleError(
            connection("    client_auth: client_secret_jwt\n    client_secret: ${S}\n    signing_alg: HS384\n"),
            environment: ["S": String(repeating: "k", count: 40)], line: 7, column: 20,
            keyPath: "connections.o.client_secret", message: "40 bytes; HS384 needs at least 48 (RFC 7518 §3.2)")
        let found = errors(
            connection("    client_auth: client_secret_jwt\n    client_secret: ${S}\n"),
            environment: ["S": "tiny-secret-value"])
        #expect(found.count == 1 && !found[0].description.contains("tiny-secret-value"))
        expectSingleError(
            connection("    client_auth: client_secret_jwt\n"), line: 3, column: 5, keyPath: "connections.o",
            message: "missing 'client_secret' (required for client_auth client_secret_jwt)")
    }

    @Test func signingAlgMustFitTheMethod() {
        expectSingleError(
            connection("    client_auth: private_key_jwt\n    private_key: k\n    signing_alg: HS256\n"), line: 8,
            column: 18,
            keyPath: "connections.o.signing_alg", message: "signing_alg HS256 does not fit client_auth private_key_jwt")
        expectSingleError(
            connection(
                "    client_auth: client_secret_jwt\n    client_secret: \(String(repeating: "k", count: 32))\n    signing_alg: ES256\n"
            ),
            line: 8, column: 18, keyPath: "connections.o.signing_alg", message: "expected HS256, HS384 or HS512")
        expectSingleError(
            connection("    client_auth: private_key_jwt\n    private_key: k\n    signing_alg: ES999\n"), line: 8,
            column: 18,
            keyPath: "connections.o.signing_alg", message: "EdDSA")
    }

    @Test func everyAsymmetricAlgorithmIsAccepted() throws {
        for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"] {
            let settings = try client(
                connection("    client_auth: private_key_jwt\n    private_key: k\n    signing_alg: \(alg)\n"))
            #expect(settings.signingAlgorithm.rawValue == alg)
        }
    }

    @Test func certificatePassphraseAndAudienceAreKeptWithTheirPositions() throws {
        let settings = try client(
            connection(
                "    client_auth: private_key_jwt\n    private_key: k\n    private_key_passphrase: ${P}\n    certificate: c\n"
                    + "    certificate_thumbprint: both\n    assertion_audience: https://i.example\n"),
            environment: ["P": "pass-phrase-1"])
        #expect(settings.privateKeyPassphrase?.initial.value == "pass-phrase-1")
        #expect(settings.certificate?.initial.value == "c")
        #expect(settings.certificateThumbprint == .both)
        #expect(settings.assertionAudience == "https://i.example")
        #expect(
            settings.privateKeyPosition
                == ConfigPosition(file: "proxy.conf", line: 7, column: 18, keyPath: "connections.o.private_key"))
        #expect(settings.certificatePosition?.line == 9)
        #expect(settings.certificateThumbprint != .sha256)
        #expect(
            try client(connection("    client_auth: private_key_jwt\n    private_key: k\n")).certificateThumbprint
                == .sha256)
    }

    @Test func keyOnlyOptionsNeedPrivateKeyJWT() {
        expectSingleError(
            connection("    client_secret: s\n    certificate: c\n"), line: 7, column: 18,
            keyPath: "connections.o.certificate", message: "applies only to client_auth private_key_jwt")
        expectSingleError(
            connection("    client_secret: s\n    assertion_audience: https://i.example\n"), line: 7, column: 25,
            keyPath: "connections.o.assertion_audience",
            message: "applies only to private_key_jwt and client_secret_jwt")
        expectSingleError(
            connection("    client_auth: private_key_jwt\n    private_key: k\n    certificate_thumbprint: md5\n"),
            line: 8, column: 29,
            keyPath: "connections.o.certificate_thumbprint", message: "expected one of: sha256, sha1, both")
    }
}
