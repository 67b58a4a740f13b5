import Testing

@testable import LatchkeyConfig

/// Issue 9: every number in the config has a range, and a value outside it (however large) is a config
/// error naming file, line, key and the range — never a trap.
@Suite struct ConfigBoundsTests {
    /// (YAML with `VALUE` where the number goes, key path, range) for every numeric key.
    static let keys: [(yaml: String, keyPath: String, range: ClosedRange<Int>)] = [
        ("shutdown_grace_ms: VALUE", "shutdown_grace_ms", ConfigBounds.shutdownGraceMs),
        ("limits:\n  max_request_line_bytes: VALUE", "limits.max_request_line_bytes", ConfigBounds.maxRequestLineBytes),
        ("limits:\n  max_header_bytes: VALUE", "limits.max_header_bytes", ConfigBounds.maxHeaderBytes),
        ("limits:\n  max_idle_per_upstream: VALUE", "limits.max_idle_per_upstream", ConfigBounds.maxIdlePerUpstream),
        ("limits:\n  idle_timeout_ms: VALUE", "limits.idle_timeout_ms", ConfigBounds.idleTimeoutMs),
        ("limits:\n  max_connections: VALUE", "limits.max_connections", 1...ConfigDecoder.maxConnectionsLimit),
        (
            "limits:\n  admin_max_connections: VALUE", "limits.admin_max_connections",
            1...ConfigDecoder.adminMaxConnectionsLimit
        ),
        ("limits:\n  header_timeout_ms: VALUE", "limits.header_timeout_ms", 1...ConfigDecoder.headerTimeoutLimitMs),
        (
            "limits:\n  tunnel_idle_timeout_ms: VALUE", "limits.tunnel_idle_timeout_ms",
            1...ConfigDecoder.tunnelIdleTimeoutLimitMs
        ),
        (route("timeout_ms: VALUE"), "routes[0].timeout_ms", ConfigBounds.timeoutMs),
        (route("connect_timeout_ms: VALUE"), "routes[0].connect_timeout_ms", ConfigBounds.timeoutMs),
        (route("deadline_ms: VALUE"), "routes[0].deadline_ms", ConfigBounds.deadlineMs),
        (route("max_redirects: VALUE"), "routes[0].max_redirects", ConfigBounds.maxRedirects),
        (route("retry: {max_retries: VALUE}"), "routes[0].retry.max_retries", ConfigBounds.maxRetries),
        (route("retry: {delay_ms: VALUE}"), "routes[0].retry.delay_ms", ConfigBounds.delayMs),
        (route("retry: {body_buffer_bytes: VALUE}"), "routes[0].retry.body_buffer_bytes", ConfigBounds.bodyBufferBytes),
        (oauth("timeout_ms: VALUE"), "connections.c.timeout_ms", ConfigBounds.timeoutMs),
        (oauth("refresh_before_ms: VALUE"), "connections.c.refresh_before_ms", ConfigBounds.refreshBeforeMs),
        (oauth("token_wait_ms: VALUE"), "connections.c.token_wait_ms", ConfigBounds.tokenWaitMs),
    ]

    static func route(_ setting: String) -> String { "routes:\n  - host: a.example\n    \(setting)" }

    static func oauth(_ setting: String) -> String {
        "connections:\n  c:\n    type: oauth2_client_credentials\n    token_url: https://idp.example/token\n"
            + "    client_id: app\n    client_secret: s\n    \(setting)"
    }

    static func errorsFor(_ yaml: String, _ value: String) -> [ConfigError] {
        errors(yaml.replacingOccurrences(of: "VALUE", with: value))
    }

    @Test(arguments: 0..<keys.count) func bothEndsOfEveryRangeLoad(index: Int) {
        let key = Self.keys[index]
        #expect(Self.errorsFor(key.yaml, "\(key.range.lowerBound)").isEmpty, "\(key.keyPath)")
        #expect(Self.errorsFor(key.yaml, "\(key.range.upperBound)").isEmpty, "\(key.keyPath)")
    }

    @Test(arguments: 0..<keys.count) func outsideTheRangeIsAnErrorNamingKeyAndRange(index: Int) {
        let key = Self.keys[index]
        let range = "allowed range \(key.range.lowerBound) to \(key.range.upperBound)"
        for value in [
            "\(key.range.upperBound + 1)", "9223372036854775807", "99999999999999999999999",
            "9_223_372_036_854_775_807",
            "\(key.range.lowerBound - 1)", "-9223372036854775808", "-99999999999999999999999",
        ] {
            let found = Self.errorsFor(key.yaml, value)
            #expect(found.count == 1, "\(key.keyPath) = \(value): \(found)")
            guard let error = found.first else { continue }
            #expect(error.file == "proxy.conf" && error.line > 0, "\(error)")
            #expect(error.keyPath == key.keyPath, "\(error)")
            #expect(error.message.contains(range), "\(key.keyPath) = \(value): \(error)")
        }
    }

    @Test func tokenWaitDefaultsToTenSecondsAndIsRead() throws {
        let config = try parse(Self.oauth("token_wait_ms: 2500"))
        guard case .oauth2ClientCredentials(let settings) = config.connections[0].kind else { return #expect(Bool(false)) }
        #expect(settings.tokenWaitMs == 2500)
        #expect(OAuthClientSettings(clientID: "x").tokenWaitMs == 10_000)
    }

    @Test func theIssuesValues() {
        let retries = errors(Self.route("retry:\n      max_retries: 9223372036854775807"))
        #expect(retries.map(\.message) == ["must be at most 100 (allowed range 0 to 100)"])
        let delay = errors(Self.route("retry:\n      max_retries: 3\n      delay_ms: 9223372036854775000"))
        #expect(delay.map(\.keyPath) == ["routes[0].retry.delay_ms"])
    }

    @Test func notANumberIsStillReportedAsSuch() {
        for value in ["12ms", "1e3", "0x10", "--1", "1.5"] {
            let found = Self.errorsFor(Self.route("timeout_ms: VALUE"), value)
            #expect(found.map(\.message) == ["expected an integer, found '\(value)'"], "\(value)")
        }
    }

    @Test func aPortOutOfRangeNamesTheRange() {
        let found = errors("listen: 127.0.0.1:99999999999999999999")
        #expect(found.count == 1 && found[0].message.contains("0 to 65535"), "\(found)")
    }
}
