import Testing

@testable import LatchkeyConfig

/// Each validation rule: exact line, column and key path.
@Suite struct ConfigValidationTests {
    static let bearer = """
        connections:
          c:
            type: bearer
            token: t
        """

    @Test func typoSuggestsNearestKey() throws {
        let path = Fixture.path("typo.yaml")
        do {
            _ = try ConfigLoader.load(path: path, scrubber: SecretScrubber(), environment: [:])
            Issue.record("typo.yaml loaded")
        } catch {
            // pth_prefix is dropped as unknown, so the route has host and no error of its own.
            #expect(error.errors.count == 1)
            let e = try #require(error.errors.first)
            #expect((e.line, e.column, e.keyPath) == (9, 5, "routes[1].pth_prefix"))
            #expect(e.suggestion == "did you mean 'path_prefix'?")
            #expect(e.description == "\(path):9:5: routes[1].pth_prefix: unknown key (did you mean 'path_prefix'?)")
        }
    }

    @Test func unknownKeyWithoutCloseMatchHasNoSuggestion() {
        let found = errors("listen: 127.0.0.1:1\nfrobnicate: 1")
        #expect(found.count == 1)
        #expect(found.first?.suggestion == nil)
        #expect(found.first?.keyPath == "frobnicate")
    }

    @Test func keyOfAnotherConnectionType() {
        expectSingleError(
            "connections:\n  c: {type: bearer, token: t, username: u}", line: 2, column: 31,
            keyPath: "connections.c.username", message: "does not apply to type 'bearer'")
    }

