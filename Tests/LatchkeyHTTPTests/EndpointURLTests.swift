import LatchkeyHTTP
import Testing

@Suite struct EndpointURLTests {
    /// (text, scheme, host, port, path, query, requestTarget, description)
    @Test(
        arguments: [
            (
                "http://127.0.0.1:8000/o/token/", "http", "127.0.0.1", 8000, "/o/token/", nil, "/o/token/",
                "http://127.0.0.1:8000/o/token/"
            ),
            (
                "https://idp.example.com/oauth2/v2.0/token?api-version=2.0", "https", "idp.example.com", 443,
                "/oauth2/v2.0/token",
                "api-version=2.0", "/oauth2/v2.0/token?api-version=2.0",
                "https://idp.example.com/oauth2/v2.0/token?api-version=2.0"
            ),
            (
                "https://t.b2clogin.com/t.onmicrosoft.com/oauth2/v2.0/token?p=B2C_1_policy", "https", "t.b2clogin.com",
                443,
                "/t.onmicrosoft.com/oauth2/v2.0/token", "p=B2C_1_policy",
                "/t.onmicrosoft.com/oauth2/v2.0/token?p=B2C_1_policy",
                "https://t.b2clogin.com/t.onmicrosoft.com/oauth2/v2.0/token?p=B2C_1_policy"
            ),
            // Percent-encoding is neither decoded nor re-encoded (and its case is kept).
            (
                "https://idp.example/tenant%2Fa/to%7ek%20en/?x=a%2Bb&y=%2f", "https", "idp.example", 443,
                "/tenant%2Fa/to%7ek%20en/",
                "x=a%2Bb&y=%2f", "/tenant%2Fa/to%7ek%20en/?x=a%2Bb&y=%2f",
                "https://idp.example/tenant%2Fa/to%7ek%20en/?x=a%2Bb&y=%2f"
            ),
            // Scheme and host are case-insensitive (RFC 3986 §6.2.2.1); the path is not.
            (
                "HTTPS://IdP.Example.COM/Token/", "https", "idp.example.com", 443, "/Token/", nil, "/Token/",
                "https://idp.example.com/Token/"
            ),
            // IPv6 literals: brackets in the authority, not in `host`.
            (
                "http://[::1]:9000/o/token/", "http", "::1", 9000, "/o/token/", nil, "/o/token/",
                "http://[::1]:9000/o/token/"
            ),
            ("https://[2001:DB8::1]/t", "https", "2001:db8::1", 443, "/t", nil, "/t", "https://[2001:db8::1]/t"),
            // Default and explicit ports: an explicit default port is the same endpoint.
            ("https://idp.example:443/t", "https", "idp.example", 443, "/t", nil, "/t", "https://idp.example/t"),
            ("http://idp.example:80/t", "http", "idp.example", 80, "/t", nil, "/t", "http://idp.example/t"),
            ("http://idp.example:443/t", "http", "idp.example", 443, "/t", nil, "/t", "http://idp.example:443/t"),
            ("https://idp.example:8443", "https", "idp.example", 8443, "", nil, "/", "https://idp.example:8443"),
            // No path: the request-target is "/"; a query straight after the authority; a bare '?' is kept.
            ("https://idp.example", "https", "idp.example", 443, "", nil, "/", "https://idp.example"),
            (
                "https://idp.example?tenant=a", "https", "idp.example", 443, "", "tenant=a", "/?tenant=a",
                "https://idp.example?tenant=a"
            ),
            ("https://idp.example/t?", "https", "idp.example", 443, "/t", "", "/t?", "https://idp.example/t?"),
            // Sub-delims, ':' and '@' in the path, '?' and '/' in the query (RFC 3986 §3.3, §3.4); empty segments kept.
            (
                "https://idp.example/a:b@c/!$&'()*+,;=//x?q=/a?b", "https", "idp.example", 443, "/a:b@c/!$&'()*+,;=//x",
                "q=/a?b",
                "/a:b@c/!$&'()*+,;=//x?q=/a?b", "https://idp.example/a:b@c/!$&'()*+,;=//x?q=/a?b"
            ),
        ] as [(String, String, String, Int, String, String?, String, String)])
    func keepsPathAndQueryAsWritten(
        _ text: String, _ scheme: String, _ host: String, _ port: Int, _ path: String, _ query: String?,
        _ target: String, _ description: String
    ) throws {
        let url = try EndpointURL.parse(text)
        #expect(url.scheme == scheme)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.path == path)
        #expect(url.query == query)
        #expect(url.requestTarget == target)
        #expect(url.description == description)
        #expect(url.isTLS == (scheme == "https"))
        // The description parses back to the same URL.
        #expect(try EndpointURL.parse(url.description) == url)
    }

