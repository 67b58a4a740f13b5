import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// The response head as the client gets it (issue 9, items 1, 7 and 10).
@Suite struct ResponseRewriteTests {
    func upstream(_ status: Int, _ fields: [(String, String)], version: HTTPVersion = .http1_1) -> HTTPResponseHead {
        HTTPResponseHead(version: version, status: status, reason: "R", headers: HTTPHeaders(fields))
    }

    @Test func connectionContentLengthCannotUnframeTheResponse() {
        let head = upstream(200, [("Connection", "Content-Length"), ("Content-Length", "5"), ("X-A", "1")])
        let (client, delivery) = ResponseRewrite.clientHead(
            head, framing: .contentLength(5), requestMethod: "GET", clientIsHTTP11: true)
        #expect(delivery == .asFramed)
        #expect(client.headers.values(for: "Content-Length") == ["5"])
        #expect(!client.headers.contains("Connection"))
        #expect(client.headers.first("X-A") == "1")
    }

    @Test func contentLengthIsNormalised() {
        let (client, _) = ResponseRewrite.clientHead(
            upstream(200, [("Content-Length", "0007")]), framing: .contentLength(7), requestMethod: "GET",
            clientIsHTTP11: true)
        #expect(client.headers.values(for: "Content-Length") == ["7"])
    }

    @Test func chunkedAndCloseDelimitedBodiesAreRechunkedForHTTP11AndLeftOpenEndedFor10() {
        for framing in [HTTPBodyFraming.chunked, .untilClose] {
            let head = upstream(200, [("Transfer-Encoding", "chunked"), ("Connection", "Transfer-Encoding")])
            let (to11, delivery11) = ResponseRewrite.clientHead(
                head, framing: framing, requestMethod: "GET", clientIsHTTP11: true)
            #expect(delivery11 == .chunked)
            #expect(to11.headers.values(for: "Transfer-Encoding") == ["chunked"])
            let (to10, delivery10) = ResponseRewrite.clientHead(
                head, framing: framing, requestMethod: "GET", clientIsHTTP11: false)
            #expect(delivery10 == .untilClose)
            #expect(!to10.headers.contains("Transfer-Encoding") && !to10.headers.contains("Content-Length"))
        }
    }

    @Test func bodilessResponsesKeepOnlyAnInformativeLength() {
        let headResponse = upstream(200, [("Content-Length", "042")])
        #expect(
            ResponseRewrite.clientHead(headResponse, framing: .none, requestMethod: "HEAD", clientIsHTTP11: true)
                .head.headers.values(for: "Content-Length") == ["42"])
        #expect(
            ResponseRewrite.clientHead(
                upstream(304, [("Content-Length", "10")]), framing: .none, requestMethod: "GET", clientIsHTTP11: true
            )
            .head.headers.values(for: "Content-Length") == ["10"])
        #expect(
            !ResponseRewrite.clientHead(
                upstream(204, [("Content-Length", "0")]), framing: .none, requestMethod: "GET", clientIsHTTP11: true
            )
            .head.headers.contains("Content-Length"))
    }

    @Test func proxyChallengesStayWithTheProxyAndViaIsAdded() {
        let head = upstream(
            407, [("Proxy-Authenticate", "Basic realm=up"), ("Proxy-Authentication-Info", "x"), ("Via", "1.1 cdn")],
            version: .http1_0)
        let (client, _) = ResponseRewrite.clientHead(
            head, framing: .contentLength(0), requestMethod: "GET", clientIsHTTP11: true)
        #expect(!client.headers.contains("Proxy-Authenticate"))
        #expect(!client.headers.contains("Proxy-Authentication-Info"))
        #expect(client.headers.values(for: "Via") == ["1.1 cdn", "1.0 \(ViaField.pseudonym)"])
        #expect(client.version == .http1_1)
    }

    @Test func interimResponsesAreNeverFramed() {
        let interim = ResponseRewrite.interimHead(
            upstream(103, [("Link", "</a>"), ("Content-Length", "3"), ("Connection", "Link")]))
        #expect(!interim.headers.contains("Content-Length"))
        #expect(!interim.headers.contains("Link"))
        #expect(interim.headers.contains("Via"))
    }
}
