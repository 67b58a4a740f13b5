import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

@Suite struct GRPCStatusTests {
    @Test(arguments: [
        ("application/grpc", true), ("application/grpc+proto", true), ("Application/GRPC", true),
        ("application/grpc-web", false), ("application/json", false),
    ])
    func recognisesGRPCCalls(_ type: String, _ expected: Bool) {
        #expect(GRPCStatus.isGRPC(["content-type": type]) == expected)
    }

    @Test func anUnreachableUpstreamIsUnavailableAndNamesTheRoute() {
        let error = ProxyError(
            .upstreamConnectFailed, "connect to 127.0.0.1:1 failed: Connection refused", route: "grpc-partner",
            connection: "partner")
        let head = GRPCStatus.response(for: error, scrubber: SecretScrubber())
        #expect(head.status == 200)
        #expect(head.headers.first("content-type") == "application/grpc")
        #expect(head.headers.first("grpc-status") == "14")
        #expect(
            head.headers.first("grpc-message")
                == "latchkey upstream_connect_failed: connect to 127.0.0.1:1 failed: Connection refused (route grpc-partner, connection partner)")
    }

    @Test(arguments: [
        (ProxyError.Code.noRoute, 12), (.denied, 7), (.upstreamTimeout, 4), (.credentialUnavailable, 14),
        (.badRequest, 13),
    ])
    func statusesFollowTheHTTPMapping(_ code: ProxyError.Code, _ expected: Int) {
        #expect(GRPCStatus.code(for: ProxyError(code, "x")) == expected)
    }

    @Test func theMessageIsPercentEncodedAndScrubbed() {
        let scrubber = SecretScrubber()
        scrubber.register(["s3cr3t-value"])
        let error = ProxyError(.credentialUnavailable, "provider said: bad s3cr3t-value 100% é\n")
        let message = GRPCStatus.response(for: error, scrubber: scrubber).headers.first("grpc-message") ?? ""
        #expect(!message.contains("s3cr3t-value"))
        #expect(message.contains("100%25"))
        #expect(message.contains("%C3%A9"))
        #expect(message.hasSuffix("%0A"))
    }
}