    @Test(arguments: [
        ("https://idp.example/token#frag", "fragment"),
        ("https://idp.example/token?a=1#frag", "fragment"),
        ("https://user:pw@idp.example/token", "user info"),
        ("https://user@idp.example/token", "user info"),
        ("ftp://idp.example/token", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("idp.example/token", "absolute"),
        ("//idp.example/token", "absolute"),
        ("https:/idp.example/token", "absolute"),
        ("https://idp.example/o/to ken/", "space"),
        ("https://idp.example/token?a=b c", "space"),
        ("https://idp.example/token\n", "control"),
        ("https://idp.example/tøken", "non-ASCII"),
        ("https://idp.example/a|b", "percent-encode"),
        ("https://idp.example/a\"b", "percent-encode"),
        ("https://idp.example/a{b}", "percent-encode"),
        ("https://idp.example/a%zz", "hex digits"),
        ("https://idp.example/a%2", "hex digits"),
        ("https://idp.example/t?x=%", "hex digits"),
        ("https:///token", "no host"),
        ("https://", "no host"),
        ("https://:443/token", "no host"),
        ("https://idp..example/t", "host name"),
        ("https://idp.example./t", "host name"),
        ("https://idp%2eexample/t", "host name"),
        ("https://::1/t", "brackets"),
        ("https://[::1/t", "']'"),
        ("https://[not-v6]/t", "IPv6"),
        ("https://[fe80::1%25eth0]/t", "IPv6"),
        ("https://idp.example:/t", "port"),
        ("https://idp.example:0/t", "port"),
        ("https://idp.example:65536/t", "port"),
        ("https://idp.example:99999999999999999999/t", "port"),
        ("https://idp.example:44x/t", "port"),
        ("https://[::1]x/t", "port"),
    ])
    func refusesWithAMessageThatNamesTheProblem(_ text: String, _ expected: String) {
        #expect {
            try EndpointURL.parse(text)
        } throws: { error in
            let message = (error as? EndpointURL.ParseError)?.message ?? ""
            // Never quote the value: it may come from a secret or carry user info.
            return message.contains(expected) && !message.contains("idp.example") && !message.contains("pw")
        }
    }

    @Test func authorityBracketsIPv6AndOmitsTheDefaultPort() {
        #expect(EndpointURL.authority(host: "::1", port: 443, scheme: "https") == "[::1]")
        #expect(EndpointURL.authority(host: "::1", port: 8443, scheme: "https") == "[::1]:8443")
        #expect(EndpointURL.authority(host: "a.example", port: 80, scheme: "http") == "a.example")
        #expect(EndpointURL.authority(host: "a.example", port: 443, scheme: "http") == "a.example:443")
    }

    /// The fuzz harness's invariant over deterministic mutations of valid URLs: whatever parses has a
    /// request-target that cannot break the request line and a description that parses back to itself.
    @Test func mutatedURLsNeverYieldAnUnsafeRequestTarget() {
        let seeds = [
            "https://[2001:db8::1]:8443/o/token/?p=B2C_1_policy", "http://127.0.0.1/a%20b/?x=%2F#",
            "https://idp.example.com/t?q=/a?b&c=d",
        ].map { Array($0.utf8) }
        let alphabet = Array("%/?#@:[] \r\n\t\"<>|{}^`\\azAZ09.-_~!$&'()*+,;=".utf8) + [0x00, 0x7F, 0xC3, 0xA9]
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((state >> 33) % UInt64(bound))
        }
        var parsed = 0
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            for _ in 0...next(3) {
                let at = next(bytes.count + 1)
                switch next(3) {
                case 0: bytes.insert(alphabet[next(alphabet.count)], at: at)
                case 1: if at < bytes.count { bytes.remove(at: at) }
                default: if at < bytes.count { bytes[at] = alphabet[next(alphabet.count)] }
                }
            }
            guard let url = try? EndpointURL.parse(String(decoding: bytes, as: UTF8.self)) else { continue }
            parsed += 1
            #expect(url.requestTarget.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "#") }, "\(bytes)")
            #expect(url.requestTarget.hasPrefix("/"))
            #expect((try? EndpointURL.parse(url.description)) == url, "\(url)")
        }
        #expect(parsed > 1_000)  // the mutations exercise the accepting paths too
    }
}
