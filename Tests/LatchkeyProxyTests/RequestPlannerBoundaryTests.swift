import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Testing

@testable import LatchkeyProxy

/// Issue 9: paths, CONNECT and destinations are boundaries, decided by the planner before any I/O.
@Suite struct RequestPlannerBoundaryTests {
    let bearer = ConnectionSettings(name: "bear", kind: .bearer(token: SecretString("t0ken")))

    func runtime(connectPorts: [Int] = [443], listen: String = "127.0.0.1") throws -> ProxyRuntime {
        var configuration = ProxyConfiguration(
            sourcePath: "test.conf", listen: ListenAddress(host: listen, port: 3128), connections: [bearer],
            routes: [
                RouteSettings(
                    name: "ro", pathPrefix: "/ro/", methods: ["GET"], connection: "bear",
                    upstream: UpstreamURL(scheme: "https", host: "api.example", port: 443, basePath: "/base")),
                RouteSettings(
                    name: "api", host: HostPattern(name: .exact("api.example")), pathPrefix: "/v1/", connection: "bear",
                    upstream: UpstreamURL(scheme: "https", host: "api.example", port: 443)),
                RouteSettings(
                    name: "wild", host: HostPattern(name: .wildcard(suffix: ".wild.example")), connection: "bear",
                    upstream: UpstreamURL(scheme: "https", host: "wild.example", port: 443)),
                RouteSettings(
                    name: "portless", host: HostPattern(name: .exact("direct.example")), connection: "bear"),
                RouteSettings(
                    name: "ported", host: HostPattern(name: .exact("ported.example"), port: 8443), connection: "bear"),
            ])
        configuration.connectPorts = connectPorts
        return try ProxyRuntime(configuration: configuration) { StaticCredentialSource(settings: $0, scrubber: SecretScrubber()) }
    }

    func plan(_ target: String, method: String = "GET", runtime: ProxyRuntime? = nil) throws -> RequestPlan {
        let head = HTTPRequestHead(method: method, target: target, headers: HTTPHeaders([("Host", "x")]))
        return RequestPlanner.plan(head, runtime: try runtime ?? self.runtime())
    }

    // MARK: Item 4: paths

    @Test func dotSegmentsCannotEscapeThePrefix() throws {
        // /ro/../admin/delete is /admin/delete: no route has it, and route mode has no passthrough.
        let error = try #require(rejection(try plan("/ro/../admin/delete")))
        #expect(error.code == .noRoute)
        #expect(error.detail.contains("/admin/delete"))
    }

    @Test func dotSegmentsInsideThePrefixAreRemovedBeforeForwarding() throws {
        let forward = try #require(forwardPlan(try plan("/ro/a/../b/./c?x=/../y")))
        #expect(forward.routeName == "ro")
        #expect(forward.head.target == "/base/ro/b/c?x=/../y")
        #expect(forward.clientPath == "/ro/a/../b/./c")
    }

    @Test(arguments: ["/ro/%2e%2e/admin", "/ro/%2E./x", "/ro/a%2F..", "/ro/..%2Fb", "/ro/a%5c..", "/ro/..\\x"])
    func encodedDelimitersAreRefused(_ target: String) throws {
        let error = try #require(rejection(try plan(target)))
        #expect(error.code == .invalidPath)
        #expect(error.status == 400)
    }

    @Test func climbingAboveTheRootIsRefusedInEveryForm() throws {
        #expect(rejection(try plan("/ro/../../etc"))?.code == .invalidPath)
        #expect(rejection(try plan("http://api.example/v1/../../x"))?.code == .invalidPath)
    }

    @Test func absoluteFormIsNormalisedTheSameWay() throws {
        // /v1/../admin is /admin: not under the route's /v1/, so it passes through without the credential.
        let forward = try #require(forwardPlan(try plan("http://api.example/v1/../admin")))
        #expect(forward.route == nil)
        #expect(forward.head.target == "/admin")
        let routed = try #require(forwardPlan(try plan("http://api.example/v1/./x/../y")))
        #expect(routed.routeName == "api")
        #expect(routed.head.target == "/v1/y")
    }

    // MARK: Item 10: CONNECT through the router

    @Test(arguments: ["api.example:443", "api.example.:443", "API.Example.:443", "a.wild.example.:443"])
    func connectToARoutedHostIsRefusedWhateverItsSpelling(_ target: String) throws {
        let error = try #require(rejection(try plan(target, method: "CONNECT")))
        #expect(error.code == .connectRefusedForRoute)
        #expect(error.status == 403)
    }

    // MARK: Item 8: connect_ports

    @Test func connectPassthroughOnlyToConnectPorts() throws {
        guard case .tunnel(let host, let port) = try plan("example.org:443", method: "CONNECT") else {
            Issue.record("expected a tunnel")
            return
        }
        #expect((host, port) == ("example.org", 443))
        let error = try #require(rejection(try plan("example.org:22", method: "CONNECT")))
        #expect(error.code == .connectPortRefused)
        #expect(error.detail.contains("connect_ports"))
        guard
            case .tunnel = try plan("example.org:22", method: "CONNECT", runtime: try runtime(connectPorts: [22, 443]))
        else {
            Issue.record("connect_ports: [22, 443] should allow port 22")
            return
        }
    }

    // MARK: Item 3: destinations known from the name

    @Test(arguments: [
        "http://169.254.169.254/latest/meta-data/", "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/", "http://[fe80::1]/",
    ])
    func passthroughToMetadataIsRefused(_ target: String) throws {
        let error = try #require(rejection(try plan(target)))
        #expect(error.code == .destinationRefused)
        #expect(error.status == 403)
    }

    @Test func passthroughToLoopbackOnlyWhenTheListenerIsLoopback() throws {
        let local = try #require(forwardPlan(try plan("http://127.0.0.1:8080/")))
        #expect(local.endpoint.destination == .passthrough(listenerIsLoopback: true))
        let open = try runtime(listen: "0.0.0.0")
        #expect(rejection(try plan("http://127.0.0.1:8080/", runtime: open))?.code == .destinationRefused)
        #expect(rejection(try plan("http://localhost:8080/", runtime: open))?.code == .destinationRefused)
        #expect(rejection(try plan("127.0.0.1:443", method: "CONNECT", runtime: open))?.code == .destinationRefused)
    }

    @Test func connectToMetadataIsRefused() throws {
        #expect(rejection(try plan("169.254.169.254:443", method: "CONNECT"))?.code == .destinationRefused)
    }

    @Test func routedUpstreamsMayBeAnywhereTheOperatorSaid() throws {
        let forward = try #require(forwardPlan(try plan("/ro/x")))
        #expect(forward.endpoint.destination == .routed)
    }

    // MARK: Item 14: a route without upstream serves the default port unless its host names one

    @Test func routeWithoutUpstreamServesOnlyTheDefaultPort() throws {
        #expect(forwardPlan(try plan("https://direct.example/x"))?.endpoint.port == 443)
        let error = try #require(rejection(try plan("https://direct.example:8443/x")))
        #expect(error.code == .denied)
        #expect(error.route == "portless")
        #expect(forwardPlan(try plan("https://ported.example:8443/x"))?.endpoint.port == 8443)
    }
}
