import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

@Suite struct RouterTests {
    private func route(
        _ name: String, host: String? = nil, port: Int? = nil, prefix: String? = nil, methods: Set<String>? = nil
    ) -> RouteSettings {
        var pattern: HostPattern?
        if let host {
            pattern = HostPattern(
                name: host.hasPrefix("*") ? .wildcard(suffix: String(host.dropFirst())) : .exact(host), port: port)
        }
        return RouteSettings(name: name, host: pattern, pathPrefix: prefix, methods: methods)
    }

    private func pick(
        _ routes: [RouteSettings], host: String? = "api.example.com", port: Int = 443, path: String = "/",
        method: String = "GET"
    ) -> String? {
        Router(routes: routes).match(host: host, port: port, path: path, method: method)?.name
    }

    @Test func exactHostBeatsWildcardBeatsHostless() {
        let routes = [route("none", prefix: "/"), route("wild", host: "*.example.com"), route("exact", host: "api.example.com")]
        #expect(pick(routes) == "exact")
        #expect(pick(routes, host: "other.example.com") == "wild")
        #expect(pick(routes, host: "elsewhere.org") == "none")
    }

    @Test func exactHostsAreFoundAsWellInAShortTableAsInALongOne() {
        // Up to `HostTable.scanLimit` hosts are compared one by one, more are hashed: both answer alike,
        // including for a long host name and for a name only a prefix or an extension of a known one.
        for count in [1, HostTable<Int>.scanLimit, HostTable<Int>.scanLimit + 1, 40] {
            let hosts = (0..<count).map { "host-\($0).a-rather-long-internal-name.example.com" }
            let routes = hosts.map { route($0, host: $0) } + [route("fallback", prefix: "/")]
            for host in hosts { #expect(pick(routes, host: host) == host, "\(count) hosts") }
            #expect(pick(routes, host: "host-0.a-rather-long-internal-name.example") == "fallback", "\(count) hosts")
            #expect(pick(routes, host: "host-0.a-rather-long-internal-name.example.com.x") == "fallback")
            #expect(pick(routes, host: "api.example.com") == "fallback")
        }
    }

    @Test func longerWildcardSuffixWins() {
        let routes = [route("short", host: "*.example.com"), route("long", host: "*.eu.example.com")]
        #expect(pick(routes, host: "api.eu.example.com") == "long")
        #expect(pick(routes, host: "api.us.example.com") == "short")
    }

    @Test func wildcardDoesNotMatchBareSuffix() {
        #expect(pick([route("wild", host: "*.example.com")], host: "example.com") == nil)
    }

    @Test func hostBeatsLongerPath() {
        let routes = [route("path", host: "*.example.com", prefix: "/very/long/prefix/"), route("host", host: "api.example.com")]
        #expect(pick(routes, path: "/very/long/prefix/x") == "host")
    }

    @Test func longerPrefixWins() {
        let routes = [route("none", host: "api.example.com"), route("short", host: "api.example.com", prefix: "/v2/"),
                      route("long", host: "api.example.com", prefix: "/v2/orders/")]
        #expect(pick(routes, path: "/v2/orders/7") == "long")
        #expect(pick(routes, path: "/v2/users") == "short")
        #expect(pick(routes, path: "/v1") == "none")
    }

    @Test func methodRestrictedBeatsUnrestricted() {
        let routes = [route("any", host: "api.example.com", prefix: "/v2/"),
                      route("post", host: "api.example.com", prefix: "/v2/", methods: ["POST"])]
        #expect(pick(routes, path: "/v2/x", method: "post") == "post")
        #expect(pick(routes, path: "/v2/x", method: "GET") == "any")
    }

    @Test func longerPrefixBeatsMethods() {
        let routes = [route("methods", host: "a.b", prefix: "/v2/", methods: ["GET"]), route("longer", host: "a.b", prefix: "/v2/x/")]
        #expect(pick(routes, host: "a.b", path: "/v2/x/1") == "longer")
    }

    @Test func fileOrderBreaksTies() {
        let routes = [route("first", host: "api.example.com", prefix: "/a/"), route("second", host: "api.example.com", prefix: "/a/")]
        #expect(pick(routes, path: "/a/b") == "first")
        #expect(pick(routes.reversed(), path: "/a/b") == "second")
    }

    @Test func prefixWithoutSlashStopsAtSegmentBoundary() {
        let routes = [route("v2", host: "api.example.com", prefix: "/v2")]
        #expect(pick(routes, path: "/v2") == "v2")
        #expect(pick(routes, path: "/v2/") == "v2")
        #expect(pick(routes, path: "/v2/orders") == "v2")
        #expect(pick(routes, path: "/v2?x=1") == "v2")
        #expect(pick(routes, path: "/v2x") == nil)
        #expect(pick(routes, path: "/v") == nil)
    }

    @Test func prefixWithSlash() {
        let routes = [route("v2", host: "api.example.com", prefix: "/v2/")]
        #expect(pick(routes, path: "/v2/") == "v2")
        #expect(pick(routes, path: "/v2/a?b") == "v2")
        #expect(pick(routes, path: "/v2") == nil)
        #expect(pick(routes, path: "/v2?x=/v2/") == nil)
    }

    @Test func pathIsCaseSensitiveHostIsNot() {
        let routes = [route("r", host: "api.example.com", prefix: "/V2/")]
        #expect(pick(routes, host: canonical("API.Example.COM"), path: "/V2/x") == "r")
        #expect(pick(routes, host: canonical("api.example.com."), path: "/V2/x") == "r")
        #expect(pick(routes, path: "/v2/x") == nil)
    }

    /// Request hosts reach the router in `Authority`'s canonical spelling; route hosts take the same one.
    private func canonical(_ host: String) -> String? { Authority.parse(host, defaultPort: 443)?.host }

    @Test func routeHostsTakeTheCanonicalSpellingToo() {
        #expect(pick([route("r", host: "API.Example.com.")], host: canonical("api.example.com.")) == "r")
        #expect(pick([route("w", host: "*.Example.COM")], host: canonical("A.EXAMPLE.COM.")) == "w")
        #expect(pick([route("v6", host: "[2001:DB8::1]")], host: canonical("[2001:db8::1]")) == "v6")
    }

    @Test func nilHostMatchesOnlyHostlessRoutes() {
        let routes = [route("host", host: "api.example.com", prefix: "/demo/"), route("routed", prefix: "/demo/")]
        #expect(pick(routes, host: nil, path: "/demo/x") == "routed")
        #expect(pick([route("host", host: "api.example.com")], host: nil, path: "/") == nil)
    }

    @Test func portMustMatchAndExplicitPortIsMoreSpecific() {
        let routes = [route("any", host: "api.example.com"), route("8443", host: "api.example.com", port: 8443)]
        #expect(pick(routes, port: 8443) == "8443")
        #expect(pick(routes, port: 443) == "any")
        #expect(pick([route("8443", host: "api.example.com", port: 8443)], port: 443) == nil)
    }

    @Test func methodsCompareUpperCased() {
        let routes = [route("get", host: "api.example.com", methods: ["GET"])]
        #expect(pick(routes, method: "get") == "get")
        #expect(pick(routes, method: "DELETE") == nil)
    }

    @Test func noRoutesNoMatch() {
        #expect(pick([]) == nil)
    }
}

/// CONNECT goes through the same `match` as every other form: a nil path.
@Suite struct RouterTunnelTests {
    let routes = [
        RouteSettings(
            name: "exact", host: HostPattern(name: .exact("api.example")), pathPrefix: "/v1/", methods: ["GET"]),
        RouteSettings(name: "wild", host: HostPattern(name: .wildcard(suffix: ".example.org"), port: 443)),
        RouteSettings(name: "hostless", pathPrefix: "/"),
    ]

