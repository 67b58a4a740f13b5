import Testing

@testable import LatchkeyConfig

/// `limits:` keys that bound descriptors and time (issue 9).
@Suite struct LimitsConfigTests {
    @Test func defaults() throws {
        let limits = try parse("").limits
        #expect(limits.maxConnections == 4096)
        #expect(limits.adminMaxConnections == 64)
        #expect(limits.headerTimeoutMs == 10_000)
        #expect(limits.tunnelIdleTimeoutMs == 300_000)
    }

    @Test func everyKeySet() throws {
        let limits = try parse(
            """
            limits:
              max_connections: 100
              admin_max_connections: 3
              header_timeout_ms: 2_500
              tunnel_idle_timeout_ms: 60000
            """
        ).limits
        #expect(limits.maxConnections == 100)
        #expect(limits.adminMaxConnections == 3)
        #expect(limits.headerTimeoutMs == 2500)
        #expect(limits.tunnelIdleTimeoutMs == 60000)
    }

    @Test(arguments: [
        ("max_connections", "0", "must be greater than 0"),
        ("max_connections", "1000001", "must be at most 1000000"),
        ("admin_max_connections", "10001", "must be at most 10000"),
        ("header_timeout_ms", "-5", "must be greater than 0"),
        ("header_timeout_ms", "600001", "must be at most 600000"),
        ("tunnel_idle_timeout_ms", "9223372036854775807", "must be at most 86400000"),
        ("tunnel_idle_timeout_ms", "99999999999999999999", "must be at most 86400000 (allowed range 1 to 86400000)"),
    ])
    func outOfBoundsIsAnErrorAtTheKey(key: String, value: String, message: String) {
        let found = errors("limits:\n  \(key): \(value)\n")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "limits.\(key)")
        #expect(found.first?.line == 2)
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }

    @Test func http2Limits() throws {
        let defaults = try parse("").limits
        #expect(defaults.http2MaxConcurrentStreams == 100)
        #expect(defaults.http2MaxHeaderListBytes == 65536)
        #expect(defaults.http2HeaderTableBytes == 4096)
        let limits = try parse(
            """
            limits:
              http2_max_concurrent_streams: 16
              http2_max_header_list_bytes: 8192
              http2_header_table_bytes: 0
            """
        ).limits
        #expect(limits.http2MaxConcurrentStreams == 16)
        #expect(limits.http2MaxHeaderListBytes == 8192)
        #expect(limits.http2HeaderTableBytes == 0)
    }

    @Test(arguments: [
        ("http2_max_concurrent_streams", "0", "must be greater than 0"),
        ("http2_max_concurrent_streams", "10001", "must be at most 10000"),
        ("http2_max_header_list_bytes", "16777217", "must be at most 16777216"),
        ("http2_header_table_bytes", "-1", "0 to 65536"),
        ("http2_header_table_bytes", "65537", "must be at most 65536"),
    ])
    func http2OutOfBoundsIsAnErrorAtTheKey(key: String, value: String, message: String) {
        let found = errors("limits:\n  \(key): \(value)\n")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "limits.\(key)")
        #expect(found.first?.line == 2)
        #expect(found.first?.message.contains(message) == true, "\(found)")
    }

    @Test func misspeltKeySuggestsTheNewOne() {
        let found = errors("limits:\n  max_conections: 10\n")
        #expect(found.first?.suggestion?.contains("max_connections") == true, "\(found)")
    }
}
