import Foundation
import LatchkeyConfig
import LatchkeyHTTP

/// Authorization server metadata discovery (RFC 8414, OpenID Connect Discovery 1.0).
///
/// `discovery_url` is either a full `.well-known` URL (used as is) or an issuer. For an issuer the
/// candidates are, in order: RFC 8414 §3.1 `/.well-known/oauth-authorization-server` inserted before
/// the issuer's path; OIDC Discovery §4 `/.well-known/openid-configuration` appended to the issuer;
/// and RFC 8414 §5's compatibility form with `openid-configuration` inserted before the path.
public struct Discovery: Sendable {
    /// What discovery found.
    public struct Metadata: Sendable, Equatable {
        /// The token endpoint to use: `token_endpoint`, or for an RFC 8705 client its
        /// `mtls_endpoint_aliases.token_endpoint` when published (RFC 8705 §5).
        public var tokenEndpoint: EndpointURL
        /// `token_endpoint_auth_methods_supported`; RFC 8414 §2: absent means `client_secret_basic`.
        public var authMethodsSupported: [String]
        /// `authorization_endpoint` as published (may carry a query).
        public var authorizationEndpoint: EndpointURL?
        /// `revocation_endpoint` (RFC 7009, RFC 8414 §2).
        public var revocationEndpoint: EndpointURL?
        /// `code_challenge_methods_supported` (RFC 8414 §2); nil when not published.
        public var codeChallengeMethods: [String]?
        /// `issuer` as published (checked against the fetched URL by `run`).
        public var issuer: String?
        /// `scopes_supported` (RFC 8414 §2); nil when not published.
        public var scopesSupported: [String]?
        /// `token_endpoint` as published, when the mTLS alias replaced it in `tokenEndpoint`.
        public var plainTokenEndpoint: EndpointURL?
    }

    public var connectionName: String
    public var settings: OAuthClientSettings

    public init(connectionName: String, settings: OAuthClientSettings) {
        self.connectionName = connectionName
        self.settings = settings
    }

    /// The metadata URLs to try for `url`, in order. A URL whose path contains `/.well-known/` is the document
    /// itself, used exactly as written (a trailing '/' and a query kept). For an issuer, the well-known names
    /// are placed around the issuer's path (a trailing '/' on it ignored, RFC 8414 §3.1) and its query, if
    /// any, is kept on every candidate.
    public static func candidateURLs(for url: EndpointURL) -> [EndpointURL] {
        if url.path.contains("/.well-known/") { return [url] }
        let path = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        func with(_ p: String) -> EndpointURL {
            EndpointURL(scheme: url.scheme, host: url.host, port: url.port, path: p, query: url.query)
        }
        var result = [
            with("/.well-known/oauth-authorization-server" + path), with(path + "/.well-known/openid-configuration"),
        ]
        if !path.isEmpty { result.append(with("/.well-known/openid-configuration" + path)) }
        return result
    }