    private func tunnel(_ authority: String, where accepts: (RouteSettings) -> Bool = { _ in true }) -> String? {
        guard let (host, port) = Authority.parse(authority, defaultPort: nil) else { return "unparsed" }
        return Router(routes: routes).match(host: host, port: port, path: nil, method: "CONNECT", where: accepts)?.name
    }

    @Test func aTunnelMatchesOnHostAndPortAloneWithTheSameHostRules() {
        #expect(tunnel("api.example:443") == "exact")  // its path_prefix and methods constrain hidden requests
        #expect(tunnel("API.EXAMPLE.:8443") == "exact")
        #expect(tunnel("a.example.org.:443") == "wild")
        #expect(tunnel("a.example.org:8443") == nil)
        #expect(tunnel("elsewhere:443") == nil)  // routes without host never take a tunnel
        #expect(tunnel("api.example..:443") == "unparsed")
    }

    @Test func aRefusedRouteGivesWayToTheNextMostSpecific() {
        #expect(tunnel("api.example:443") { $0.name != "exact" } == nil)
        let router = Router(routes: [
            RouteSettings(name: "public", host: HostPattern(name: .exact("api.example")), pathPrefix: "/public/"),
            RouteSettings(name: "secret", host: HostPattern(name: .exact("api.example")), connection: "c"),
        ])
        let hit = router.match(host: "api.example", port: 443, path: nil, method: "CONNECT") { $0.connection != nil }
        #expect(hit?.name == "secret")
        #expect(router.match(host: "api.example", port: 443, path: "/public/x", method: "GET")?.name == "public")
    }
}
