import Foundation
import Testing

@testable import LatchkeyConfig

@Suite struct SecretTests {
    @Test func aSecretStringShowsItsValueNowhere() {
        let secret = SecretString("s3cr3t-value-81d2")
        var dumped = ""
        dump(secret, to: &dumped)
        var dumpedInside = ""
        dump([("token", secret)], to: &dumpedInside)
        for text in ["\(secret)", String(reflecting: secret), String(describing: [secret]), dumped, dumpedInside] {
            #expect(!text.contains("s3cr3t"), "\(text)")
        }
        #expect(dumped.contains("<redacted>"))
    }

    @Test func secretAndEnvironmentInterpolationInsideStrings() throws {
        let yaml = """
            secrets:
              s: {value: "p@ss"}
              f: {file: /run/secrets/f}
            connections:
              a: {type: basic, username: "svc-${TEAM}", password: "{{secret:s}}:${SUFFIX}:{{ secret:f }}"}
              o: {type: oauth2_client_credentials, token_url: "https://${IDP}/token", client_id: "id-{{secret:s}}", client_secret: "{{secret:f}}"}
            routes:
              - host: "${TEAM}.example"
                upstream: "https://${TEAM}.example/{{secret:s}}"
            """
        let config = try parse(
            yaml, environment: ["TEAM": "blue", "SUFFIX": "42", "IDP": "idp.example"],
            files: ["/run/secrets/f": "from-file\n"])
        guard case .basic(let username, let password) = config.connections[0].kind,
            case .oauth2ClientCredentials(let oauth) = config.connections[1].kind
        else {
            Issue.record("wrong kinds")
            return
        }
        #expect(username == "svc-blue")
        #expect(password.value == "p@ss:42:from-file")
        #expect(oauth.tokenURL?.host == "idp.example")
        #expect(oauth.clientID == "id-p@ss")
        #expect(oauth.clientSecret?.initial.value == "from-file")
        #expect(config.routes[0].host == HostPattern(name: .exact("blue.example")))
        #expect(config.routes[0].upstream?.basePath == "/p@ss")
    }

    @Test func textThatOnlyLooksLikeATemplateIsKept() throws {
        let config = try parse("connections:\n  a: {type: bearer, token: \"{{not-a-secret}} $HOME {x}\"}")
        guard case .bearer(let token) = config.connections[0].kind else { return }
        #expect(token.value == "{{not-a-secret}} $HOME {x}")
    }

