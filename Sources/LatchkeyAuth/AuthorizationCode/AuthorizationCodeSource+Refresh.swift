import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import Logging

// The refresh_token grant (RFC 6749 §6) behind the token manager's renewals. Runs on `queue`.
extension AuthorizationCodeSource {
    /// One renewal: POST grant_type=refresh_token to `refresh_url` (default: the token endpoint), then
    /// `handleRefresh` persists a rotated refresh token before the manager publishes the access token.
    func refresh(tokenURL: EndpointURL, completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) {
        dispatchPrecondition(condition: .onQueue(queue))
        guard let shared = sharedGrants else { return sendRefresh(tokenURL: tokenURL, completion: completion) }
        // Under the shared lease: the store's grant is the newest (another replica may have rotated it).
        syncGrant(from: shared) { self.sendRefresh(tokenURL: tokenURL, completion: completion) }
    }

    private func sendRefresh(tokenURL: EndpointURL, completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void) {
        guard state == .connected, let grant else {
            if state == .connected {
                // Consent without a refresh token: the access token lasted as long as it could.
                state = .needsReconnect(reason: "the access token expired and the provider issued no refresh token (ask for offline access)")
            }
            return completion(.failure(consentError()))
        }
        var form: [(String, String)] = [("grant_type", "refresh_token"), ("refresh_token", grant.refreshToken)]
        form += settings.client.tokenParams
        let request: TokenEndpointRequest
        do throws(CredentialError) {
            request = try engine.builder.makeRequest(
                endpoint: settings.refreshURL ?? tokenURL, form: form, audience: tokenURL, now: clock.wallClock())
        } catch {
            return completion(.failure(error))
        }
        let generation = self.generation
        TokenEndpointCall.send(request, client: client, connection: connectionName) { result in
            self.engine.onQueue { self.handleRefresh(result, generation: generation, tokenURL: tokenURL, completion: completion) }
        }
    }

    private func handleRefresh(
        _ result: Result<TokenGrant, CredentialError>, generation: UInt64, tokenURL: EndpointURL,
        completion: @escaping @Sendable (Result<TokenGrant, CredentialError>) -> Void
    ) {
        guard generation == self.generation else {
            // A consent or disconnect happened meanwhile: this result belongs to a grant that is gone.
            return completion(result.flatMap { _ in .failure(CredentialError(.endpointUnavailable, connection: connectionName, detail: "superseded by a new consent")) })
        }
        switch result {
        case .success(let token):
            if let rotated = token.refreshToken, rotated != grant?.refreshToken {
                // Rotation: the new refresh token goes to disk before its access token is used.
                let stored = StoredGrant(
                    refreshToken: rotated, scope: token.scope ?? grant?.scope, obtainedAt: clock.wallClock(),
                    tokenURL: tokenURL.description, clientID: settings.client.clientID)
                grant = stored
                persist(stored, after: "refresh-token rotation")
                if let shared = sharedGrants {
                    // Into the store (still under the lease) before the new access token is used.
                    return shared.save(stored) { written in
                        self.engine.onQueue {
                            if !written {
                                self.logger.warning("Could not write the rotated refresh token to the shared store; kept locally, retrying")
                                self.retrySharedSave(stored, generation: self.generation)
                            }
                            completion(.success(token))
                        }
                    }
                }
            }
            completion(.success(token))
        case .failure(let error) where Self.isInvalidGrant(error):
            state = .needsReconnect(
                reason: "the provider rejected the refresh token (\(error.detail)): it was revoked, expired or replaced; connect again")
            lastProblem = error.detail
            rejectedGrant = grant.map { Digest.sha256(Array($0.refreshToken.utf8)) }  // never taken from the store again
            grant = nil  // the file stays: it is replaced by the next consent or removed by disconnect
            logger.error("Refresh token rejected; the connection needs to be reconnected", metadata: [LogKey.error: "\(error.detail)"])
            completion(.failure(consentError()))
        case .failure(let error):
            lastProblem = "\(error.code.rawValue): \(error.detail)"
            completion(.failure(error))
        }
    }

    /// Writes `stored`; a failed write is logged and kept in status, and the token stays in memory (the
    /// next rotation or consent writes again).
    func persist(_ stored: StoredGrant, after event: String) {
        do throws(StateFileError) {
            try store.save(stored, connection: connectionName)
            logger.debug("State file written", metadata: [LogKey.stateFile: "\(store.path(for: connectionName))"])
        } catch {
            lastProblem = "could not write state file after \(event): \(error.reason)"
            logger.error("Could not write state file", metadata: [LogKey.error: "\(error.reason)"])
        }
    }

    /// RFC 6749 §5.2 `invalid_grant`: the refresh token is invalid, expired, revoked or was issued to
    /// another client — no retry will help.
    static func isInvalidGrant(_ error: CredentialError) -> Bool {
        error.code == .providerError && (error.detail == "invalid_grant" || error.detail.hasPrefix("invalid_grant:"))
    }
}
