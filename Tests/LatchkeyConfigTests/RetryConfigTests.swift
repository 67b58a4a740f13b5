import Testing

@testable import LatchkeyConfig

/// `retry:`, `deadline_ms:`, `max_redirects:` and `debug:` on a route: defaults, values, and each rule's
/// exact line, column and key path.
@Suite struct RetryConfigTests {
    /// A route whose last lines are `extra` (indented four spaces, under the route).
    static func route(_ extra: String) -> String {
        "routes:\n  - host: a.example\n" + extra.split(separator: "\n", omittingEmptySubsequences: false)
            .map { "    " + $0 }.joined(separator: "\n")
    }

    @Test func defaults() throws {
        let route = try #require(try parse("routes:\n  - host: a.example").routes.first)
        #expect(route.retry == RetrySettings())
        #expect(route.retry.maxRetries == 0)
        #expect(route.retry.delayMs == 200)
        #expect(route.retry.exponentialBackoff == false)
        #expect(route.retry.retryOnAllErrors == false)
        #expect(route.retry.bodyBufferBytes == 1_048_576)
        #expect(route.deadlineMs == nil)
        #expect(route.maxRedirects == 0)
        #expect(route.debug == false)
    }

    @Test func everyKeySet() throws {
        let yaml = Self.route(
            """
            retry:
              max_retries: 3
              delay_ms: 0
              exponential_backoff: false
              retry_on_all_errors: true
              body_buffer_bytes: 67_108_864
            timeout_ms: 300
            deadline_ms: 100
            max_redirects: 20
            debug: true
            """)
        let route = try #require(try parse(yaml).routes.first)
        #expect(
            route.retry
                == RetrySettings(
                    maxRetries: 3, delayMs: 0, exponentialBackoff: false, retryOnAllErrors: true,
                    bodyBufferBytes: 64 << 20))
        #expect(route.deadlineMs == 100)  // smaller than timeout_ms is allowed
        #expect(route.timeoutMs == 300)
        #expect(route.maxRedirects == 20)
        #expect(route.debug)
    }

    @Test func zeroBodyBufferAndEmptyRetryMapping() throws {
        let zero = try parse(Self.route("retry: {body_buffer_bytes: 0}")).routes.first
        #expect(zero?.retry.bodyBufferBytes == 0)
        let empty = try parse(Self.route("retry: {}")).routes.first
        #expect(empty?.retry == RetrySettings())
        let null = try parse(Self.route("retry:")).routes.first
        #expect(null?.retry == RetrySettings())
    }

    @Test func exponentialBackoffWithDelayWarns() throws {
        let config = try parse(Self.route("retry:\n  exponential_backoff: true\n  delay_ms: 50"))
        #expect(config.routes.first?.retry.exponentialBackoff == true)
        #expect(config.warnings.count == 1)
        #expect(config.warnings.first?.contains("proxy.conf:5:7: routes[0].retry.delay_ms: ignored") == true)
    }

    @Test func unknownRetryKeySuggestsNearest() {
        let found = errors(Self.route("retry:\n  max_retry: 2"))
        #expect(found.count == 1)
        let e = found.first
        #expect(e.map { ($0.line, $0.column, $0.keyPath) } ?? (0, 0, "") == (4, 7, "routes[0].retry.max_retry"))
        #expect(e?.message == "unknown key")
        #expect(e?.suggestion == "did you mean 'max_retries'?")
    }

    @Test func retryMustBeAMapping() {
        expectSingleError(
            Self.route("retry: 3"), line: 3, column: 12, keyPath: "routes[0].retry",
            message: "expected a mapping")
    }

    @Test func negativeMaxRetries() {
        expectSingleError(
            Self.route("retry:\n  max_retries: -1"), line: 4, column: 20, keyPath: "routes[0].retry.max_retries",
            message: "must be at least 0")
    }

    @Test func negativeDelay() {
        expectSingleError(
            Self.route("retry:\n  delay_ms: -5"), line: 4, column: 17, keyPath: "routes[0].retry.delay_ms",
            message: "must be at least 0")
    }

    @Test func maxRetriesNotAnInteger() {
        expectSingleError(
            Self.route("retry:\n  max_retries: three"), line: 4, column: 20, keyPath: "routes[0].retry.max_retries",
            message: "expected an integer, found 'three'")
    }

    @Test func backoffNotABool() {
        expectSingleError(
            Self.route("retry:\n  exponential_backoff: sometimes"), line: 4, column: 28,
            keyPath: "routes[0].retry.exponential_backoff", message: "expected true or false, found 'sometimes'")
        expectSingleError(
            Self.route("retry:\n  retry_on_all_errors: 1"), line: 4, column: 28,
            keyPath: "routes[0].retry.retry_on_all_errors", message: "expected true or false")
    }

    @Test func bodyBufferOver64MiB() {
        expectSingleError(
            Self.route("retry:\n  body_buffer_bytes: 67108865"), line: 4, column: 26,
            keyPath: "routes[0].retry.body_buffer_bytes", message: "must be at most 67108864 (allowed range 0 to 67108864)")
    }

    @Test func deadlineMustBePositive() {
        expectSingleError(
            Self.route("deadline_ms: 0"), line: 3, column: 18, keyPath: "routes[0].deadline_ms",
            message: "must be greater than 0")
    }

    @Test func maxRedirectsRange() {
        expectSingleError(
            Self.route("max_redirects: 21"), line: 3, column: 20, keyPath: "routes[0].max_redirects",
            message: "must be at most 20")
        expectSingleError(
            Self.route("max_redirects: -1"), line: 3, column: 20, keyPath: "routes[0].max_redirects",
            message: "must be at least 0")
    }

    @Test func debugNotABool() {
        expectSingleError(
            Self.route("debug: verbose"), line: 3, column: 12, keyPath: "routes[0].debug",
            message: "expected true or false, found 'verbose'")
    }

    @Test func misspeltRouteKeySuggestsNewKey() {
        let found = errors(Self.route("max_redirect: 2"))
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "routes[0].max_redirect")
        #expect((found.first?.line, found.first?.column) == (3, 5))
        #expect(found.first?.suggestion == "did you mean 'max_redirects'?")
    }

    /// Reported together, in file order.
    @Test func severalRetryErrorsReportedTogether() {
        let found = errors(
            Self.route("retry:\n  max_retries: -1\n  delay_ms: x\n  body_buffer_bytes: 999999999\n  jitter: true"))
        #expect(
            found.map { "\($0.line):\($0.column) \($0.keyPath)" } == [
                "4:20 routes[0].retry.max_retries", "5:17 routes[0].retry.delay_ms",
                "6:26 routes[0].retry.body_buffer_bytes", "7:7 routes[0].retry.jitter",
            ])
    }
}
