import Testing

@testable import LatchkeyHTTP

@Suite struct RequestTargetTests {
    @Test(arguments: [
        ("/", "GET", RequestTarget.origin(path: "/")),
        ("/a/b?c=d&e", "GET", .origin(path: "/a/b?c=d&e")),
        ("http://Example.COM", "GET", .absolute(scheme: "http", host: "example.com", port: 80, path: "/")),
        ("HTTPS://example.com/x?y", "POST", .absolute(scheme: "https", host: "example.com", port: 443, path: "/x?y")),
        ("hTtP://example.com/", "GET", .absolute(scheme: "http", host: "example.com", port: 80, path: "/")),
        ("http://example.com:8080?q", "GET", .absolute(scheme: "http", host: "example.com", port: 8080, path: "/?q")),
        ("http://[2001:DB8::1]:8443/p", "GET", .absolute(scheme: "http", host: "2001:db8::1", port: 8443, path: "/p")),
        ("http://10.0.0.1/", "GET", .absolute(scheme: "http", host: "10.0.0.1", port: 80, path: "/")),
        ("Example.com:443", "CONNECT", .authority(host: "example.com", port: 443)),
        ("[::1]:8080", "CONNECT", .authority(host: "::1", port: 8080)),
        ("API.example.com.:443", "CONNECT", .authority(host: "api.example.com", port: 443)),
        ("http://API.example.com.:80/x", "GET", .absolute(scheme: "http", host: "api.example.com", port: 80, path: "/x")),
        ("https://api.example.com./", "GET", .absolute(scheme: "https", host: "api.example.com", port: 443, path: "/")),
        ("http://127.0.0.1./", "GET", .absolute(scheme: "http", host: "127.0.0.1", port: 80, path: "/")),
        ("*", "OPTIONS", .asterisk),
    ])
    func parses(_ target: String, _ method: String, _ expected: RequestTarget) {
        #expect(RequestTarget.parse(target, method: method) == expected)
    }

    @Test(arguments: [
        ("", "GET"),
        ("http://user@example.com/", "GET"),
        ("http://user:pw@example.com/", "GET"),
        ("http://example.com/#frag", "GET"),
        ("/a#frag", "GET"),
        ("ftp://example.com/", "GET"),
        ("http:/example.com/", "GET"),
        ("http:", "GET"),
        ("http:/", "GET"),
        ("https:", "GET"),
        ("httpx://example.com/", "GET"),
        ("htt://example.com/", "GET"),
        ("hxxp://example.com/", "GET"),
        ("http:\\\\example.com/", "GET"),
        ("http:///", "GET"),
        ("http://example.com:/", "GET"),
        ("http://example.com:0/", "GET"),
        ("http://example.com:65536/", "GET"),
        ("http://exa mple.com/", "GET"),
        ("http://[::1/", "GET"),
        ("http://[zz::1]/", "GET"),
        ("example.com", "CONNECT"),
        ("/path", "CONNECT"),
        ("user@example.com:443", "CONNECT"),
        ("example.com..:443", "CONNECT"),
        ("http://example.com../", "GET"),
        ("http://a..b/", "GET"),
        ("http://.example.com/", "GET"),
        ("http://./", "GET"),
        ("example.com:443", "GET"),
        ("*", "GET"),
        ("/caf\u{E9}", "GET"),
    ])
    func rejects(_ target: String, _ method: String) {
        #expect(RequestTarget.parse(target, method: method) == nil)
    }

    @Test func hostHeader() {
        #expect(HostHeader.parse("Example.com", defaultPort: 80)! == ("example.com", 80))
        #expect(HostHeader.parse("example.com:8080", defaultPort: 80)! == ("example.com", 8080))
        #expect(HostHeader.parse("[::1]", defaultPort: 443)! == ("::1", 443))
        #expect(HostHeader.parse("[fe80::1]:1", defaultPort: 443)! == ("fe80::1", 1))
        #expect(HostHeader.parse("127.0.0.1:65535", defaultPort: 80)! == ("127.0.0.1", 65535))
        #expect(HostHeader.parse("API.Example.com.:8080", defaultPort: 80)! == ("api.example.com", 8080))
        #expect(HostHeader.parse("localhost.", defaultPort: 80)! == ("localhost", 80))
        for bad in [
            "", "a:", ":80", "a:b", "a:99999", "u@a", "a b", "a/b", "[::1", "::1", "a:80:80", "[::1]x", ".", "a..",
            "a..b", ".a",
        ] {
            #expect(HostHeader.parse(bad, defaultPort: 80) == nil, "\(bad)")
        }
    }
}

