import Foundation
import LatchkeyHTTP
import Testing
import Yams

@testable import LatchkeyConfig

@Suite struct ConfigLoaderTests {
    static let environment = ["PARTNER_PASSWORD": "partner-pw-123", "STRIPE_TOKEN": "live_abc", "ENVIRONMENT_NAME": "prod"]

    @Test func fullConfigurationLoadsIntoTheModel() throws {
        let path = Fixture.path("full.yaml")
        let config = try ConfigLoader.load(path: path, scrubber: SecretScrubber(), environment: Self.environment)
        let dir = (path as NSString).deletingLastPathComponent

        #expect(config.sourcePath == path)
        #expect(config.listen == ListenAddress(host: "::1", port: 0))
        #expect(config.admin == nil)
        #expect(config.unmatched == .deny)
        #expect(config.logLevel == "debug")
        #expect(config.logFormat == "json")
        var limits = LimitSettings()
        limits.maxRequestLineBytes = 4096
        limits.maxHeaderBytes = 32768
        limits.maxIdlePerUpstream = 8
        limits.idleTimeoutMs = 15000
        #expect(config.limits == limits)

        #expect(config.connections.map(\.name) == ["partner", "stripe", "weather", "public", "gogift"])
        #expect(config.connections[0].line == 12)
        guard case .basic(let username, let password) = config.connections[0].kind else {
            Issue.record("partner is not basic")
            return
        }
        #expect(username == "svc")
        #expect(password.value == "partner-pw-123")
        guard case .bearer(let token) = config.connections[1].kind else {
            Issue.record("stripe is not bearer")
            return
        }
        #expect(token.value == "sk_live_abc")
        guard case .apiKey(let key, let header, let scheme) = config.connections[2].kind else {
            Issue.record("weather is not api_key")
            return
        }
        #expect(key.value == "weather-key-from-file")  // trailing CR LF LF stripped
        #expect(header == "X-API-Key")
        #expect(scheme == .none)
        guard case .none = config.connections[3].kind else {
            Issue.record("public is not none")
            return
        }
        guard case .oauth2ClientCredentials(let oauth) = config.connections[4].kind else {
            Issue.record("gogift is not oauth2")
            return
        }
        #expect(oauth.tokenURL == EndpointURL(scheme: "https", host: "auth.gogift.example", port: 443, path: "/oauth/token"))
        #expect(oauth.discoveryURL == nil)
        #expect(oauth.clientID == "latchkey-prod")
        #expect(oauth.clientSecret?.current().value == "gogift-client-secret-literal")
        #expect(oauth.clientAuth == .clientSecretPost)
        #expect(oauth.privateKey == nil)
        #expect(oauth.signingAlgorithm == .rs256)
        #expect(oauth.scopes == ["orders.read", "orders.write"])
        #expect(oauth.audience == "https://api.gogift.example")
        #expect(oauth.tokenParams.map { "\($0.0)=\($0.1)" } == ["resource=https://api.gogift.example", "tenant=acme"])
        #expect(oauth.tokenHeaders.map { "\($0.0)=\($0.1)" } == ["X-Tenant=acme"])
        #expect(
            oauth.tls
                == TLSSettings(
                    caFile: dir + "/tls/ca.pem", certFile: dir + "/tls/client.pem", keyFile: dir + "/tls/client.key",
                    serverName: "auth.internal"))
        #expect(oauth.refreshBeforeMs == 30000)
        #expect(oauth.timeoutMs == 5000)
        #expect(oauth.allowPlaintextCredentials == false)

