import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging

/// The start of a consent: send the operator's browser to `url`.
public struct AuthorizationRedirect: Sendable {
    /// The full authorization request URL (RFC 6749 §4.1.1, RFC 7636 §4.3), for a 302 `Location`.
    public var url: String
    /// The `state` in it (already recorded in the shared `AuthorizationStateStore`).
    public var state: String
}

/// A completed consent. Holds no token.
public struct AuthorizationOutcome: Sendable {
    public var connection: String
    /// The scope granted, when the server said.
    public var scope: String?
    public var accessTokenExpiresIn: Duration?
    /// Whether a refresh token was issued (without one, the connection lasts one access token).
    public var hasRefreshToken: Bool
    /// Set when the refresh token could not be written to `state_dir` (it is kept in memory).
    public var warning: String?
}

extension AuthorizationCodeSource {
    /// Builds the authorization request for a new consent: fresh PKCE (S256) and `state` (recorded for
    /// 10 minutes, bound to this connection). `defaultRedirectURI` is the admin listener's callback,
    /// used unless the connection sets `redirect_uri`. Runs discovery first when the authorization
    /// endpoint comes from `discovery_url`. `completion` runs once, on the queue.
    public func authorizationURL(
        defaultRedirectURI: String, completion: @escaping @Sendable (Result<AuthorizationRedirect, CredentialError>) -> Void
    ) {
        queue.async {
            if let configured = self.settings.authorizeURL {
                return completion(self.makeRedirect(endpoint: configured, defaultRedirectURI: defaultRedirectURI))
            }
            self.engine.resolveDiscovery { result in
                switch result {
                case .failure(let error): completion(.failure(error))
                case .success(let metadata):
                    guard let endpoint = metadata.authorizationEndpoint else {
                        return completion(.failure(CredentialError(.misconfigured, connection: self.connectionName, detail: "discovery document has no authorization_endpoint; set authorize_url")))
                    }
                    if let methods = metadata.codeChallengeMethods, !methods.contains(PKCE.method) {
                        return completion(.failure(CredentialError(.misconfigured, connection: self.connectionName, detail: "authorization server does not support PKCE S256 (code_challenge_methods_supported: \(methods.joined(separator: ", ")))")))
                    }
                    completion(self.makeRedirect(endpoint: endpoint, defaultRedirectURI: defaultRedirectURI))
                }
            }
        }
    }

    private func makeRedirect(endpoint: EndpointURL, defaultRedirectURI: String) -> Result<AuthorizationRedirect, CredentialError> {
        let redirectURI = settings.redirectURI ?? defaultRedirectURI
        let pkce: PKCE
        let state: String
        do throws(CryptoError) {
            pkce = try PKCE()
            state = try pendingAuthorizations.issue(connection: connectionName, pkce: pkce, redirectURI: redirectURI)
        } catch {
            return .failure(CredentialError(.misconfigured, connection: connectionName, detail: "randomness: \(error)"))
        }
        var query: [(String, String)] = [
            ("response_type", "code"), ("client_id", settings.client.clientID), ("redirect_uri", redirectURI),
        ]
        if !settings.client.scopes.isEmpty { query.append(("scope", settings.client.scopes.joined(separator: " "))) }
        query += [("state", state), ("code_challenge", pkce.challenge), ("code_challenge_method", PKCE.method)]
        query += settings.authorizeParams
        // The endpoint's own query is kept as written; ours is appended to it (RFC 6749 §3.1).
        let separator = endpoint.query.map { $0.isEmpty || $0.hasSuffix("&") ? "" : "&" } ?? "?"
        return .success(AuthorizationRedirect(url: endpoint.description + separator + FormURLEncoding.encode(query), state: state))
    }

    /// The callback (`GET /oauth/callback?code&state`): checks and consumes `state`, exchanges `code`
    /// with the PKCE verifier (§4.1.3), writes the refresh token to `state_dir` — replacing any earlier
    /// or corrupt file, this being an explicit connect — and only then publishes the access token.
    /// Failures say exactly what went wrong (`authorization_failed` for the state, the provider's
    /// `error: error_description` for the exchange). `completion` runs once, on the queue.
    public func completeAuthorization(
        code: String, state: String, completion: @escaping @Sendable (Result<AuthorizationOutcome, CredentialError>) -> Void
    ) {
        let pending: PendingAuthorization
        switch pendingAuthorizations.consume(state, connection: connectionName) {
        case .failure(let problem):
            return completion(.failure(CredentialError(.authorizationFailed, connection: connectionName, detail: problem.description)))
        case .success(let found):
            pending = found
        }
        queue.async {
            self.engine.resolveTokenURL { result in
                switch result {
                case .failure(let error): completion(.failure(self.recordConsentFailure(error)))
                case .success(let tokenURL): self.exchange(code: code, pending: pending, tokenURL: tokenURL, completion: completion)
                }
            }
        }
    }