    @Test func allErrorsAreReportedTogether() throws {
        let path = Fixture.path("many-errors.yaml")
        do {
            _ = try ConfigLoader.load(path: path, scrubber: SecretScrubber(), environment: [:])
            Issue.record("many-errors.yaml loaded")
        } catch {
            let got = error.errors.map { "\($0.line):\($0.column) \($0.keyPath)" }
            #expect(
                got == [
                    "1:9 listen", "2:8 admin", "3:12 unmatched", "4:12 log_level", "5:27 limits.idle_timeout_ms",
                    "7:51 connections.partner.password", "8:15 connections.odd.type", "11:17 routes[0].connection",
                    "12:14 routes[0].methods", "13:5 routes[1].strip_prefix", "13:5 routes[1]", "14:17 routes[1].timeout_ms",
                ])
            let text = error.description
            #expect(text.contains("invalid value 'passthru'; expected one of: passthrough, deny"))
            #expect(text.contains("expected one of: trace, debug, info, notice, warning, error, critical"))
            #expect(text.contains("expected one of: basic, bearer, api_key, none, oauth2_client_credentials, oauth2_authorization_code"))
            #expect(text.contains("unknown connection 'partnr' (did you mean 'partner'?)"))
            #expect(text.contains("expected a list of strings"))
            #expect(text.contains("must be greater than 0"))
            #expect(text.split(separator: "\n").count == 12)
        }
    }

    @Test func yamlSyntaxErrorHasPosition() {
        let found = errors("listen: 127.0.0.1:3128\nroutes:\n  - host: [a\n")
        #expect(found.count == 1)
        #expect(found.first?.line ?? 0 > 0)
        #expect(found.first?.message.hasPrefix("invalid YAML") == true)
    }

    @Test func undefinedSecret() {
        expectSingleError(
            "secrets:\n  s: {value: v}\nconnections:\n  a:\n    type: bearer\n    token: \"{{secret:nope}}\"",
            line: 6, column: 12, keyPath: "connections.a.token", message: "undefined secret 'nope'")
    }

    @Test func unsetEnvironmentVariableInValue() {
        expectSingleError(
            "connections:\n  a:\n    type: bearer\n    token: \"x-${NOPE}\"", line: 4, column: 12,
            keyPath: "connections.a.token", message: "environment variable 'NOPE' is not set")
    }

    @Test func unsetEnvironmentVariableOfSecret() {
        expectSingleError(
            "secrets:\n  s:\n    env: MISSING", line: 3, column: 10, keyPath: "secrets.s.env",
            message: "secret 's': environment variable 'MISSING' is not set")
    }

    @Test func unreadableSecretFile() {
        expectSingleError(
            "secrets:\n  s:\n    file: /nope/secret", line: 3, column: 11, keyPath: "secrets.s.file",
            message: "secret 's': file '/nope/secret' cannot be read")
    }

    @Test func headerInjectionInResolvedValue() {
        let yaml = "secrets:\n  s: {env: TOKEN}\nconnections:\n  a:\n    type: bearer\n    token: \"{{secret:s}}\""
        let env = ["TOKEN": "abc\r\nX-Evil: 1"]
        expectSingleError(yaml, environment: env, line: 6, column: 12, keyPath: "connections.a.token", message: "CR, LF or NUL")
        #expect(!errors(yaml, environment: env).description.contains("X-Evil"))
        expectSingleError(
            "connections:\n  a: {type: api_key, key: \"${K}\"}", environment: ["K": "a\u{0}b"], line: 2, column: 27,
            keyPath: "connections.a.key", message: "CR, LF or NUL")
    }

    @Test func unknownConnection() {
        expectSingleError(
            Self.bearer + "\nroutes:\n  - host: a.example\n    upstream: https://a.example\n    connection: d",
            line: 8, column: 17, keyPath: "routes[0].connection", message: "unknown connection 'd'")
    }

    @Test func stripPrefixWithoutPathPrefix() {
        expectSingleError(
            "routes:\n  - host: a.example\n    strip_prefix: true", line: 3, column: 5, keyPath: "routes[0].strip_prefix",
            message: "strip_prefix needs a path_prefix")
    }

    @Test func routeModeNeedsUpstream() {
        expectSingleError(
            "routes:\n  - name: r\n    path_prefix: /x/", line: 2, column: 5, keyPath: "routes[0]",
            message: "needs 'upstream'")
    }

    @Test func routeNeedsHostOrPathPrefix() {
        expectSingleError(
            "routes:\n  - upstream: https://a.example", line: 2, column: 5, keyPath: "routes[0]",
            message: "needs 'host' or 'path_prefix'")
    }

    @Test func pathPrefixMustStartWithSlash() {
        expectSingleError(
            "routes:\n  - host: a.example\n    path_prefix: v2/", line: 3, column: 18, keyPath: "routes[0].path_prefix",
            message: "must start with '/'")
    }

    @Test func oauthOverridesNeedOAuthConnection() {
        expectSingleError(
            Self.bearer + "\nroutes:\n  - host: a.example\n    upstream: https://a.example\n    connection: c\n    scopes: [x]",
            line: 9, column: 5, keyPath: "routes[0].scopes", message: "connection 'c' is bearer")
        expectSingleError(
            "routes:\n  - host: a.example\n    audience: x", line: 3, column: 5, keyPath: "routes[0].audience",
            message: "the route has no connection")
    }

    @Test func plaintextCredentialsToExplicitUpstream() {
        let yaml = Self.bearer + "\nroutes:\n  - host: a.example\n    connection: c\n    upstream: http://a.example"
        expectSingleError(yaml, line: 8, column: 15, keyPath: "routes[0].upstream", message: "plain HTTP")
        #expect(errors(yaml).first?.suggestion?.contains("allow_plaintext_credentials: true") == true)
        #expect(errors(yaml + "\n    allow_plaintext_credentials: true").isEmpty)
        #expect(errors(Self.bearer + "\nroutes:\n  - host: a.example\n    connection: c\n    upstream: http://127.0.0.2:80").isEmpty)
        #expect(errors(Self.bearer + "\nroutes:\n  - host: a.example\n    connection: c\n    upstream: http://[::1]:80").isEmpty)
        #expect(errors(Self.bearer + "\nroutes:\n  - host: a.example\n    connection: c\n    upstream: https://a.example").isEmpty)
        #expect(errors("connections:\n  c: {type: none}\nroutes:\n  - host: a.example\n    connection: c\n    upstream: http://a.example").isEmpty)
        #expect(errors("routes:\n  - host: a.example\n    upstream: http://a.example").isEmpty)
    }

    @Test func plaintextCredentialsWithoutUpstream() {
        expectSingleError(
            Self.bearer + "\nroutes:\n  - host: \"*.a.example\"\n    connection: c", line: 6, column: 11,
            keyPath: "routes[0].host", message: "plain HTTP")
        #expect(errors(Self.bearer + "\nroutes:\n  - host: localhost:8080\n    connection: c").isEmpty)
        #expect(errors(Self.bearer + "\nroutes:\n  - host: 127.0.0.1\n    connection: c").isEmpty)
    }

    @Test func plaintextTokenURL() {
        let yaml = """
            connections:
              o:
                type: oauth2_client_credentials
                token_url: http://idp.example/token
                client_id: c
                client_secret: s
            """
        expectSingleError(yaml, line: 4, column: 16, keyPath: "connections.o.token_url", message: "plain HTTP")
        #expect(errors(yaml + "\n    allow_plaintext_credentials: true").isEmpty)
        #expect(errors(yaml.replacingOccurrences(of: "idp.example", with: "localhost:8080")).isEmpty)
    }

    @Test func oauthRequirements() {
        expectSingleError(
            "connections:\n  o:\n    type: oauth2_client_credentials\n    token_url: https://i.example/t\n    client_id: c",
            line: 3, column: 5, keyPath: "connections.o", message: "missing 'client_secret'")
        expectSingleError(
            "connections:\n  o:\n    type: oauth2_client_credentials\n    token_url: https://i.example/t\n    client_id: c\n    client_auth: private_key_jwt",
            line: 3, column: 5, keyPath: "connections.o", message: "missing 'private_key'")
        expectSingleError(
            "connections:\n  o:\n    type: oauth2_client_credentials\n    client_id: c\n    client_secret: s",
            line: 3, column: 5, keyPath: "connections.o", message: "missing 'token_url' or 'discovery_url'")
        expectSingleError(
            "connections:\n  o:\n    type: oauth2_client_credentials\n    token_url: https://i.example/t\n    client_id: c\n    client_secret: s\n    client_auth: mtls",
            line: 7, column: 18, keyPath: "connections.o.client_auth",
            message: "expected one of: client_secret_basic, client_secret_post, private_key_jwt")
    }

    @Test func tlsCertAndKeyGoTogether() {
        expectSingleError(
            "routes:\n  - host: a.example\n    tls:\n      cert_file: /c.pem", files: ["/c.pem": "x"], line: 4, column: 7,
            keyPath: "routes[0].tls.cert_file", message: "'cert_file' and 'key_file' must be given together")
    }

    @Test func tlsFilesMustBeReadable() {
        expectSingleError(
            "routes:\n  - host: a.example\n    tls:\n      ca_file: /missing.pem", line: 4, column: 16,
            keyPath: "routes[0].tls.ca_file", message: "cannot read '/missing.pem': no such file")
    }

    @Test func timeoutsMustBePositive() {
        expectSingleError(
            "routes:\n  - host: a.example\n    connect_timeout_ms: 0", line: 3, column: 25,
            keyPath: "routes[0].connect_timeout_ms", message: "must be greater than 0")
        expectSingleError(
            "routes:\n  - host: a.example\n    timeout_ms: soon", line: 3, column: 17, keyPath: "routes[0].timeout_ms",
            message: "expected an integer")
    }

    @Test func duplicateRouteNames() {
        expectSingleError(
            "routes:\n  - name: r\n    host: a.example\n  - name: r\n    host: b.example", line: 4, column: 11,
            keyPath: "routes[1].name", message: "duplicate route name 'r' (first used on line 2)")
        expectSingleError(
            "routes:\n  - name: route-2\n    host: a.example\n  - host: b.example", line: 4, column: 5,
            keyPath: "routes[1].name", message: "duplicate route name 'route-2'")
    }

    @Test func listenAndAdminParseErrors() {
        expectSingleError("listen: 127.0.0.1", line: 1, column: 9, keyPath: "listen", message: "expected host:port")
        expectSingleError("listen: \"::1:80\"", line: 1, column: 9, keyPath: "listen", message: "brackets")
        expectSingleError("admin: nope:x", line: 1, column: 8, keyPath: "admin", message: "invalid port")
        expectSingleError("admin: 1.2.3.4:99999", line: 1, column: 8, keyPath: "admin", message: "or 'off'")
        // Issue 14 §6, §7: what `run` would refuse, and a URL where host:port belongs.
        expectSingleError("listen: proxy.example:3128", line: 1, column: 9, keyPath: "listen", message: "not a host name")
        expectSingleError("listen: http://127.0.0.1:3128", line: 1, column: 9, keyPath: "listen", message: "without 'http://'")
        expectSingleError(
            "listen: 127.0.0.1:3128\nadmin: 127.0.0.1:3128", line: 2, column: 8, keyPath: "admin", message: "its own port")
        #expect(errors("listen: 127.0.0.1:0\nadmin: 127.0.0.1:0").isEmpty)  // kernel-chosen ports never collide
        #expect(errors("listen: 127.0.0.1:3128\nadmin: 127.0.0.2:3128").isEmpty)
    }

    @Test func yamlMistakesNameTheFix() {
        let tab = errors("routes:\n\t- host: a.example")
        #expect(tab.count == 1 && tab[0].message.hasPrefix("a tab character"), "\(tab)")
        let star = errors("routes:\n  - host: *.a.example")
        #expect(star.count == 1 && star[0].message.contains("quote it"), "\(star)")
        expectSingleError(
            "connections:\n  x: {type: bearer, token: {{secret:x}}}", line: 2, column: 28, keyPath: "connections.x.token",
            message: "quote the whole value")
        expectSingleError(
            "routes:\n  - host: https://a.example", line: 2, column: 11, keyPath: "routes[0].host", message: "not a URL")
    }

    @Test func wrongTypes() {
        expectSingleError(
            "routes:\n  - host: a.example\n    methods: GET", line: 3, column: 14, keyPath: "routes[0].methods",
            message: "expected a list of strings")
        expectSingleError(
            "routes:\n  - host: a.example\n    methods: [GET, [POST]]", line: 3, column: 20, keyPath: "routes[0].methods[1]",
            message: "expected a list of strings")
        expectSingleError("routes: {}", line: 1, column: 9, keyPath: "routes", message: "expected a list of routes")
        expectSingleError("listen: [a]", line: 1, column: 9, keyPath: "listen", message: "expected a string")
        expectSingleError(
            "routes:\n  - host: a.example\n    strip_prefix: yes", line: 3, column: 19, keyPath: "routes[0].strip_prefix",
            message: "expected true or false")
    }

    @Test func upstreamURLRules() {
        for (url, message) in [
            ("ftp://a.example", "expected http or https"), ("https://a.example/?q=1", "query"),
            ("https://a.example/#f", "fragment"), ("https://u:p@a.example", "user info"), ("a.example", "absolute"),
        ] {
            expectSingleError(
                "routes:\n  - host: a.example\n    upstream: \(url)", line: 3, column: 15, keyPath: "routes[0].upstream",
                message: message)
        }
        #expect(!errors("routes:\n  - host: a.example\n    upstream: https://u:hunter2@a.example").description.contains("hunter2"))
    }

    @Test func hostPatternRules() {
        expectSingleError("routes:\n  - host: \"a.*.example\"", line: 2, column: 11, keyPath: "routes[0].host", message: "wildcard")
        expectSingleError("routes:\n  - host: a..example", line: 2, column: 11, keyPath: "routes[0].host", message: "invalid host")
        expectSingleError("routes:\n  - host: a.example:0", line: 2, column: 11, keyPath: "routes[0].host", message: "invalid port")
    }

    @Test func duplicateKeys() {
        expectSingleError("listen: 127.0.0.1:1\nlisten: 127.0.0.1:2", line: 2, column: 1, keyPath: "listen", message: "duplicate key")
    }

    @Test func insecureSkipVerifyIsAWarning() throws {
        let config = try parse("routes:\n  - host: a.example\n    tls: {insecure_skip_verify: true}")
        #expect(config.warnings == [
            "proxy.conf:3:10: routes[0].tls.insecure_skip_verify: certificate verification is disabled for route 'route-1'; anyone on the path can read the credentials"
        ])
    }
}

/// Issue 14 §1: `required_for_readiness` is accepted by every connection type and must be a boolean.
@Suite struct RequiredForReadinessConfigTests {
    @Test func defaultsToFalseAndIsAcceptedByEveryType() throws {
        let config = try parse(
            """
            connections:
              plain: {type: bearer, token: abcdef}
              gate: {type: basic, username: u, password: p, required_for_readiness: true}
            """)
        #expect(config.connections.map(\.requiredForReadiness) == [false, true])
    }

    @Test func aNonBooleanNamesFileLineAndKey() {
        expectSingleError(
            "connections:\n  gate:\n    type: bearer\n    token: abcdef\n    required_for_readiness: yes please",
            line: 5, column: 29, keyPath: "connections.gate.required_for_readiness", message: "expected true or false")
    }
}
