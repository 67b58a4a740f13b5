import LatchkeyAuth

extension ExchangeStateMachine {
    /// After more than one attempt (or a redirect) the detail is the whole story, one entry per attempt.
    func errorWithHistory(_ error: ProxyError) -> ProxyError {
        guard attemptNumber > 1 || redirectsFollowed > 0 else { return error }
        return ProxyError(
            error.code, history.joined(separator: "; "), status: error.status, route: error.route,
            connection: error.connection)
    }

    /// The client's answer when the upstream attempt failed.
    func proxyError(for failure: UpstreamFailure) -> ProxyError {
        let target = "\(plan.endpoint.scheme)://\(plan.endpoint.authority)"
        let (code, detail): (ProxyError.Code, String)
        switch failure {
        case .network(let error):
            switch error.code {
            case .tlsFailed: (code, detail) = (.upstreamTLSFailed, "TLS with \(target) failed: \(error.detail)")
            case .connectTimeout: (code, detail) = (.upstreamConnectTimeout, error.detail)
            case .resolveFailed, .connectFailed: (code, detail) = (.upstreamConnectFailed, error.detail)
            case .destinationRefused: (code, detail) = (.destinationRefused, error.detail)
            case .reset, .ioFailed: (code, detail) = (.upstreamClosed, "\(target): \(error.detail)")
            }
        case .protocolError(let error):
            (code, detail) = (.upstreamProtocolError, "invalid response from \(target): \(error)")
        case .closed:
            (code, detail) = (.upstreamClosed, "\(target) closed the connection before a complete response")
        case .http2(let error):
            (code, detail) = (.upstreamProtocolError, "HTTP/2 with \(target): \(error.code): \(error.detail)")
        }
        return ProxyError(code, detail, route: plan.routeName, connection: plan.connectionName)
    }

    /// The client's answer when the route's credential could not be had.
    func credentialError(_ error: CredentialError) -> ProxyError {
        let code: ProxyError.Code
        switch error.code {
        case .timeout: code = .credentialTimeout
        case .needsConsent: code = .needsConsent
        default: code = .credentialUnavailable
        }
        return ProxyError(code, error.detail, route: plan.routeName, connection: plan.connectionName)
    }
}
