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
        public var tokenEndpoint: EndpointURL
        /// `token_endpoint_auth_methods_supported`; RFC 8414 §2: absent means `client_secret_basic`.
        public var authMethodsSupported: [String]
        /// `authorization_endpoint` as published (may carry a query).
        public var authorizationEndpoint: EndpointURL?
        /// `revocation_endpoint` (RFC 7009, RFC 8414 §2).
        public var revocationEndpoint: EndpointURL?
        /// `code_challenge_methods_supported` (RFC 8414 §2); nil when not published.
        public var codeChallengeMethods: [String]?
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

    /// Parses a metadata document and checks that `clientAuth` is supported.
    public static func parseMetadata(_ body: [UInt8], clientAuth: OAuthClientAuthMethod, connection: String)
        -> Result<Metadata, CredentialError>
    {
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
        let methods = (json["token_endpoint_auth_methods_supported"] as? [String]) ?? ["client_secret_basic"]
        guard methods.contains(clientAuth.rawValue) else {
            return .failure(
                CredentialError(
                    .misconfigured, connection: connection,
                    detail: "authorization server does not support client_auth \(clientAuth.rawValue) (supported: \(methods.joined(separator: ", ")))"))
        }
        return .success(
            Metadata(
                tokenEndpoint: endpoint, authMethodsSupported: methods,
                authorizationEndpoint: (json["authorization_endpoint"] as? String).flatMap(parseURL),
                revocationEndpoint: (json["revocation_endpoint"] as? String).flatMap(parseURL),
                codeChallengeMethods: json["code_challenge_methods_supported"] as? [String]))
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
        client.send(request) { result in
            switch result {
            case .success(let response) where (200..<300).contains(response.status):
                completion(Self.parseMetadata(response.body, clientAuth: clientAuth, connection: connection))
            case .success(let response):
                self.attempt(remaining.dropFirst(), client: client, failures: failures + ["\(url): HTTP \(response.status)"], completion: completion)
            case .failure(let failure):
                self.attempt(remaining.dropFirst(), client: client, failures: failures + ["\(url): \(failure.reason)"], completion: completion)
            }
        }
    }
}
