import LatchkeyHTTP
import Testing

/// Framing written from the parsed framing, protected `Connection` options, and a response parser that
/// never reads bytes nobody asked for (issue 9, items 1, 10 and 12).
@Suite struct FramingHygieneTests {
    @Test func setFramingReplacesWhateverThePeerSent() {
        var headers: HTTPHeaders = [:]
        headers.add(name: "content-length", value: "007")
        headers.add(name: "X-A", value: "1")
        headers.add(name: "Transfer-Encoding", value: "chunked")
        headers.setFraming(.contentLength(7))
        #expect(headers.values(for: "Content-Length") == ["7"])
        #expect(!headers.contains("Transfer-Encoding"))
        #expect(headers.first("X-A") == "1")

        headers.setFraming(.chunked)
        #expect(headers.values(for: "Transfer-Encoding") == ["chunked"])
        #expect(!headers.contains("Content-Length"))

        headers.setFraming(.none)
        #expect(!headers.contains("Transfer-Encoding") && !headers.contains("Content-Length"))
        headers.setFraming(.untilClose)
        #expect(headers.count == 1)
        headers.setFraming(.contentLength(0))
        #expect(headers.values(for: "Content-Length") == ["0"])
    }

    @Test(arguments: [
        "Content-Length", "content-length", "close, Content-Length", "Transfer-Encoding", "HOST", "Via",
        "authorization", "Proxy-Authorization", "keep-alive,  transfer-encoding ", "Max-Forwards",
    ])
    func connectionNamingAProtectedFieldIsFound(value: String) {
        let headers: HTTPHeaders = ["Connection": value]
        #expect(headers.firstProtectedConnectionOption() != nil)
    }

    @Test(arguments: ["close", "keep-alive", "TE", "te, close", "Upgrade", "X-Custom", "Content-Type", ""])
    func ordinaryConnectionOptionsAreAllowed(value: String) {
        // TE must stay allowed: RFC 9110 §10.1.4 requires `Connection: TE` whenever TE is sent (gRPC).
        let headers: HTTPHeaders = ["Connection": value, "TE": "trailers"]
        #expect(headers.firstProtectedConnectionOption() == nil)
    }

    @Test func parserReadingOnlyExpectedResponsesCountsLeftoverBytes() throws {
        var parser = HTTP1ResponseParser()
        parser.readsOnlyExpectedResponses = true
        parser.expectResponse(toMethod: "GET")
        let events = try parser.feed(
            bytes("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nevil!"))
        #expect(
            normalized(events) == [
                .head(HTTPResponseHead(status: 200, reason: "OK", headers: ["Content-Length": "2"]), .contentLength(2)),
                .body(bytes("ok")), .end,
            ])
        #expect(!parser.hasNoBytesSinceLastResponse)
        // Later bytes are not parsed either, not even garbage.
        #expect(try parser.feed(bytes("\u{1}garbage\r\n")).isEmpty)
    }

    @Test func cleanEndLeavesTheParserReusable() throws {
        var parser = HTTP1ResponseParser()
        parser.readsOnlyExpectedResponses = true
        parser.expectResponse(toMethod: "GET")
        _ = try parser.feed(bytes("HTTP/1.1 100 Continue\r\n\r\n"))
        #expect(!parser.hasNoBytesSinceLastResponse)  // the final response is still due
        _ = try parser.feed(bytes("HTTP/1.1 204 No Content\r\n\r\n"))
        #expect(parser.hasNoBytesSinceLastResponse)
        parser.expectResponse(toMethod: "GET")
        let events = try parser.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"))
        #expect(events.last == .end)
        #expect(parser.hasNoBytesSinceLastResponse)
    }

    @Test func aSingleStrayByteOrEmptyLineAfterTheResponseCounts() throws {
        for extra in ["\r\n", "H", "\r"] {
            var parser = HTTP1ResponseParser()
            parser.readsOnlyExpectedResponses = true
            parser.expectResponse(toMethod: "GET")
            _ = try parser.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n" + extra))
            #expect(!parser.hasNoBytesSinceLastResponse, "\(extra.debugDescription)")
        }
    }

    @Test func defaultParserStillReadsAnUnannouncedResponseAsAnswerToGET() throws {
        var parser = HTTP1ResponseParser()
        let events = try parser.feed(bytes("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx"))
        #expect(normalized(events).count == 3)
    }
}