    /// Parses a metadata document and checks that `clientAuth` is supported (unless `checkAuthMethod`
    /// is false: a JWT bearer grant without client authentication) and, when `fetchedFrom` is given, that
    /// its `issuer` is the one that URL was derived from (`checkIssuer`).
    public static func parseMetadata(
        _ body: [UInt8], clientAuth: OAuthClientAuthMethod, connection: String, fetchedFrom: EndpointURL? = nil,
        checkAuthMethod: Bool = true
    ) -> Result<Metadata, CredentialError> {
        guard let json = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            return .failure(CredentialError(.endpointUnavailable, connection: connection, detail: "discovery document is not a JSON object"))
        }
        guard let text = json["token_endpoint"] as? String else {
            return .failure(CredentialError(.misconfigured, connection: connection, detail: "discovery document has no token_endpoint"))
        }
        let endpoint: EndpointURL
        do throws(EndpointURL.ParseError) {
            endpoint = try EndpointURL.parse(text)
        } catch {
            // The parser's message never quotes the URL.
            return .failure(CredentialError(.misconfigured, connection: connection, detail: "discovery document's token_endpoint is unusable: \(error.message)"))
        }
        let issuer = json["issuer"] as? String
        if let fetchedFrom {
            if let problem = issuerProblem(issuer, fetchedFrom: fetchedFrom) {
                return .failure(CredentialError(.misconfigured, connection: connection, detail: problem))
            }
        }
        let methods = (json["token_endpoint_auth_methods_supported"] as? [String]) ?? ["client_secret_basic"]
        guard !checkAuthMethod || methods.contains(clientAuth.rawValue) else {
            return .failure(
                CredentialError(
                    .misconfigured, connection: connection,
                    detail: "authorization server does not support client_auth \(clientAuth.rawValue) (supported: \(methods.joined(separator: ", ")))"))
        }
        var metadata = Metadata(
            tokenEndpoint: endpoint, authMethodsSupported: methods,
            authorizationEndpoint: (json["authorization_endpoint"] as? String).flatMap(parseURL),
            revocationEndpoint: (json["revocation_endpoint"] as? String).flatMap(parseURL),
            codeChallengeMethods: json["code_challenge_methods_supported"] as? [String], issuer: issuer,
            scopesSupported: json["scopes_supported"] as? [String])
        // RFC 8705 §5: a client using mutual TLS uses the aliases where the server publishes them.
        if clientAuth.isMutualTLS, let aliases = json["mtls_endpoint_aliases"] as? [String: Any] {
            if let alias = (aliases["token_endpoint"] as? String).flatMap(parseURL) {
                metadata.plainTokenEndpoint = endpoint
                metadata.tokenEndpoint = alias
            }
            if let alias = (aliases["revocation_endpoint"] as? String).flatMap(parseURL) { metadata.revocationEndpoint = alias }
        }
        return .success(metadata)
    }

    /// RFC 8414 §3.3 and OIDC Discovery §4.3: the document's `issuer` must be the issuer the well-known
    /// URL was built from, or the document may be describing (or impersonating) another server. Compared
    /// by scheme, host (case-insensitively), port and path, a trailing '/' on either side ignored (Auth0
    /// publishes `https://tenant/`). A document URL of no well-known form is only checked for having an
    /// issuer on the same origin. Returns the problem, or nil when the issuer matches.
    public static func issuerProblem(_ issuer: String?, fetchedFrom url: EndpointURL) -> String? {
        guard let issuer, let parsed = parseURL(issuer) else {
            return "discovery document at \(url) has no valid issuer (RFC 8414 §3.3)"
        }
        func trimmed(_ path: String) -> String { path.hasSuffix("/") ? String(path.dropLast()) : path }
        let expectedPath = expectedIssuerPath(for: url)
        let sameOrigin = parsed.scheme == url.scheme && parsed.host.lowercased() == url.host.lowercased() && parsed.port == url.port
        if sameOrigin && (expectedPath == nil || trimmed(parsed.path) == expectedPath) && parsed.query == nil { return nil }
        var expected = EndpointURL(scheme: url.scheme, host: url.host, port: url.port, path: expectedPath ?? "").description
        if expectedPath == nil { expected += "/..." }
        return "discovery document's issuer \(issuer) does not match \(expected), the issuer its URL \(url) was derived from "
            + "(RFC 8414 §3.3); check discovery_url"
    }

    /// The issuer path a metadata URL was built from (without a trailing '/'), or nil when the URL has
    /// no well-known form. RFC 8414 §3.1 inserts the well-known name before the issuer's path; OIDC
    /// Discovery §4 appends it; a trailing '/' after the name (django-oauth-toolkit) is allowed.
    static func expectedIssuerPath(for url: EndpointURL) -> String? {
        let path = url.path.hasSuffix("/") ? String(url.path.dropLast()) : url.path
        for name in ["/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"] {
            if path.hasPrefix(name) { return String(path.dropFirst(name.count)) }
            if path.hasSuffix(name) { return String(path.dropLast(name.count)) }
        }
        return nil
    }

    /// An endpoint URL read from a metadata document, exactly as the provider wrote it; nil when it is not
    /// a valid absolute http(s) URL (`EndpointURL.parse(_:)`, the same parser as for config).
    public static func parseURL(_ text: String) -> EndpointURL? {
        try? EndpointURL.parse(text)
    }

    /// Tries each candidate in turn (a 404 or an unreachable URL moves on), then reports the first
    /// document found or an error naming what was tried. `completion` runs once, on any queue.
    public func run(client: any TokenEndpointClient, completion: @escaping @Sendable (Result<Metadata, CredentialError>) -> Void) {
        guard let url = settings.discoveryURL else {
            completion(.failure(CredentialError(.misconfigured, connection: connectionName, detail: "neither token_url nor discovery_url is set")))
            return
        }
        let candidates = Self.candidateURLs(for: url)
        attempt(candidates[...], client: client, failures: [], completion: completion)
    }

    private func attempt(
        _ remaining: ArraySlice<EndpointURL>, client: any TokenEndpointClient, failures: [String],
        completion: @escaping @Sendable (Result<Metadata, CredentialError>) -> Void
    ) {
        guard let url = remaining.first else {
            let detail = "discovery failed: " + failures.joined(separator: "; ")
            completion(.failure(CredentialError(.endpointUnavailable, connection: connectionName, detail: detail)))
            return
        }
        let request = TokenEndpointRequest(
            method: "GET", url: url, headers: [("Accept", "application/json")], body: [], tls: settings.tls,
            timeout: .milliseconds(settings.timeoutMs))
        let connection = connectionName
        let clientAuth = settings.clientAuth
        // A JWT bearer grant without client authentication has no method to find in the list.
        let checkAuthMethod = !(settings.jwtBearer != nil && clientAuth == .none)
        client.send(request) { result in
            switch result {
            case .success(let response) where (200..<300).contains(response.status):
                completion(
                    Self.parseMetadata(
                        response.body, clientAuth: clientAuth, connection: connection, fetchedFrom: url,
                        checkAuthMethod: checkAuthMethod))
            case .success(let response):
                self.attempt(remaining.dropFirst(), client: client, failures: failures + ["\(url): HTTP \(response.status)"], completion: completion)
            case .failure(let failure):
                self.attempt(remaining.dropFirst(), client: client, failures: failures + ["\(url): \(failure.reason)"], completion: completion)
            }
        }
    }
}
