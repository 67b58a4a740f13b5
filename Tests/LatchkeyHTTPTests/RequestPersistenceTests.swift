import Testing

@testable import LatchkeyHTTP

@Suite struct RequestPersistenceTests {
    @Test func http11PersistsUnlessCloseIsListed() {
        #expect(HTTPRequestHead(method: "GET", target: "/").wantsKeepAlive)
        #expect(!HTTPRequestHead(method: "GET", target: "/", headers: ["Connection": "keep-alive, Close"]).wantsKeepAlive)
        #expect(HTTPRequestHead(method: "GET", target: "/", headers: ["Connection": "closed"]).wantsKeepAlive)
    }

    @Test func http10Closes() {
        let head = HTTPRequestHead(method: "GET", target: "/", version: .http1_0, headers: ["Connection": "keep-alive"])
        #expect(!head.wantsKeepAlive)
    }

    @Test func pathOnlyDropsTheQuery() {
        #expect(HTTPRequestHead.pathOnly("/readyz?verbose=1") == "/readyz")
        #expect(HTTPRequestHead.pathOnly("/metrics") == "/metrics")
        #expect(HTTPRequestHead.pathOnly("/?") == "/")
    }
}
