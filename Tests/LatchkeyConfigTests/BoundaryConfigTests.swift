import Testing

@testable import LatchkeyConfig

/// Issue 9: `connect_ports`, the `unmatched` default for a non-loopback listener, and routes to the proxy itself.
@Suite struct BoundaryConfigTests {
    @Test func connectPortsDefaultTo443AndAreValidated() throws {
        #expect(try parse("listen: 127.0.0.1:3128").connectPorts == [443])
        #expect(try parse("connect_ports: [443, 8443, 443]").connectPorts == [443, 8443])
        expectSingleError(
            "connect_ports: [443, 70000]", line: 1, column: 22, keyPath: "connect_ports[1]",
            message: "between 1 and 65535")
        expectSingleError(
            "connect_ports: [0]", line: 1, column: 17, keyPath: "connect_ports[0]", message: "between 1 and 65535")
        expectSingleError("connect_ports: 443", line: 1, column: 16, keyPath: "connect_ports", message: "list of ports")
        expectSingleError(
            "connect_ports: []", line: 1, column: 16, keyPath: "connect_ports", message: "at least one port")
    }

    @Test(arguments: ["/ro/../admin/", "/./x", "/a/%2E%2e/", "/a/..%2fb/", "/a\\b", "/a/..;x/"])
    func pathPrefixMustBeNormalised(_ prefix: String) {
        expectSingleError(
            "routes:\n  - {path_prefix: '\(prefix)', upstream: 'http://127.0.0.1:9'}", line: 2, column: 19,
            keyPath: "routes[0].path_prefix", message: "must be a normalised path")
    }

    @Test func normalisedPathPrefixesAreFine() {
        for prefix in ["/", "/ro/", "/a..b/.c/", "/v1;x/"] {
            #expect(
                errors("routes:\n  - {path_prefix: '\(prefix)', upstream: 'http://127.0.0.1:9'}").isEmpty, "\(prefix)")
        }
    }

    @Test func unmatchedDefaultsToDenyBeyondLoopback() throws {
        let open = try parse("listen: 0.0.0.0:3128")
        #expect(open.unmatched == .deny)
        #expect(open.notices.contains { $0.contains("default 'deny'") })
        #expect(open.warnings.isEmpty)
        let local = try parse("listen: 127.0.0.1:3128")
        #expect(local.unmatched == .passthrough)
        #expect(local.notices.contains { $0.contains("default 'passthrough'") })
        #expect(try parse("").unmatched == .passthrough)  // the default listen is 127.0.0.1:3128
    }

    @Test func explicitPassthroughBeyondLoopbackIsLoud() throws {
        let open = try parse("listen: 0.0.0.0:3128\nunmatched: passthrough")
        #expect(open.unmatched == .passthrough)
        #expect(open.warnings.count == 1)
        #expect(open.warnings.first?.contains("OPEN PROXY") == true)
        #expect(open.warnings.first?.hasPrefix("proxy.conf:2:12: unmatched:") == true)
        #expect(try parse("listen: 127.0.0.1:3128\nunmatched: passthrough").warnings.isEmpty)
    }

    @Test(arguments: [
        ("127.0.0.1:3128", "http://127.0.0.1:3128", "listen"),
        ("127.0.0.1:3128", "http://localhost:3128/x", "listen"),
        ("127.0.0.1:3128", "http://[::1]:3128", "listen"),
        ("0.0.0.0:3128", "http://127.0.0.2:3128", "listen"),
        ("'[::]:3128'", "https://localhost:3128", "listen"),
        ("127.0.0.1:3128", "http://127.0.0.1:9901", "admin"),
    ])
    func upstreamEqualToAListenerIsAnError(_ listen: String, _ upstream: String, _ which: String) {
        expectSingleError(
            """
            listen: \(listen)
            routes:
              - name: self
                path_prefix: /
                upstream: \(upstream)
            """, line: 5, column: 15, keyPath: "routes[0].upstream", message: "own \(which) listener")
    }

    @Test func flowStyleRoutesOnOneLineAreNamedByIndex() {
        let found = errors(
            "listen: 127.0.0.1:3128\nroutes: [{path_prefix: /a/, upstream: 'http://127.0.0.1:9'}, "
                + "{path_prefix: /b/, upstream: 'http://localhost:3128'}]")
        #expect(found.map(\.keyPath) == ["routes[1].upstream"], "\(found)")
    }

    @Test(arguments: [
        ("127.0.0.1:3128", "http://127.0.0.1:3129"),
        ("127.0.0.1:3128", "http://example.com:3128"),
        ("10.0.0.5:3128", "http://127.0.0.1:3128"),
        ("127.0.0.1:0", "http://127.0.0.1:0"),
    ])
    func otherUpstreamsAreFine(_ listen: String, _ upstream: String) {
        let found = errors(
            """
            listen: \(listen)
            unmatched: deny
            routes:
              - name: other
                path_prefix: /
                upstream: \(upstream)
            """)
        #expect(found.allSatisfy { !$0.message.contains("own") }, "\(found)")
    }
}