    /// The callback carried `error` instead of `code` (§4.1.2.1, e.g. `access_denied`): consumes `state`
    /// and returns the error to show. Nothing else changes (an existing grant stays).
    public func rejectAuthorization(state: String, error: String, errorDescription: String?) -> CredentialError {
        if case .failure(let problem) = pendingAuthorizations.consume(state, connection: connectionName) {
            return CredentialError(.authorizationFailed, connection: connectionName, detail: problem.description)
        }
        var detail = TokenResponseParser.sanitize(error)
        if let description = errorDescription { detail += ": " + TokenResponseParser.sanitize(description) }
        let failure = CredentialError(.authorizationFailed, connection: connectionName, detail: "the authorization server refused: \(detail)")
        queue.async { self.lastProblem = failure.detail }
        return failure
    }

    private func exchange(
        code: String, pending: PendingAuthorization, tokenURL: EndpointURL,
        completion: @escaping @Sendable (Result<AuthorizationOutcome, CredentialError>) -> Void
    ) {
        var form: [(String, String)] = [
            ("grant_type", "authorization_code"), ("code", code), ("redirect_uri", pending.redirectURI),
            ("code_verifier", pending.pkce.verifier),
        ]
        form += settings.client.tokenParams
        let request: TokenEndpointRequest
        do throws(CredentialError) {
            request = try engine.builder.makeRequest(endpoint: tokenURL, form: form, now: clock.wallClock())
        } catch {
            return completion(.failure(recordConsentFailure(error)))
        }
        let sentAt = clock.now()
        TokenEndpointCall.send(request, client: client, connection: connectionName) { result in
            self.engine.onQueue {
                switch result {
                case .failure(let error):
                    completion(.failure(self.recordConsentFailure(error)))
                case .success(let token):
                    completion(.success(self.connect(with: token, tokenURL: tokenURL, sentAt: sentAt)))
                }
            }
        }
    }

    /// Stores the new grant (disk first), then publishes its access token. On `queue`.
    private func connect(with token: TokenGrant, tokenURL: EndpointURL, sentAt: MonotonicInstant) -> AuthorizationOutcome {
        generation += 1
        lastProblem = nil
        consentedAt = clock.wallClock()
        let replaced = grant?.refreshToken
        var warning: String?
        if let refreshToken = token.refreshToken {
            let stored = StoredGrant(
                refreshToken: refreshToken, scope: token.scope, obtainedAt: clock.wallClock(), tokenURL: tokenURL.description,
                clientID: settings.client.clientID)
            grant = stored
            persist(stored, after: "consent")
            sharedGrants?.save(stored) { _ in }
            warning = lastProblem
        } else {
            grant = nil
            // An earlier file holds a grant this consent replaces; it must not come back after a restart.
            try? store.remove(connection: connectionName)
            warning = "the provider issued no refresh token: the connection lasts until this access token expires"
        }
        state = .connected
        engine.install(token, for: .connectionDefault, sentAt: sentAt)
        sharedGrants?.shareAccessToken(token)
        logger.notice("Connected (consent completed)", metadata: ["latchkey.oauth.scope": "\(token.scope ?? "-")"])
        if let replaced, replaced != token.refreshToken { revokeReplaced(replaced) }
        return AuthorizationOutcome(
            connection: connectionName, scope: token.scope, accessTokenExpiresIn: token.expiresIn,
            hasRefreshToken: token.refreshToken != nil, warning: warning)
    }

    /// A new consent replaces a grant that is still valid at the provider: revoke it (RFC 7009) so no
    /// live credential is left behind. Best effort, in the background; a problem is only logged.
    private func revokeReplaced(_ refreshToken: String) {
        revocationEndpoint { endpoint, tokenURL in
            guard let endpoint else { return }
            self.revoke(refreshToken, at: endpoint, audience: tokenURL) { problem in
                if let problem {
                    self.logger.warning("Could not revoke the grant replaced by the new consent", metadata: [LogKey.error: "\(problem)"])
                } else {
                    self.logger.info("Revoked the grant replaced by the new consent")
                }
            }
        }
    }

    private func recordConsentFailure(_ error: CredentialError) -> CredentialError {
        lastProblem = "consent failed: \(error.detail)"
        logger.warning("Authorization code exchange failed", metadata: [LogKey.error: "\(error.code.rawValue): \(error.detail)"])
        return CredentialError(error.code == .misconfigured ? .misconfigured : .authorizationFailed, connection: connectionName, detail: "code exchange failed: \(error.detail)")
    }
}
