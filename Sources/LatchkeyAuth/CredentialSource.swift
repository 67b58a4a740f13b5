import LatchkeyConfig
import LatchkeyHTTP

/// A header to put on an outbound request. Its value is a secret; `description` is redacted.
public struct InjectedCredential: Sendable, Equatable, CustomStringConvertible, CustomReflectable {
    /// The header name, e.g. `Authorization` or `X-API-Key`.
    public let headerName: String
    /// The full header value, e.g. `Bearer abc` (the scheme prefix is added by the source, in one place).
    public let headerValue: SecretString
    /// `Name: value` as bytes, made once with the credential: every request injects it with one copy
    /// (`HTTPHeaders.replaceOrAdd`), where the two `String`s were made into bytes per request.
    public let field: HTTPHeaders.PreparedField

    public init(headerName: String, headerValue: SecretString) {
        self.headerName = headerName
        self.headerValue = headerValue
        field = HTTPHeaders.PreparedField(name: headerName, value: headerValue.value)
    }

    public var description: String { "\(headerName): <redacted>" }

    /// What `dump` and reflection show: the name, never the value (`field` holds its bytes).
    public var customMirror: Mirror {
        Mirror(self, children: ["headerName": headerName, "headerValue": headerValue], displayStyle: .struct)
    }

    public static func == (lhs: InjectedCredential, rhs: InjectedCredential) -> Bool {
        lhs.headerName == rhs.headerName && lhs.headerValue == rhs.headerValue
    }
}

/// What a route asks of its connection beyond the connection's own settings: per-route OAuth overrides
/// (scopes, audience, extra token parameters). Each distinct key is its own token-cache entry.
public struct CredentialKey: Sendable, Hashable {
    public var scopes: [String]?
    public var audience: String?
    public var tokenParams: [String: String]?
    public init(scopes: [String]? = nil, audience: String? = nil, tokenParams: [String: String]? = nil) {
        self.scopes = scopes
        self.audience = audience
        self.tokenParams = tokenParams
    }
    /// No overrides: the connection's own settings.
    public static let connectionDefault = CredentialKey()
    /// Whether this is `connectionDefault`, without hashing or comparing collections.
    public var isConnectionDefault: Bool { scopes == nil && audience == nil && tokenParams == nil }
}

/// Why a credential could not be produced. Carries what the provider said, never a secret.
public struct CredentialError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// The token endpoint answered with an error (`error` / `error_description`).
        case providerError = "token_provider_error"
        /// The token endpoint could not be reached or answered garbage.
        case endpointUnavailable = "token_endpoint_unavailable"
        /// Waiting for a token took longer than the route allows.
        case timeout = "token_timeout"
        /// The connection needs a person to grant consent (authorization code).
        case needsConsent = "needs_consent"
        /// An authorization-code callback failed: bad or expired `state`, the provider refused consent,
        /// or the code exchange failed (the detail says which).
        case authorizationFailed = "authorization_failed"
        /// Misconfiguration found at run time.
        case misconfigured = "credential_misconfigured"
    }
    public let code: Code
    /// The connection's name.
    public let connection: String
    /// Human detail, e.g. the provider's `error: error_description`. It may quote provider text that echoes
    /// a secret (a client secret in an `error_description`, a `token_url` built from one), so it leaves the
    /// process only through a boundary that scrubs every known secret value (`SecretScrubber`): the log
    /// handler, the admin API (`/connections`, `/readyz`), the app's error body and the CLI's output.
    public let detail: String
    /// Whether waiting and retrying can cure it (issue 10 §2); by default from `code` (transport and
    /// timeout: transient; the rest: permanent), set from the HTTP status by `TokenEndpointCall`.
    public var kind: TokenFailureKind

    public init(_ code: Code, connection: String, detail: String, kind: TokenFailureKind? = nil) {
        self.code = code
        self.connection = connection
        self.detail = detail
        self.kind = kind ?? .default(for: code)
    }

    public var description: String { "\(code.rawValue) (connection \(connection)): \(detail)" }
}

/// Produces the credential for one connection. Implementations: static credentials
/// (basic, bearer, api_key, none), the OAuth token manager and the authorization-code source. Callers
/// never cast to a concrete source: what the admin API, consent endpoints and `check` need is here
/// (`sourceStatus`, `consent`, `providerCheck`).
///
/// Thread-safety: all methods may be called from any queue.
public protocol CredentialSource: AnyObject, Sendable {
    /// The connection name this source serves.
    var connectionName: String { get }

    /// The credential available right now without waiting: always for static credentials, and a cached,
    /// unexpired token for OAuth. `.some(nil)` means "inject nothing" (type none). `nil` means a fetch is needed.
    func currentCredential(for key: CredentialKey) -> InjectedCredential??

    /// Waits for a credential (single flight per key). `completion` runs on an arbitrary queue, exactly once,
    /// within `timeout`.
    func fetchCredential(
        for key: CredentialKey, timeout: Duration,
        completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
    )

    /// The upstream rejected `credential` with 401: forget it so the next lookup fetches anew.
    /// A no-op for static credentials.
    func invalidate(_ credential: InjectedCredential, for key: CredentialKey)

    /// Whether a 401 from the upstream can be cured by a new credential (OAuth tokens: yes; static: no).
    var renewsOnRejection: Bool { get }

    /// What the source holds now, for the admin API, metrics and warm-up (default: `.fixed`). Call from any
    /// queue except the source's own (it may wait on it), so not from a `fetchCredential` completion.
    var sourceStatus: CredentialSourceStatus { get }

    /// The consent operations, for a source whose grant a person gives (authorization code); nil (the
    /// default) for the rest. The admin listener's consent endpoints reach a source only through this.
    var consent: (any ConsentFlow)? { get }

    /// `latchkey check`'s provider test, for a source that can fetch a token unattended (client
    /// credentials, JWT bearer); nil (the default) for the rest.
    var providerCheck: (any ProviderCheck)? { get }
}

extension CredentialSource {
    public var renewsOnRejection: Bool { false }
    public var sourceStatus: CredentialSourceStatus { .fixed }
    public var consent: (any ConsentFlow)? { nil }
    public var providerCheck: (any ProviderCheck)? { nil }
}

/// One HTTP request to a token or discovery endpoint.
public struct TokenEndpointRequest: Sendable {
    /// "POST" for token requests, "GET" for discovery.
    public var method: String
    /// The endpoint; its `requestTarget` (path and query exactly as written) is what is sent.
    public var url: EndpointURL
    /// Header fields, in order (Content-Type, Authorization, token_headers, ...).
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// TLS for the endpoint (CA file, client certificate).
    public var tls: TLSSettings
    public var timeout: Duration

    public init(method: String, url: EndpointURL, headers: [(String, String)], body: [UInt8], tls: TLSSettings, timeout: Duration) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
        self.timeout = timeout
    }
}

/// A whole response from a token or discovery endpoint (these are small; the body is buffered).
public struct TokenEndpointResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]
    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// The HTTP client the token manager talks through; LatchkeyProxy provides the real one over its own
/// sockets and TLS, tests a fake. `completion` runs once, on any queue; transport failures (connect,
/// TLS, timeout) are `.failure` with a human reason that never contains the request body.
public protocol TokenEndpointClient: Sendable {
    func send(_ request: TokenEndpointRequest, completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void)
}

/// A transport-level failure reaching a token endpoint.
public struct NetworkFailure: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var isTimeout: Bool
    public init(reason: String, isTimeout: Bool = false) {
        self.reason = reason
        self.isTimeout = isTimeout
    }
    public var description: String { reason }
}
