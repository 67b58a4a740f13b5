import LatchkeyHTTP

/// A secret that can be read again, so a rotated secret file is picked up without a restart.
///
/// `current()` re-resolves the original template (`{{secret:NAME}}`, `${ENV}`) and re-reads secret
/// files; it falls back to the value seen at load time when re-reading fails.
public struct ReloadableSecret: Sendable, CustomStringConvertible {
    /// The value resolved when the config was loaded.
    public let initial: SecretString
    private let reload: @Sendable () -> SecretString?

    public init(initial: SecretString, reload: @escaping @Sendable () -> SecretString? = { nil }) {
        self.initial = initial
        self.reload = reload
    }

    /// The secret as it is now (re-read), or the load-time value.
    public func current() -> SecretString { reload() ?? initial }

    public var description: String { "<redacted>" }
}

/// How an OAuth client authenticates at the token endpoint.
public enum OAuthClientAuthMethod: String, Sendable, CaseIterable {
    /// RFC 6749 §2.3.1: HTTP Basic with form-urlencoded id and secret (default).
    case clientSecretBasic = "client_secret_basic"
    /// RFC 6749 §2.3.1: `client_id` and `client_secret` in the form body.
    case clientSecretPost = "client_secret_post"
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT assertion signed with the client's private key.
    case privateKeyJWT = "private_key_jwt"
    /// RFC 7523 §2.2 / OIDC Core §9: a JWT assertion signed with HMAC keyed by the client secret.
    case clientSecretJWT = "client_secret_jwt"
    /// RFC 8414 §2 / RFC 7591 §2 `none`: a public client (authorization code with PKCE only): no client
    /// authentication, `client_id` in the form body. Not valid for client credentials.
    case none = "none"
    /// RFC 8705 §2.1.1: PKI mutual TLS; the client certificate (`tls.cert_file`/`key_file`) presented at
    /// the token endpoint authenticates the client; `client_id` in the form body, no secret.
    case tlsClientAuth = "tls_client_auth"
    /// RFC 8705 §2.2: mutual TLS with a self-signed certificate registered with the server.
    case selfSignedTLSClientAuth = "self_signed_tls_client_auth"

    /// The RFC 8705 methods: the client is authenticated by the TLS connection itself.
    public var isMutualTLS: Bool { self == .tlsClientAuth || self == .selfSignedTLSClientAuth }
}

/// JWS algorithms (RFC 7518 §3.1, RFC 8037 §3.1) for client assertions: the asymmetric ones for
/// `private_key_jwt`, the HMAC ones for `client_secret_jwt`.
public enum JWTSigningAlgorithm: String, Sendable, CaseIterable {
    case rs256 = "RS256"
    case rs384 = "RS384"
    case rs512 = "RS512"
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case es512 = "ES512"
    case edDSA = "EdDSA"
    case hs256 = "HS256"
    case hs384 = "HS384"
    case hs512 = "HS512"

    /// HS256/384/512: keyed with the client secret (RFC 7518 §3.2).
    public var isHMAC: Bool { self == .hs256 || self == .hs384 || self == .hs512 }

    /// The SHA-2 output size in bytes (32, 48, 64); nil for EdDSA, which hashes internally.
    public var hashLength: Int? {
        switch self {
        case .rs256, .ps256, .es256, .hs256: 32
        case .rs384, .ps384, .es384, .hs384: 48
        case .rs512, .ps512, .es512, .hs512: 64
        case .edDSA: nil
        }
    }
}

/// Which certificate thumbprint a client assertion's JOSE header carries (RFC 7515 §4.1.7–8).
public enum CertificateThumbprint: String, Sendable, CaseIterable {
    /// `x5t#S256`, the SHA-256 thumbprint (default).
    case sha256
    /// `x5t`, the SHA-1 thumbprint only (older Microsoft Entra ID applications).
    case sha1
    /// Both headers.
    case both
}

/// Where a value was written in the config, so a check made after decoding (one that needs OpenSSL,
/// which the config module does not link) can still name file, line and key.
public struct ConfigPosition: Sendable, Hashable {
    public var file: String
    public var line: Int
    public var column: Int
    public var keyPath: String

    public init(file: String, line: Int, column: Int, keyPath: String) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
    }

    /// A config error at this position; `message` must not contain key material.
    public func error(_ message: String) -> ConfigError {
        ConfigError(file: file, line: line, column: column, keyPath: keyPath, message: message)
    }
}

