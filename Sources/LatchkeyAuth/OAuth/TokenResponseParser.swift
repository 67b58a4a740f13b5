import Foundation

/// A successful token response (RFC 6749 §5.1). `accessToken` is a secret: `description` is redacted.
public struct TokenGrant: Sendable, Equatable, CustomStringConvertible {
    public var accessToken: String
    /// nil when the server sent no `expires_in`: the token is reused until an upstream 401.
    public var expiresIn: Duration?
    /// `scope` as granted, when the server says.
    public var scope: String?
    /// `refresh_token` (§5.1, §6), when the server issued one (authorization code; a rotated one on
    /// refresh). A secret like the access token.
    public var refreshToken: String?

    public init(accessToken: String, expiresIn: Duration?, scope: String? = nil, refreshToken: String? = nil) {
        self.accessToken = accessToken
        self.expiresIn = expiresIn
        self.scope = scope
        self.refreshToken = refreshToken
    }

    public var description: String { "TokenGrant(<redacted>, expiresIn: \(expiresIn.map { "\($0)" } ?? "none"))" }
}

/// Parses token endpoint responses (RFC 6749 §5.1 success, §5.2 error). Off the hot path, so
/// `JSONSerialization` is fine. Error details carry the provider's `error` and `error_description`
/// and never the response body (which could hold a token).
public enum TokenResponseParser {
    public static func parse(_ response: TokenEndpointResponse, connection: String) -> Result<TokenGrant, CredentialError> {
        let json = (try? JSONSerialization.jsonObject(with: Data(response.body))) as? [String: Any]
        if let json, let code = json["error"] as? String {
            // §5.2; also tolerated inside a 200, which some providers send.
            var detail = sanitize(code)
            if let description = json["error_description"] as? String { detail += ": " + sanitize(description) }
            return .failure(CredentialError(.providerError, connection: connection, detail: detail))
        }
        guard (200..<300).contains(response.status) else {
            return .failure(
                CredentialError(.endpointUnavailable, connection: connection, detail: "token endpoint answered HTTP \(response.status)"))
        }
        guard let json else {
            return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "token response is not a JSON object"))
        }
        guard let token = json["access_token"] as? String, !token.isEmpty else {
            return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "token response has no access_token"))
        }
        // RFC 6749 §7.1 / RFC 6750 §4: only Bearer is usable here; the type is case-insensitive. A missing
        // token_type (a common provider deviation) is taken as Bearer.
        if let type = json["token_type"] {
            guard let type = type as? String, type.lowercased() == "bearer" else {
                let shown = (type as? String).map(sanitize) ?? "a non-string"
                return .failure(
                    CredentialError(.providerError, connection: connection, detail: "unsupported token_type \(shown) (only Bearer is supported)"))
            }
        }
        var expiresIn: Duration?
        switch json["expires_in"] {
        case nil, is NSNull: expiresIn = nil
        case let number as NSNumber:
            guard number.doubleValue.isFinite else {
                return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "expires_in is not a number"))
            }
            expiresIn = Self.lifetime(seconds: number.doubleValue)
        case let text as String:
            guard let seconds = Double(text.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds >= 0 else {
                return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "expires_in is not a number"))
            }
            expiresIn = Self.lifetime(seconds: seconds)
        default:
            return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "expires_in is not a number"))
        }
        if let e = expiresIn, e < .zero { expiresIn = .zero }
        let refreshToken = (json["refresh_token"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        return .success(TokenGrant(accessToken: token, expiresIn: expiresIn, scope: json["scope"] as? String, refreshToken: refreshToken))
    }

    /// Longest token lifetime taken from `expires_in` (10 years); a larger value (1e300) is clamped, not
    /// converted into an integer it does not fit.
    public static let maximumLifetimeSeconds = 10 * 366 * 86_400.0

    static func lifetime(seconds: Double) -> Duration {
        .milliseconds(Int64((min(max(seconds, 0), maximumLifetimeSeconds) * 1000).rounded(.down)))
    }

    /// Provider text goes into logs and error responses: keep it short and printable.
    static func sanitize(_ text: String) -> String {
        let printable = text.unicodeScalars.map { $0.value >= 0x20 && $0.value != 0x7F ? Character($0) : " " }
        return String(String(printable).prefix(300))
    }
}
