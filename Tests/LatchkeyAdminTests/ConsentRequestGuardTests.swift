import LatchkeyHTTP
import Testing

@testable import LatchkeyAdmin

/// Issue 3: consent endpoints refuse cross-site requests and DNS rebinding (`ConsentRequestGuard`).
@Suite struct ConsentRequestGuardTests {
    let guardOnLoopback = ConsentRequestGuard(listenerHost: "127.0.0.1")

    func refusal(_ method: String, _ headers: [(String, String)], listener: String? = "127.0.0.1") -> String? {
        ConsentRequestGuard(listenerHost: listener).refusal(method: method, headers: HTTPHeaders(headers))
    }

    @Test func theCLIsRequestPasses() {
        #expect(refusal("POST", [("Host", "127.0.0.1:9901"), ("X-Latchkey-Admin", "1")]) == nil)
        #expect(refusal("GET", [("Host", "127.0.0.1:9901"), ("X-Latchkey-Admin", "1")]) == nil)
    }

    @Test func aBrowserOpeningTheConnectURLPasses() {
        #expect(refusal("GET", [("Host", "localhost:9901"), ("Sec-Fetch-Site", "none")]) == nil)
        #expect(refusal("GET", [("Host", "[::1]:9901"), ("Sec-Fetch-Site", "same-origin")]) == nil)
        #expect(refusal("GET", [("Host", "127.0.0.1:8080")]) == nil)  // a port-forward's local port
    }

    @Test(arguments: [
        "evil.example", "evil.example:9901", "127.0.0.1.evil.example:9901", "", "[::1", "a:b:c", "x:9901x",
    ])
    func aHostThatIsNotThisListenerIsRefused(host: String) {
        #expect(refusal("GET", [("Host", host)])?.contains("Host") == true)
        #expect(refusal("POST", [("Host", host), ("X-Latchkey-Admin", "1")])?.contains("Host") == true)
    }

    /// The `Host` field is read by the one `Host` parser (`HostHeader`) and judged by the one loopback rule
    /// (`AddressScope.isLoopback`): the canonical spelling counts, the unspecified address never does (a page
    /// fetching http://0.0.0.0:PORT reaches this host, but it is not a name the operator types), and a field
    /// the parser refuses names nothing.
    @Test func theHostIsReadByTheOneParserAndTheOneLoopbackRule() {
        for host in ["LOCALHOST.:9901", "127.0.0.1.:9901", "[::1]", "[0:0:0:0:0:0:0:1]:9901", "a.localhost:9901"] {
            #expect(refusal("GET", [("Host", host)]) == nil, "\(host)")
        }
        #expect(refusal("GET", [("Host", "10.0.0.5.:9901")], listener: "10.0.0.5") == nil)
        for host in ["0.0.0.0:9901", "[::]:9901", "127.0.0.1:99999", "localhost..:9901", "u@localhost:9901"] {
            #expect(refusal("GET", [("Host", host)])?.contains("Host") == true, "\(host)")
        }
    }

    @Test func aMissingOrDuplicatedHostIsRefused() {
        #expect(refusal("GET", []) != nil)
        #expect(refusal("GET", [("Host", "127.0.0.1:9901"), ("Host", "evil.example")]) != nil)
    }

    @Test func theBoundHostCounts() {
        #expect(refusal("GET", [("Host", "10.0.0.5:9901")], listener: "10.0.0.5") == nil)
        #expect(refusal("GET", [("Host", "10.0.0.5:9901")], listener: "0.0.0.0") != nil)
    }

    @Test(arguments: ["cross-site", "same-site", "CROSS-SITE"])
    func crossSiteFetchMetadataIsRefused(site: String) {
        let headers = [("Host", "127.0.0.1:9901"), ("Sec-Fetch-Site", site), ("X-Latchkey-Admin", "1")]
        #expect(refusal("POST", headers)?.contains("Sec-Fetch-Site") == true)
        #expect(refusal("GET", headers) != nil)
    }

    @Test func aForeignOriginIsRefused() {
        for origin in ["http://evil.example", "null", "http://127.0.0.1:9902", "https://127.0.0.1:9901"] {
            let headers = [("Host", "127.0.0.1:9901"), ("Origin", origin), ("X-Latchkey-Admin", "1")]
            #expect(refusal("POST", headers)?.contains("Origin") == true, "\(origin)")
        }
        #expect(
            refusal(
                "POST", [("Host", "127.0.0.1:9901"), ("Origin", "http://127.0.0.1:9901"), ("X-Latchkey-Admin", "1")])
                == nil)
    }

    @Test func aSimplePostWithoutTheHeaderIsRefused() {
        let form = [("Host", "127.0.0.1:9901"), ("Content-Type", "text/plain")]
        #expect(refusal("POST", form)?.contains("X-Latchkey-Admin") == true)
        #expect(refusal("POST", form + [("X-Latchkey-Admin", "")]) != nil)
    }

    @Test func refusalsNeverEchoTheRequest() {
        let text = refusal("POST", [("Host", "secret-looking.example"), ("Origin", "http://x")]) ?? ""
        #expect(!text.contains("secret-looking"))
    }
}
