import Testing

@testable import LatchkeyConfig

/// `shared_store:` (issue 15): the Redis URL, credentials, prefix, TLS files, and the errors that name the fix.
@Suite struct SharedStoreConfigTests {
    static let key = "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="

    static func yaml(_ block: String, stateKey: Bool = true) -> String {
        (stateKey ? "state_key: \(key)\n" : "") + "shared_store:\n" + block
    }

    @Test func fullBlockParses() throws {
        let config = try parse(
            Self.yaml(
                """
                  redis: rediss://redis.internal:6390/3
                  username: latchkey
                  password: "{{secret:redis}}"
                  key_prefix: latchkey/payments/
                  timeout_ms: 400
                  lease_ms: 5000
                  tls: {ca_file: /etc/ca.pem, cert_file: /etc/c.pem, key_file: /etc/k.pem}
                """) + "\nsecrets:\n  redis: {value: hunter22}\n",
            files: ["/etc/ca.pem": "x", "/etc/c.pem": "x", "/etc/k.pem": "x"])
        let store = try #require(config.sharedStore)
        #expect(store.host == "redis.internal" && store.port == 6390 && store.database == 3 && store.usesTLS)
        #expect(store.username == "latchkey" && store.password?.value == "hunter22")
        #expect(store.keyPrefix == "latchkey/payments/" && store.timeoutMs == 400 && store.leaseMs == 5000)
        #expect(store.caFile == "/etc/ca.pem" && store.certificateFile == "/etc/c.pem" && store.privateKeyFile == "/etc/k.pem")
        #expect(store.displayURL == "rediss://redis.internal:6390/3")
        #expect(config.sensitiveValues.contains("hunter22"))
        let summary = ConfigSummary.render(config)
        #expect(summary.contains("shared_store: rediss://redis.internal:6390/3 key_prefix=latchkey/payments/ (password set, user latchkey)"))
        #expect(!summary.contains("hunter22"))
    }

    @Test func defaults() throws {
        let store = try #require(try parse(Self.yaml("  redis: redis://127.0.0.1\n")).sharedStore)
        #expect(store.port == 6379 && store.database == 0 && !store.usesTLS)
        #expect(store.keyPrefix == "latchkey/" && store.timeoutMs == 250 && store.leaseMs == 10_000 && store.password == nil)
        #expect(try #require(try parse(Self.yaml("  redis: rediss://[::1]\n")).sharedStore).port == 6380)
    }

    @Test(arguments: [
        ("http://redis:6379", "expected a redis:// or rediss:// URL"),
        ("redis://user:pw@redis:6379", "credentials do not go in the URL"),
        ("redis://redis:99999", "port must be 1 to 65535"),
        ("redis://redis/16", "database (the URL path) must be a number from 0 to 15"),
        ("redis://:6379", "missing host"),
    ])
    func badURLNamesTheFix(url: String, message: String) {
        expectSingleError(Self.yaml("  redis: \(url)\n"), line: 3, column: 10, keyPath: "shared_store.redis", message: message)
    }

    @Test func passwordIsNeverEchoed() {
        let found = errors(Self.yaml("  redis: redis://r\n  username: app\n  pasword: sekrit-value\n"))
        #expect(found.contains { $0.keyPath == "shared_store.pasword" && $0.suggestion == "did you mean 'password'?" })
        #expect(found.contains { $0.keyPath == "shared_store.username" && $0.message.contains("needs a password") })
        #expect(!found.description.contains("sekrit-value"))
    }

    @Test func stateKeyIsRequired() {
        expectSingleError(
            Self.yaml("  redis: redis://r\n", stateKey: false), line: 1, column: 1, keyPath: "shared_store",
            message: "needs 'state_key'")
    }

    @Test func tlsNeedsRediss() {
        expectSingleError(
            Self.yaml("  redis: redis://r\n  tls: {ca_file: /ca.pem}\n"), files: ["/ca.pem": "x"], line: 4, column: 3,
            keyPath: "shared_store.tls", message: "applies to rediss:// only")
        expectSingleError(
            Self.yaml("  redis: rediss://r\n  tls: {ca_file: /missing.pem}\n"), line: 4, column: 18,
            keyPath: "shared_store.tls.ca_file", message: "cannot read '/missing.pem'")
    }
}
