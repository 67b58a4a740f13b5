import Foundation
import LatchkeyHTTP

/// How a failed token request may be retried (issue 10 §2): a request that finds no token waits through
/// transient failures, and fails at once on permanent ones.
public enum TokenFailureKind: Sendable, Equatable {
    /// The endpoint is down, slow or overloaded (network error, timeout, 408, 429, 5xx, garbage): retry
    /// soon with backoff. `retryAfter` is the endpoint's own `Retry-After` (RFC 9110 §10.2.3), a floor for
    /// the next attempt.
    case transient(retryAfter: Duration?)
    /// The provider refused the client, grant or scope (RFC 6749 §5.2 `invalid_client`, `invalid_grant`,
    /// `unauthorized_client`, `invalid_scope`, any other 4xx such as 400/401), or the configuration cannot
    /// work: retrying in a loop cannot help. Fail at once; retry only on the slow background schedule.
    case permanent

    /// RFC 6749 §5.2 error codes that mean the request itself was refused. A provider that sends one of
    /// these inside a 200 is refusing just the same.
    static let refusedCodes: Set<String> = [
        "invalid_client", "invalid_grant", "unauthorized_client", "invalid_scope", "invalid_request",
        "unsupported_grant_type",
    ]

    /// The default for an error made without a response at hand: transport problems and timeouts are
    /// transient, everything else (provider refusals, misconfiguration, consent) permanent.
    static func `default`(for code: CredentialError.Code) -> TokenFailureKind {
        switch code {
        case .endpointUnavailable, .timeout: .transient(retryAfter: nil)
        case .providerError, .misconfigured, .needsConsent, .authorizationFailed: .permanent
        }
    }

    /// Classifies a token endpoint's answer that `TokenResponseParser` turned into `error`.
    ///
    /// - 408, 429 and 5xx are transient whatever the body says (a 503 with `temporarily_unavailable` is
    ///   the common case); `Retry-After` is honoured on 429 (RFC 6585 §4) and 503 (RFC 9110 §15.6.4).
    /// - Any other non-2xx status is permanent: 400 and 401 are how RFC 6749 §5.2 refuses, and a 3xx or
    ///   404 means a wrong URL, which does not fix itself.
    /// - A 2xx carrying an `error` is permanent for the §5.2 refusal codes and transient otherwise
    ///   (`temporarily_unavailable`, `server_error`); a 2xx that is not a usable token response (garbage,
    ///   no `access_token`) is transient.
    public static func classify(
        status: Int, headers: [(String, String)], error: CredentialError, now: Date = Date()
    ) -> TokenFailureKind {
        if status == 408 || status == 429 || (500...599).contains(status) {
            guard RetryAfter.applies(toStatus: status),
                let value = headers.first(where: { $0.0.lowercased() == "retry-after" })?.1
            else { return .transient(retryAfter: nil) }
            return .transient(retryAfter: RetryAfter.parse(value, now: now))
        }
        if !(200...299).contains(status) { return .permanent }
        guard error.code == .providerError else { return .transient(retryAfter: nil) }
        let code = error.detail.prefix { $0 != ":" }
        if refusedCodes.contains(String(code)) { return .permanent }
        // A non-Bearer token_type will not change on a retry either.
        if error.detail.hasPrefix("unsupported token_type") { return .permanent }
        return .transient(retryAfter: nil)
    }

    /// True for `.permanent`.
    public var isPermanent: Bool { self == .permanent }
}