        #expect(config.routes.map(\.name) == ["partner-v2", "route-2", "route-3", "plain-partner"])
        let r0 = config.routes[0]
        #expect(r0.line == 30)
        #expect(r0.host == HostPattern(name: .exact("api.partner.example"), port: 8443))
        #expect(r0.pathPrefix == "/v2/")
        #expect(r0.methods == ["GET", "POST"])
        #expect(r0.connection == "partner")
        #expect(r0.upstream == UpstreamURL(scheme: "https", host: "api.partner.example", port: 8443, basePath: "/base"))
        #expect(r0.timeoutMs == 1000)
        #expect(r0.connectTimeoutMs == 500)
        #expect(r0.tls == TLSSettings(caFile: dir + "/tls/ca.pem", insecureSkipVerify: true))
        #expect(r0.stripPrefix == false)
        #expect(r0.scopes == nil && r0.audience == nil && r0.tokenParams == nil)
        let r1 = config.routes[1]
        #expect(r1.host == HostPattern(name: .wildcard(suffix: ".stripe.example")))
        #expect(r1.timeoutMs == 30_000 && r1.connectTimeoutMs == 5_000)
        let r2 = config.routes[2]
        #expect(r2.host == nil)
        #expect(r2.pathPrefix == "/gogift")
        #expect(r2.stripPrefix)
        #expect(r2.upstream == UpstreamURL(scheme: "http", host: "127.0.0.1", port: 9000))
        #expect(r2.scopes == ["orders.read"])
        #expect(r2.audience == "aud-2")
        #expect(r2.tokenParams == ["k": "v"])
        #expect(config.routes[3].allowPlaintextCredentials)

        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.hasPrefix("\(path):38:10: routes[0].tls.insecure_skip_verify: ") == true)
    }

    @Test func exampleFileLoads() throws {
        let config = try ConfigLoader.load(path: Fixture.examplePath, scrubber: SecretScrubber(), environment: ["DEMO_TOKEN": "demo-123"])
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 3128))
        #expect(config.admin == ListenAddress(host: "127.0.0.1", port: 9901))
        #expect(config.unmatched == .passthrough)
        #expect(config.connections.map(\.name) == ["demo"])
        guard case .bearer(let token) = config.connections.first?.kind else {
            Issue.record("demo is not bearer")
            return
        }
        #expect(token.value == "demo-123")
        #expect(config.routes.map(\.name) == ["demo-forward", "demo-route"])
        #expect(config.routes[0].host == HostPattern(name: .exact("demo.local")))
        #expect(config.routes[0].upstream == UpstreamURL(scheme: "http", host: "127.0.0.1", port: 8089))
        #expect(config.routes[1].host == nil)
        #expect(config.routes[1].pathPrefix == "/demo/")
        #expect(config.routes[1].stripPrefix)
        #expect(config.routes.allSatisfy { $0.connection == "demo" })
        #expect(config.warnings.isEmpty)
    }

    @Test func exampleFileNeedsDemoToken() {
        do {
            _ = try ConfigLoader.load(path: Fixture.examplePath, scrubber: SecretScrubber(), environment: [:])
            Issue.record("loaded without DEMO_TOKEN")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors.first?.message.contains("'DEMO_TOKEN' is not set") == true)
        }
    }

    @Test func emptyDocumentIsTheDefaultConfiguration() throws {
        let config = try parse("")
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 3128))
        #expect(config.admin == ListenAddress(host: "127.0.0.1", port: 9901))
        #expect(config.routes.isEmpty && config.connections.isEmpty)
    }

    @Test func missingFileIsAnError() {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/proxy.conf", scrubber: SecretScrubber(), environment: [:])
            Issue.record("loaded a missing file")
        } catch {
            #expect(error.description == "/nonexistent/proxy.conf: cannot read configuration file: no such file")
        }
    }

    @Test func listenAcceptsIPv6AndPortZero() throws {
        #expect(try parse("listen: \"[::1]:0\"").listen == ListenAddress(host: "::1", port: 0))
        #expect(try parse("listen: 0.0.0.0:8080\nadmin: localhost:0").admin == ListenAddress(host: "localhost", port: 0))
    }

    @Test func scopesAcceptListOrString() throws {
        let yaml = """
            connections:
              o: {type: oauth2_client_credentials, discovery_url: "https://idp.example", client_id: c, client_secret: s, scopes: "a  b"}
              p: {type: oauth2_client_credentials, discovery_url: "https://idp.example", client_id: c, client_secret: s, scopes: [a, b]}
            """
        for connection in try parse(yaml).connections {
            guard case .oauth2ClientCredentials(let oauth) = connection.kind else { continue }
            #expect(oauth.scopes == ["a", "b"])
        }
    }

    @Test func loopbackHosts() {
        for host in ["127.0.0.1", "127.1.2.3", "localhost", "LOCALHOST", "a.localhost", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"] {
            #expect(UpstreamURL(scheme: "http", host: host, port: 80).isLoopback, "\(host)")
        }
        for host in ["128.0.0.1", "example.com", "::2", "localhost.example.com", "127.0.0", "10.0.0.1"] {
            #expect(!UpstreamURL(scheme: "http", host: host, port: 80).isLoopback, "\(host)")
        }
    }

    /// Issue 11: no process-wide scrubber; `load` registers the file's secrets with the one it is given, and
    /// with no other.
    @Test func loadRegistersTheSecretsWithTheGivenScrubberOnly() throws {
        let scrubber = SecretScrubber()
        let bystander = SecretScrubber()
        _ = try ConfigLoader.load(path: Fixture.path("full.yaml"), scrubber: scrubber, environment: Self.environment)
        #expect(scrubber.scrub("x partner-pw-123 x") == "x [redacted] x")
        #expect(!bystander.containsSecret("partner-pw-123"))
    }

    /// Every scalar is text to the decoder, so the loader composes without Yams' implicit typing: no
    /// resolver rule (each an ICU regular expression compiled at first use) runs or stays in memory.
    @Test func composedScalarsStayUntypedText() throws {
        let root = try #require(try ConfigLoader.compose("a: 30\nb: true\nc: 2001-12-14\nd: ~\n", path: "t.yaml"))
        guard case .mapping(let mapping) = root else {
            Issue.record("not a mapping")
            return
        }
        let values = mapping.map(\.value)
        #expect(values.compactMap(\.string) == ["30", "true", "2001-12-14", "~"])
        #expect(values.allSatisfy { $0.tag.description == Tag.Name.str.rawValue })
    }
}