    @Test func unterminatedReferences() {
        #expect(errors("connections:\n  a: {type: bearer, token: \"${X\"}").first?.message.contains("unterminated") == true)
        #expect(
            errors("secrets:\n  s: {value: v}\nconnections:\n  a: {type: bearer, token: \"{{secret:s\"}").first?.message
                .contains("unterminated") == true)
    }

    @Test func secretFileLosesTrailingNewlines() throws {
        let config = try parse(
            "secrets:\n  k: {file: /k}\nconnections:\n  a: {type: bearer, token: \"{{secret:k}}\"}", files: ["/k": "tok\r\n\n"])
        guard case .bearer(let token) = config.connections[0].kind else { return }
        #expect(token.value == "tok")
    }

    @Test func reloadableSecretPicksUpARewrittenFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("latchkey-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let secretFile = dir.appendingPathComponent("client-secret")
        try "first-secret\n".write(to: secretFile, atomically: true, encoding: .utf8)
        let yaml = """
            secrets:
              cs: {file: client-secret}
              pk: {file: key.pem}
            connections:
              o:
                type: oauth2_client_credentials
                token_url: https://idp.example/token
                client_id: c
                client_secret: "{{secret:cs}}"
                private_key: "{{secret:pk}}"
            """
        let pem = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
        try pem.write(to: dir.appendingPathComponent("key.pem"), atomically: true, encoding: .utf8)
        let configPath = dir.appendingPathComponent("proxy.conf").path
        let config = try ConfigLoader.parse(yaml: yaml, path: configPath, environment: [:])
        guard case .oauth2ClientCredentials(let oauth) = config.connections[0].kind,
            let secret = oauth.clientSecret, let key = oauth.privateKey
        else {
            Issue.record("no oauth secret")
            return
        }
        #expect(secret.current().value == "first-secret")
        #expect(key.current().value == pem.dropLast())  // multi-line PEM allowed; trailing newline stripped

        try "rotated-secret\r\n".write(to: secretFile, atomically: true, encoding: .utf8)
        #expect(secret.current().value == "rotated-secret")
        #expect(secret.initial.value == "first-secret")

        try "bad\nvalue".write(to: secretFile, atomically: true, encoding: .utf8)
        #expect(secret.current().value == "first-secret")  // unsafe value: keep the load-time one

        try FileManager.default.removeItem(at: secretFile)
        #expect(secret.current().value == "first-secret")  // unreadable: keep the load-time one
    }

    @Test func secretValuesNeverAppearInErrors() {
        let secret = "S3cr3t-Value-xyz"
        let yaml = """
            secrets:
              s: {value: "\(secret)"}
              crlf: {env: CRLF}
            listen: "{{secret:s}}"
            admin: "{{secret:s}}:1"
            connections:
              a: {type: basic, username: "{{secret:s}}:x", password: "{{secret:s}}"}
              b: {type: bearer, token: "{{secret:crlf}}"}
              c: {type: api_key, key: "{{secret:s}}", header: "{{secret:s}} bad"}
              d: {type: oauth2_client_credentials, token_url: "http://{{secret:s}}.example/t", client_id: c, client_secret: "{{secret:crlf}}"}
            routes:
              - host: "{{secret:s}}*"
                upstream: "https://{{secret:s}}@x.example"
                path_prefix: "{{secret:s}}"
                connection: "{{secret:s}}"
                methods: ["{{secret:s}} x"]
                tls: {server_name: "{{secret:s}}!", ca_file: "/{{secret:s}}"}
            log_level: "{{secret:s}}"
            """
        let found = errors(yaml, environment: ["CRLF": "\(secret)\r\nX: y"])
        #expect(found.count >= 12, "\(found)")
        for error in found {
            #expect(!error.description.contains(secret), "\(error)")
            #expect(!error.description.lowercased().contains(secret.lowercased()), "\(error)")
        }
    }

    @Test func secretValuesNeverAppearInTheSummary() throws {
        let values = ["pw-ALPHA-1", "tok-BRAVO-2", "key-CHARLIE-3", "cs-DELTA-4", "user-ECHO-5", "pem-FOXTROT-6"]
        let yaml = """
            secrets:
              pw: {value: \(values[0])}
              user: {env: USER_SECRET}
              pem: {file: /k.pem}
            connections:
              a: {type: basic, username: "{{secret:user}}", password: "{{secret:pw}}"}
              b: {type: bearer, token: "${TOKEN}"}
              c: {type: api_key, key: "\(values[2])", header: X-Key, scheme: bearer}
              d: {type: oauth2_client_credentials, token_url: "https://idp.example/t", client_id: c, client_secret: "\(values[3])", scopes: [a]}
              e: {type: oauth2_client_credentials, token_url: "https://idp.example/t", client_id: c2, client_auth: private_key_jwt, private_key: "{{secret:pem}}", key_id: k1}
            routes:
              - host: api.example
                connection: d
                upstream: https://api.example
                scopes: [b]
            """
        let config = try parse(
            yaml, environment: ["USER_SECRET": values[4], "TOKEN": values[1]], files: ["/k.pem": values[5] + "\n"])
        let summary = ConfigSummary.render(config)
        for value in values { #expect(!summary.contains(value), "\(value) leaked") }
        #expect(summary.contains("username=<redacted>"))
        #expect(summary.contains("a [basic]"))
        #expect(summary.contains("header=X-Key scheme=bearer"))
        #expect(summary.contains("client_id=c2"))
        #expect(summary.contains("token_url=https://idp.example/t"))
        #expect(summary.contains("api.example"))
        #expect(!"\(config.connections.map(\.kind))".contains("ALPHA"))
    }
}
