import Testing

@testable import LatchkeyConfig

/// `tls:` version, cipher and curve keys, the top-level defaults block and its per-key merge into routes and
/// OAuth connections. (Whether OpenSSL accepts the strings is `TLSPolicyCheckTests`, where OpenSSL is linked.)
@Suite struct TLSPolicyConfigTests {
    private let files = ["/etc/ca.pem": "CA", "/etc/top.pem": "CA", "/etc/c.pem": "C", "/etc/k.pem": "K"]

    @Test func defaultsAreTLS12AndOpenSSLDefaults() throws {
        let route = try #require(try parse("routes:\n  - host: a.example").routes.first)
        #expect(route.tls.minVersion == .tls12)
        #expect(route.tls.ciphers == nil && route.tls.ciphersuites == nil && route.tls.curves == nil)
        #expect(route.tls.policyDescription == "min_version=1.2")
    }

    @Test(arguments: [("1.2", TLSMinimumVersion.tls12), ("1.3", .tls13), ("\"1.3\"", .tls13), ("TLSv1.3", .tls13)])
    func minVersionValues(_ text: String, _ version: TLSMinimumVersion) throws {
        let yaml = "routes:\n  - host: a.example\n    tls:\n      min_version: \(text)"
        #expect(try parse(yaml).routes.first?.tls.minVersion == version)
    }

    @Test func aBadVersionIsAnErrorAtTheValue() {
        expectSingleError(
            "routes:\n  - host: a.example\n    tls:\n      min_version: 1.1", line: 4, column: 20,
            keyPath: "routes[0].tls.min_version", message: "invalid TLS version '1.1'; expected 1.2 or 1.3")
    }

    @Test func listsAreJoinedWithColonsAndKeepTheirPosition() throws {
        let yaml = """
            routes:
              - host: a.example
                tls:
                  ciphers: ECDHE+AESGCM:CHACHA20
                  ciphersuites: [TLS_AES_256_GCM_SHA384, TLS_CHACHA20_POLY1305_SHA256]
                  curves: [X25519, P-256]
            """
        let tls = try #require(try parse(yaml).routes.first?.tls)
        #expect(tls.ciphers?.value == "ECDHE+AESGCM:CHACHA20")
        #expect(tls.ciphersuites?.value == "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256")
        #expect(tls.curves?.value == "X25519:P-256")
        #expect(tls.ciphers?.position.line == 4)
        #expect(tls.ciphers?.position.keyPath == "routes[0].tls.ciphers")
        #expect(tls.curves?.position.line == 6)
    }

    @Test func anEmptyListIsAnError() {
        expectSingleError(
            "routes:\n  - host: a.example\n    tls:\n      ciphers: \"\"", line: 4, column: 16,
            keyPath: "routes[0].tls.ciphers", message: "must not be empty")
    }

    @Test func unknownKeysAreErrorsWithASuggestion() {
        let found = errors("routes:\n  - host: a.example\n    tls:\n      min_versoin: 1.3")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "routes[0].tls.min_versoin")
        #expect(found.first?.suggestion?.contains("min_version") == true)
    }

    @Test func topLevelDefaultsApplyToRoutesAndConnectionsWithoutTheKey() throws {
        let yaml = """
            tls:
              min_version: 1.3
              ciphers: ECDHE+AESGCM
              ca_file: /etc/top.pem
            connections:
              idp:
                type: oauth2_client_credentials
                token_url: https://idp.example/token
                client_id: id
                client_secret: s
            routes:
              - host: a.example
                upstream: https://a.example
                connection: idp
              - host: b.example
                tls:
                  min_version: 1.2
                  ca_file: /etc/ca.pem
            """
        let configuration = try parse(yaml, files: files)
        #expect(configuration.tls.minVersion == .tls13)
        let inherited = configuration.routes[0].tls
        #expect(inherited.minVersion == .tls13 && inherited.ciphers?.value == "ECDHE+AESGCM")
        #expect(inherited.caFile == "/etc/top.pem")
        let overriding = configuration.routes[1].tls
        #expect(overriding.minVersion == .tls12, "the route's own value wins")
        #expect(overriding.ciphers?.value == "ECDHE+AESGCM", "keys the route leaves out still come from the default")
        #expect(overriding.caFile == "/etc/ca.pem")
        let connection = try #require(configuration.connection(named: "idp")?.oauthClient)
        #expect(connection.tls.minVersion == .tls13 && connection.tls.caFile == "/etc/top.pem")
    }

    @Test func aRouteCertificateNeverPairsWithAnInheritedKey() {
        let yaml = """
            tls:
              cert_file: /etc/c.pem
              key_file: /etc/k.pem
            routes:
              - host: a.example
                tls:
                  cert_file: /etc/c.pem
            """
        expectSingleError(
            yaml, files: files, line: 7, column: 7, keyPath: "routes[0].tls.cert_file",
            message: "'cert_file' and 'key_file' must be given together")
    }

    @Test(arguments: ["insecure_skip_verify: true", "server_name: a.example"])
    func perUpstreamKeysAreRefusedAtTopLevel(_ line: String) {
        let found = errors("tls:\n  \(line)")
        #expect(found.count == 1)
        #expect(found.first?.line == 2)
        #expect(found.first?.message.contains("does not apply to the top-level tls: block") == true, "\(found)")
    }

    @Test func tlsFilesListEveryContextFileOnce() throws {
        let yaml = """
            tls:
              ca_file: /etc/top.pem
            routes:
              - host: a.example
              - host: b.example
                tls:
                  cert_file: /etc/c.pem
                  key_file: /etc/k.pem
            """
        #expect(try parse(yaml, files: files).tlsFiles == ["/etc/top.pem", "/etc/c.pem", "/etc/k.pem"])
    }

    @Test func movingALineDoesNotChangeTheSettings() throws {
        let a = try parse("tls:\n  curves: X25519\nroutes:\n  - host: a.example")
        let b = try parse("\n\ntls:\n  curves: X25519\nroutes:\n  - host: a.example")
        #expect(a.routes[0].tls == b.routes[0].tls)
        #expect("\(a.routes[0].tls)" == "\(b.routes[0].tls)")
    }
}
