import LatchkeyConfig

/// One round trip to a token endpoint: send, then parse (RFC 6749 §5.1/§5.2) or map the transport
/// failure, and classify a failure as transient or permanent (`TokenFailureKind`) — shared by the client-credentials, authorization-code and refresh grants.
enum TokenEndpointCall {
    /// `completion` runs once, on the client's queue.
    static func send(
        _ request: TokenEndpointRequest, client: any TokenEndpointClient, connection: String,
        completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void
    ) {
        let url = request.url
        client.send(request) { response in
            switch response {
            case .success(let response):
                completion(
                    TokenResponseParser.parse(response, connection: connection).mapError { error in
                        var classified = error
                        classified.kind = TokenFailureKind.classify(status: response.status, headers: response.headers, error: error)
                        return classified
                    })
            case .failure(let failure):
                let code: CredentialError.Code = failure.isTimeout ? .timeout : .endpointUnavailable
                completion(.failure(CredentialError(code, connection: connection, detail: "token endpoint \(url): \(failure.reason)")))
            }
        }
    }
}
