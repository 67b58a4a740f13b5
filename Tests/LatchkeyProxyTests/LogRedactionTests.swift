import Testing

@testable import LatchkeyProxy

/// Issue 11: what `debug: true` and the rejected-request log leave out.
@Suite struct LogRedactionTests {
    @Test(arguments: [
        "Cookie", "set-cookie", "X-Api-Key", "X-Auth-Token", "x-session-id", "Api-Key", "X-Client-Secret",
        "X-Password", "Proxy-Authorization", "X-Amz-Security-Token", "X-Signature",
    ])
    func credentialLikeFieldsAreRedacted(name: String) {
        #expect(LogRedaction.isCredentialField(name))
    }

    @Test(arguments: ["Accept", "Content-Type", "X-Trace", "User-Agent", "Keep-Alive", "Host"])
    func ordinaryFieldsAreKept(name: String) {
        #expect(!LogRedaction.isCredentialField(name))
    }

    @Test func queryValuesAreRedactedNamesKept() {
        #expect(LogRedaction.target("/p?api_key=k1&page=2&flag") == "/p?api_key=<redacted>&page=<redacted>&<redacted>")
        #expect(LogRedaction.target("/p") == "/p")
        #expect(LogRedaction.target("/p?") == "/p?")
    }

    @Test func userInfoIsRemoved() {
        #expect(LogRedaction.withoutUserInfo("http://u:pw@h.example/x") == "http://h.example/x")
        #expect(LogRedaction.withoutUserInfo("http://u:pw@h.example") == "http://h.example")
        #expect(LogRedaction.withoutUserInfo("http://h.example/a@b") == "http://h.example/a@b")
        #expect(LogRedaction.target("http://u:pw@h.example/x?token=t") == "http://h.example/x?token=<redacted>")
    }

    @Test func startLines() {
        #expect(LogRedaction.startLine("GET /a?key=v HTTP/1.1") == "GET /a?key=<redacted> HTTP/1.1")
        #expect(LogRedaction.startLine("GET http://u:p@h/a?key=v") == "GET http://h/a?key=<redacted>")
        #expect(LogRedaction.startLine("HTTP/1.1 302 Found") == "HTTP/1.1 302 Found")
        #expect(LogRedaction.startLine("200 OK") == "200 OK")
    }
}
