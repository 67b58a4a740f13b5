import Testing

@testable import LatchkeyProxy

/// RedirectRule: which statuses are followed with which method and body (RFC 9110 §15.4), and Location
/// resolution (RFC 3986 §5.2).
@Suite struct RedirectRuleTests {
    // MARK: follow

    @Test(arguments: [
        // status, method, followed method (nil: not followed), keeps body
        (301, "GET", "GET", true), (301, "POST", "GET", false), (301, "PUT", "PUT", true),
        (301, "DELETE", "DELETE", true), (301, "HEAD", "HEAD", true),
        (302, "GET", "GET", true), (302, "POST", "GET", false), (302, "post", "GET", false),
        (302, "PATCH", "PATCH", true),
        (303, "GET", "GET", false), (303, "POST", "GET", false), (303, "PUT", "GET", false),
        (303, "DELETE", "GET", false), (303, "HEAD", "HEAD", false),
        (307, "GET", "GET", true), (307, "POST", "POST", true), (307, "PUT", "PUT", true),
        (308, "POST", "POST", true), (308, "DELETE", "DELETE", true),
    ] as [(Int, String, String, Bool)])
    func followed(status: Int, method: String, newMethod: String, keepsBody: Bool) throws {
        let result = try #require(RedirectRule.follow(status: status, method: method))
        #expect(result.method == newMethod)
        #expect(result.keepsBody == keepsBody)
    }

    @Test(arguments: [300, 304, 305, 306, 309, 399, 200, 201, 400, 404, 500, 503])
    func notFollowed(status: Int) {
        #expect(RedirectRule.follow(status: status, method: "GET") == nil)
        #expect(RedirectRule.follow(status: status, method: "POST") == nil)
    }

    // MARK: resolve

    private func resolve(
        _ location: String, scheme: String = "http", host: String = "a.example", port: Int = 80,
        path: String = "/dir/page?x=1"
    ) -> String? {
        RedirectRule.resolve(location: location, scheme: scheme, host: host, port: port, path: path).map {
            "\($0.scheme) \($0.host) \($0.port) \($0.path)"
        }
    }

    @Test func absoluteURLs() {
        #expect(resolve("http://b.example/x?y=2") == "http b.example 80 /x?y=2")
        #expect(resolve("https://b.example/x") == "https b.example 443 /x")
        #expect(resolve("https://b.example:8443/x") == "https b.example 8443 /x")
        #expect(resolve("HTTP://B.Example:81") == "http b.example 81 /")
        #expect(resolve("https://b.example?q=1") == "https b.example 443 /?q=1")
        #expect(resolve("http://b.example:/x") == "http b.example 80 /x")
        #expect(resolve("http://b.example/a/./b/../c") == "http b.example 80 /a/c")
    }

    @Test func schemeRelative() {
        #expect(resolve("//b.example/x") == "http b.example 80 /x")
        #expect(resolve("//b.example/x", scheme: "https", port: 443) == "https b.example 443 /x")
        #expect(resolve("//b.example:9000") == "http b.example 9000 /")
    }

    @Test func absolutePath() {
        #expect(resolve("/other") == "http a.example 80 /other")
        #expect(resolve("/other?z=3") == "http a.example 80 /other?z=3")
        #expect(resolve("/a/../../b") == "http a.example 80 /b")
        #expect(resolve("/x", host: "A.Example", port: 8080) == "http a.example 8080 /x")
    }

    @Test func relativePaths() {
        #expect(resolve("next") == "http a.example 80 /dir/next")
        #expect(resolve("./next") == "http a.example 80 /dir/next")
        #expect(resolve("../up") == "http a.example 80 /up")
        #expect(resolve("../../../up") == "http a.example 80 /up")
        #expect(resolve("sub/leaf?k=v") == "http a.example 80 /dir/sub/leaf?k=v")
        #expect(resolve(".") == "http a.example 80 /dir/")
        #expect(resolve("..") == "http a.example 80 /")
        #expect(resolve("next", path: "/") == "http a.example 80 /next")
        #expect(resolve("next", path: "/dir/") == "http a.example 80 /dir/next")
        #expect(resolve("next", path: "") == "http a.example 80 /next")
    }

    @Test func queryOnlyAndFragments() {
        #expect(resolve("?y=2") == "http a.example 80 /dir/page?y=2")
        #expect(resolve("?") == "http a.example 80 /dir/page?")
        #expect(resolve("#frag") == "http a.example 80 /dir/page?x=1")
        #expect(resolve("/p#frag") == "http a.example 80 /p")
        #expect(resolve("https://b.example/p?q#frag") == "https b.example 443 /p?q")
    }

    /// The Location's host is read by the one authority parser: the same canonical spelling as a request's,
    /// so a redirect to `HTTP://A.EXAMPLE.:80/x` is the same origin as `a.example:80`.
    @Test func theLocationHostTakesTheCanonicalSpelling() {
        #expect(resolve("HTTP://A.EXAMPLE.:80/x") == "http a.example 80 /x")
        #expect(resolve("http://b.example.:/x") == "http b.example 80 /x")
        #expect(resolve("/x", host: "A.Example.", port: 80) == "http a.example 80 /x")
        #expect(resolve("http://b.example../x") == nil)
        #expect(resolve("http://b%2eexample/x") == nil)
    }

    @Test func ipv6() {
        #expect(resolve("http://[::1]:8080/x") == "http ::1 8080 /x")
        #expect(resolve("https://[2001:DB8::1]/x") == "https 2001:db8::1 443 /x")
        #expect(resolve("/x", host: "::1", port: 8080) == "http ::1 8080 /x")
        #expect(resolve("/x", host: "[::1]", port: 8080) == "http ::1 8080 /x")
        #expect(resolve("http://[::1/x") == nil)
        #expect(resolve("http://[::1]x/") == nil)
    }

    @Test(arguments: [
        "", "ftp://b.example/x", "mailto:a@b.example", "javascript:alert(1)", "data:text/plain,hi",
        "http:/x", "http:x", "http://", "http://:80/x", "http://b.example:0/", "http://b.example:65536/",
        "http://b.example:8o/", "http://user:pass@b.example/", "http://b.example/a b", "/a\r\nX: y",
        "http://a:b:c/",
    ])
    func rejected(location: String) {
        #expect(resolve(location) == nil)
    }

    @Test func nonHTTPBaseIsRejected() {
        #expect(resolve("/x", scheme: "ftp") == nil)
    }

    @Test func dotSegments() {
        #expect(RedirectRule.removeDotSegments("/a/b/c/./../../g") == "/a/g")
        #expect(RedirectRule.removeDotSegments("/mid/content=5/../6") == "/mid/6")
        #expect(RedirectRule.removeDotSegments("/a//b") == "/a//b")
        #expect(RedirectRule.removeDotSegments("/..") == "/")
        #expect(RedirectRule.removeDotSegments("/a/..b/.c") == "/a/..b/.c")
    }
}