/// The one host normalisation: every form of a host gets one spelling.
@Suite struct AuthorityTests {
    @Test func canonicalHostIsLowerCasedUnbracketedWithoutOneTrailingDot() {
        #expect(Authority.canonicalHost("API.Example.COM.") == "api.example.com")
        #expect(Authority.canonicalHost("[2001:DB8::1]") == "2001:db8::1")
        #expect(Authority.canonicalHost("2001:DB8::1") == "2001:db8::1")
        #expect(Authority.canonicalHost("localhost") == "localhost")
        for bad in ["", ".", "a..", "a..b", ".a", "a b", "a/b", "[zz::1]", "u@a"] {
            #expect(Authority.canonicalHost(bad) == nil, "\(bad)")
        }
    }

    /// The decoder's check builds nothing and must accept exactly what routing then parses.
    @Test func validityAgreesWithParse() {
        let values = [
            "a", "a.", "a.:80", "A.B.C", "a..", "a..b", ".a", ".", "", "a:", ":80", "a:0", "a:65535", "a:65536",
            "[::1]", "[::1]:8080", "[::1]x", "[::1", "[a]", "[zz::1]", "::1", "u@a", "a b", "a/b", "_a-b~c",
            "127.0.0.1", "127.0.0.1.", "a:80:80", "xn--bcher-kva.example",
        ]
        for value in values {
            var text = value
            let valid = text.withUTF8 { Authority.isValid($0, defaultPort: 80) }
            #expect(valid == (Authority.parse(value, defaultPort: 80) != nil), "\(value)")
        }
        var noDefault = "a"
        #expect(!noDefault.withUTF8 { Authority.isValid($0, defaultPort: nil) })
    }

    @Test func hostAuthorityReadsTheFirstHostInPlace() {
        let fields = HTTPHeaders([("Accept", "*/*"), ("HOST", "API.Example.:8443")])
        #expect(fields.hostAuthority(defaultPort: 80)! == ("api.example", 8443))
        #expect(HTTPHeaders([("Host", "a"), ("Host", "b")]).hostAuthority(defaultPort: 443)! == ("a", 443))
        #expect(HTTPHeaders([("Host", "a..b")]).hostAuthority(defaultPort: 80) == nil)
        #expect(HTTPHeaders([("Accept", "*/*")]).hostAuthority(defaultPort: 80) == nil)
    }

    @Test func everyFormGivesTheSameHost() {
        let spellings = ["api.example.com", "API.example.com.", "api.EXAMPLE.com."]
        for spelling in spellings {
            #expect(
                RequestTarget.parse("\(spelling):443", method: "CONNECT") == .authority(host: "api.example.com", port: 443))
            #expect(
                RequestTarget.parse("http://\(spelling)/x", method: "GET")
                    == .absolute(scheme: "http", host: "api.example.com", port: 80, path: "/x"))
            #expect(HostHeader.parse(spelling, defaultPort: 80)! == ("api.example.com", 80))
        }
    }
}

@Suite struct HopByHopTests {
    @Test func removesHopByHopAndConnectionNamedFields() {
        var headers = HTTPHeaders([
            ("Host", "a"), ("Connection", "keep-alive, X-Secret-Hop"), ("connection", "Upgrade"),
            ("Keep-Alive", "timeout=5"), ("Proxy-Connection", "keep-alive"), ("TE", "trailers"),
            ("Transfer-Encoding", "chunked"), ("Trailer", "Etag"), ("Upgrade", "websocket"),
            ("x-secret-hop", "1"), ("Proxy-Authorization", "Basic x"), ("Proxy-Authenticate", "Basic"),
            ("Accept", "*/*"), ("X-Keep", "connection"),
        ])
        HTTPHeaders.removeHopByHop(from: &headers)
        #expect(
            headers
                == HTTPHeaders([
                    ("Host", "a"), ("Proxy-Authorization", "Basic x"), ("Proxy-Authenticate", "Basic"),
                    ("Accept", "*/*"), ("X-Keep", "connection"),
                ]))
    }

    @Test func instanceFormMatches() {
        var headers: HTTPHeaders = ["Connection": "close", "Accept": "*/*"]
        headers.removeHopByHop()
        #expect(headers == ["Accept": "*/*"])
    }
}
