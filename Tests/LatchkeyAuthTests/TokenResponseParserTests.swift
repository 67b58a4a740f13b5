import LatchkeyAuth
import Testing

@Suite struct TokenResponseParserTests {
    private func parse(_ status: Int, _ json: [String: Any]) -> Result<TokenGrant, CredentialError> {
        TokenResponseParser.parse(FakeTokenClient.jsonResponse(status, json), connection: "c")
    }

    @Test func numericAndStringExpiresIn() throws {
        let number = try parse(200, ["access_token": "t", "token_type": "Bearer", "expires_in": 3600]).get()
        #expect(number.accessToken == "t" && number.expiresIn == .seconds(3600))
        let text = try parse(200, ["access_token": "t", "token_type": "bearer", "expires_in": "120"]).get()
        #expect(text.expiresIn == .seconds(120))
        let upper = try parse(200, ["access_token": "t", "token_type": "BEARER", "expires_in": 1.5]).get()
        #expect(upper.expiresIn == .milliseconds(1500))
    }

    @Test func missingExpiresInMeansNoKnownExpiry() throws {
        let grant = try parse(200, ["access_token": "t", "token_type": "Bearer"]).get()
        #expect(grant.expiresIn == nil)
        #expect(!grant.description.contains("t,"))
    }

    @Test func nonBearerTokenTypeIsAClearError() {
        guard case .failure(let error) = parse(200, ["access_token": "t", "token_type": "mac", "expires_in": 60]) else {
            Issue.record("expected failure")
            return
        }
        #expect(error.detail.contains("unsupported token_type mac"))
        #expect(!error.description.contains("\"t\""))
    }

    /// Issue 9: a lifetime no integer holds is clamped, not trapped on.
    @Test func hugeExpiresInIsClamped() throws {
        let limit = Duration.milliseconds(Int64(TokenResponseParser.maximumLifetimeSeconds * 1000))
        for value: Any in [1e300, "1e300", Double(Int64.max), "9223372036854775807000"] {
            let grant = try parse(200, ["access_token": "t", "token_type": "Bearer", "expires_in": value]).get()
            #expect(grant.expiresIn == limit, "\(value)")
        }
    }

    @Test func providerErrorCarriesErrorAndDescription() {
        guard case .failure(let error) = parse(401, ["error": "invalid_client", "error_description": "Client authentication failed"])
        else { return #expect(Bool(false)) }
        #expect(error.code == .providerError)
        #expect(error.detail == "invalid_client: Client authentication failed")
    }

    @Test func nonJSONErrorAndMissingToken() {
        let html = TokenResponseParser.parse(TokenEndpointResponse(status: 502, headers: [], body: Array("<html>".utf8)), connection: "c")
        guard case .failure(let e1) = html else { return #expect(Bool(false)) }
        #expect(e1.code == .endpointUnavailable && e1.detail.contains("HTTP 502"))
        guard case .failure(let e2) = parse(200, ["token_type": "Bearer"]) else { return #expect(Bool(false)) }
        #expect(e2.detail.contains("no access_token"))
        guard case .failure(let e3) = parse(200, ["access_token": "t", "expires_in": "soon"]) else { return #expect(Bool(false)) }
        #expect(e3.detail.contains("expires_in"))
    }
}