/// `type: oauth2_client_credentials` (RFC 6749 §4.4).
public struct OAuthClientSettings: Sendable {
    /// `token_url:`, path and query used exactly as written; nil when it is to be found by discovery.
    public var tokenURL: EndpointURL?
    /// `discovery_url:` an issuer (well-known paths are appended) or a full `.well-known` URL.
    public var discoveryURL: EndpointURL?
    public var clientID: String
    /// `client_secret:`; required for the client_secret_* methods.
    public var clientSecret: ReloadableSecret?
    public var clientAuth: OAuthClientAuthMethod
    /// `private_key:` PEM, for private_key_jwt.
    public var privateKey: ReloadableSecret?
    /// `key_id:` JWT `kid` header.
    public var keyID: String?
    /// `signing_alg:` default RS256.
    public var signingAlgorithm: JWTSigningAlgorithm
    /// `scopes:` a list, or one space-separated string; sent space-joined.
    public var scopes: [String]
    public var audience: String?
    /// `token_params:` extra form fields, in file order.
    public var tokenParams: [(String, String)]
    /// `token_headers:` extra request headers on token requests, in file order.
    public var tokenHeaders: [(String, String)]
    /// `tls:` for the token endpoint (CA, client certificate for mTLS).
    public var tls: TLSSettings
    /// `allow_plaintext_credentials:` permit http:// token endpoints on non-loopback hosts.
    public var allowPlaintextCredentials: Bool
    /// `refresh_before_ms:` renew when less than this much lifetime is left; nil = the default schedule
    /// (max(20% of the lifetime, 60 s), never earlier than half the lifetime).
    public var refreshBeforeMs: Int?
    /// `timeout_ms:` per token request, default 10 000.
    public var timeoutMs: Int
    /// `token_wait_ms:` how long a request with no usable token waits for one (through transient token
    /// endpoint failures) before it fails; default 10 000, and never longer than the route's timeout.
    public var tokenWaitMs: Int
    /// `client_assertion_file:` a JWT read from this file on every token request and sent as the
    /// `private_key_jwt` client assertion (RFC 7523 §2.2), e.g. a Kubernetes projected token.
    public var clientAssertionFile: String?
    /// `type: oauth2_jwt_bearer`: the RFC 7523 §2.1 grant instead of client credentials; nil otherwise.
    public var jwtBearer: JWTBearerSettings?

    // Client assertion keys (issue 10 §3): private_key forms, certificate thumbprints, audience.
    /// `private_key_passphrase:` decrypts an encrypted PEM `private_key` (PKCS#8 or traditional).
    public var privateKeyPassphrase: ReloadableSecret?
    /// `certificate:` the client's PEM certificate for `private_key`; adds `x5t#S256` / `x5t`.
    public var certificate: ReloadableSecret?
    /// `certificate_thumbprint:` which thumbprint header(s) the assertion carries, default sha256.
    public var certificateThumbprint: CertificateThumbprint = .sha256
    /// `assertion_audience:` the assertion's `aud`, instead of the token endpoint URL.
    public var assertionAudience: String?
    /// Where `private_key` (`privateKeyPosition`) and `certificate` were written, for load-time key checks.
    public var privateKeyPosition: ConfigPosition?
    public var certificatePosition: ConfigPosition?

    public init(
        tokenURL: EndpointURL? = nil, discoveryURL: EndpointURL? = nil, clientID: String,
        clientSecret: ReloadableSecret? = nil, clientAuth: OAuthClientAuthMethod = .clientSecretBasic,
        privateKey: ReloadableSecret? = nil, keyID: String? = nil, signingAlgorithm: JWTSigningAlgorithm = .rs256,
        scopes: [String] = [], audience: String? = nil, tokenParams: [(String, String)] = [],
        tokenHeaders: [(String, String)] = [], tls: TLSSettings = TLSSettings(), allowPlaintextCredentials: Bool = false,
        refreshBeforeMs: Int? = nil, timeoutMs: Int = 10_000, tokenWaitMs: Int = 10_000
    ) {
        self.tokenURL = tokenURL
        self.discoveryURL = discoveryURL
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.clientAuth = clientAuth
        self.privateKey = privateKey
        self.keyID = keyID
        self.signingAlgorithm = signingAlgorithm
        self.scopes = scopes
        self.audience = audience
        self.tokenParams = tokenParams
        self.tokenHeaders = tokenHeaders
        self.tls = tls
        self.allowPlaintextCredentials = allowPlaintextCredentials
        self.refreshBeforeMs = refreshBeforeMs
        self.timeoutMs = timeoutMs
        self.tokenWaitMs = tokenWaitMs
    }
}
