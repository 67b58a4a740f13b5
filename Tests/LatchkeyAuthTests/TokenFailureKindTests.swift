import Foundation
import LatchkeyConfig
import LatchkeyHTTP
import Testing

@testable import LatchkeyAuth

/// Which token endpoint failures a waiting request rides out (issue 10 §2).
@Suite struct TokenFailureKindTests {
    static func kind(_ status: Int, _ body: String, headers: [(String, String)] = []) -> TokenFailureKind {
        let response = TokenEndpointResponse(status: status, headers: headers, body: Array(body.utf8))
        guard case .failure(let error) = TokenResponseParser.parse(response, connection: "c") else {
            Issue.record("parsed as a token")
            return .permanent
        }
        return TokenFailureKind.classify(
            status: status, headers: headers, error: error, now: Date(timeIntervalSince1970: 1e9))
    }

    @Test func busyAndBrokenEndpointsAreTransient() {
        #expect(Self.kind(503, #"{"error":"temporarily_unavailable"}"#) == .transient(retryAfter: nil))
        #expect(Self.kind(500, "<html>oops</html>") == .transient(retryAfter: nil))
        #expect(Self.kind(502, "") == .transient(retryAfter: nil))
        #expect(Self.kind(408, "") == .transient(retryAfter: nil))
        // A 5xx is transient whatever its body claims.
        #expect(Self.kind(500, #"{"error":"invalid_client"}"#) == .transient(retryAfter: nil))
        // A 200 that is not a usable token response.
        #expect(Self.kind(200, "not json") == .transient(retryAfter: nil))
        #expect(Self.kind(200, #"{"error":"temporarily_unavailable"}"#) == .transient(retryAfter: nil))
    }

    @Test func retryAfterIsReadOn429And503Only() {
        #expect(Self.kind(503, "", headers: [("Retry-After", "1")]) == .transient(retryAfter: .seconds(1)))
        #expect(
            Self.kind(429, #"{"error":"slow_down"}"#, headers: [("retry-after", "7")])
                == .transient(retryAfter: .seconds(7)))
        let date = "Sun, 09 Sep 2001 01:46:50 GMT"  // 10 s after `now`
        #expect(Self.kind(503, "", headers: [("Retry-After", date)]) == .transient(retryAfter: .seconds(10)))
        #expect(Self.kind(500, "", headers: [("Retry-After", "9")]) == .transient(retryAfter: nil))
        #expect(Self.kind(503, "", headers: [("Retry-After", "soon")]) == .transient(retryAfter: nil))
    }

    @Test func refusalsArePermanent() {
        for code in ["invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope"] {
            #expect(Self.kind(400, #"{"error":"\#(code)","error_description":"no"}"#) == .permanent)
            #expect(Self.kind(200, #"{"error":"\#(code)"}"#) == .permanent)  // an error inside a 200
        }
        #expect(Self.kind(401, #"{"error":"invalid_client"}"#) == .permanent)
        #expect(Self.kind(400, "bad request") == .permanent)
        #expect(Self.kind(401, "") == .permanent)
        #expect(Self.kind(301, "") == .permanent)  // a wrong URL does not fix itself
        #expect(Self.kind(404, "") == .permanent)
        #expect(Self.kind(200, #"{"access_token":"x","token_type":"mac"}"#) == .permanent)
    }

    @Test func errorsMadeWithoutAResponseDefaultByCode() {
        #expect(
            CredentialError(.endpointUnavailable, connection: "c", detail: "refused").kind
                == .transient(retryAfter: nil))
        #expect(CredentialError(.timeout, connection: "c", detail: "slow").kind == .transient(retryAfter: nil))
        #expect(CredentialError(.misconfigured, connection: "c", detail: "key").kind == .permanent)
        #expect(CredentialError(.needsConsent, connection: "c", detail: "consent").kind == .permanent)
    }

    @Test func networkFailuresThroughTheCallAreTransient() async {
        let client = FakeTokenClient(responder: { _, _ in .failure(NetworkFailure(reason: "connection refused")) })
        let request = TokenEndpointRequest(
            method: "POST", url: EndpointURL(scheme: "https", host: "idp", port: 443, path: "/t"), headers: [],
            body: [],
            tls: TLSSettings(), timeout: .seconds(1))
        let result = await withCheckedContinuation { c in
            TokenEndpointCall.send(request, client: client, connection: "c") { c.resume(returning: $0) }
        }
        guard case .failure(let error) = result else { return #expect(Bool(false)) }
        #expect(error.kind == .transient(retryAfter: nil))
        client.setResponder { _, _ in
            .success(TokenEndpointResponse(status: 503, headers: [("Retry-After", "3")], body: []))
        }
        let busy = await withCheckedContinuation { c in
            TokenEndpointCall.send(request, client: client, connection: "c") { c.resume(returning: $0) }
        }
        guard case .failure(let error) = busy else { return #expect(Bool(false)) }
        #expect(error.kind == .transient(retryAfter: .seconds(3)))
    }
}
