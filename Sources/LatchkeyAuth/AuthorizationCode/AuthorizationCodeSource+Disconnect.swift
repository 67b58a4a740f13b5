import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging

/// What `disconnect` did. Holds no token.
public struct DisconnectOutcome: Sendable {
    /// The refresh token was revoked at the revocation endpoint (RFC 7009 §2.2: HTTP 200).
    public var revoked: Bool
    /// Why revocation did not happen or failed (no endpoint, no token, the endpoint's error); nil when revoked.
    public var revocationProblem: String?
    /// The state file could not be deleted (the grant is forgotten in memory regardless).
    public var stateFileProblem: String?
}

/// One connection's state for `/connections` and metrics. Holds no token.
public struct AuthorizationCodeStatus: Sendable {
    public var connection: String
    public var state: AuthorizationCodeSource.ConnectionState
    /// `needs_reconnect`'s reason, or the last consent / refresh / persistence problem.
    public var reason: String?
    /// Whether a usable access token is cached now.
    public var hasAccessToken: Bool
    /// Unix seconds; nil without a token or without a known expiry.
    public var accessTokenExpiresAt: Double?
    /// Unix seconds when the current refresh token was received.
    public var refreshTokenObtainedAt: Double?
    public var scope: String?
    public var lastError: CredentialError?
    public var renewalInFlight: Bool
    public var counters: OAuthCounters
    /// When the last consent completed in this process, nil before any (rotations do not change it).
    public var consentedAt: Double?
}

extension AuthorizationCodeSource {
    /// `POST /connections/NAME/disconnect`: forgets the grant at once (memory, cached access tokens,
    /// state file — a corrupt one too, as this is an explicit operator action), then revokes the
    /// refresh token (RFC 7009 §2.1, `token_type_hint=refresh_token`, with client authentication) when
    /// a revocation endpoint is configured or discovered. The connection is `needsConsent` afterwards.
    /// `completion` runs once, on the queue.
    public func disconnect(completion: @escaping @Sendable (Result<DisconnectOutcome, CredentialError>) -> Void) {
        queue.async {
            let refreshToken = self.grant?.refreshToken
            self.generation += 1
            self.grant = nil
            self.state = .needsConsent
            self.lastProblem = nil
            self.engine.reset(failingWaitersWith: self.consentError())
            self.sharedGrants?.markDisconnected(at: self.clock.wallClock())
            var fileProblem: String?
            do throws(StateFileError) {
                try self.store.remove(connection: self.connectionName)
            } catch {
                fileProblem = error.reason
                self.logger.error("Could not delete state file", metadata: [LogKey.error: "\(error.reason)"])
            }
            self.logger.notice("Disconnected")
            let stateFileProblem = fileProblem
            guard let refreshToken else {
                return completion(.success(DisconnectOutcome(revoked: false, revocationProblem: "no refresh token to revoke", stateFileProblem: stateFileProblem)))
            }
            self.revocationEndpoint { endpoint, tokenURL in
                guard let endpoint else {
                    return completion(.success(DisconnectOutcome(revoked: false, revocationProblem: "no revocation_url", stateFileProblem: stateFileProblem)))
                }
                self.revoke(refreshToken, at: endpoint, audience: tokenURL) { problem in
                    completion(.success(DisconnectOutcome(revoked: problem == nil, revocationProblem: problem, stateFileProblem: stateFileProblem)))
                }
            }
        }
    }

    /// `revocation_url`, else the discovered `revocation_endpoint`; with the token endpoint (the JWT
    /// audience). On `queue`.
    func revocationEndpoint(_ completion: @escaping @Sendable (EndpointURL?, EndpointURL?) -> Void) {
        if let configured = settings.revocationURL, let tokenURL = settings.client.tokenURL {
            return completion(configured, tokenURL)
        }
        guard settings.client.discoveryURL != nil else { return completion(settings.revocationURL, settings.client.tokenURL) }
        engine.resolveDiscovery { result in
            let metadata = try? result.get()
            completion(self.settings.revocationURL ?? metadata?.revocationEndpoint, self.settings.client.tokenURL ?? metadata?.tokenEndpoint)
        }
    }

    func revoke(_ token: String, at endpoint: EndpointURL, audience: EndpointURL?, completion: @escaping @Sendable (String?) -> Void) {
        let request: TokenEndpointRequest
        do throws(CredentialError) {
            request = try engine.builder.makeRequest(
                endpoint: endpoint, form: [("token", token), ("token_type_hint", "refresh_token")], audience: audience,
                now: clock.wallClock())
        } catch {
            return completion(error.detail)
        }
        client.send(request) { result in
            switch result {
            case .success(let response) where response.status == 200:
                completion(nil)
            case .success(let response):
                if case .failure(let error) = TokenResponseParser.parse(response, connection: self.connectionName) {
                    completion("revocation endpoint answered HTTP \(response.status): \(error.detail)")
                } else {
                    completion("revocation endpoint answered HTTP \(response.status)")
                }
            case .failure(let failure):
                completion("revocation endpoint \(endpoint): \(failure.reason)")
            }
        }
    }

    /// A snapshot for `/connections`. Call from any queue except the source's own (it waits on it).
    public func status() -> AuthorizationCodeStatus {
        dispatchPrecondition(condition: .notOnQueue(queue))
        let token = engine.status(for: .connectionDefault)
        return queue.sync {
            var reason = lastProblem
            if case .needsReconnect(let why) = state { reason = why }
            return AuthorizationCodeStatus(
                connection: connectionName, state: state, reason: reason, hasAccessToken: token.hasToken,
                accessTokenExpiresAt: token.hasToken ? token.expiresAt : nil, refreshTokenObtainedAt: grant?.obtainedAt,
                scope: grant?.scope, lastError: token.lastError, renewalInFlight: token.fetchInFlight, counters: token.counters,
                consentedAt: consentedAt)
        }
    }
}

extension AuthorizationCodeSource: ConsentFlow {
    /// `status()`, for the admin API and metrics.
    public var sourceStatus: CredentialSourceStatus { .authorizationCode(status()) }

    /// The consent endpoints drive this source.
    public var consent: (any ConsentFlow)? { self }
}
