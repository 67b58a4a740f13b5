import LatchkeyHTTP
import LatchkeyNet

/// The validated configuration: plain values, checked in full, secrets resolved.
///
/// `ConfigLoader` turns a YAML file into this (or a list of `ConfigError`s naming file, line,
/// column and key); the runtime layers build live objects from it and never see YAML.
public struct ProxyConfiguration: Sendable {
    /// The file this came from, for messages.
    public var sourcePath: String
    /// The proxy listener (`listen:`), default 127.0.0.1:3128.
    public var listen: ListenAddress
    /// The admin listener (`admin:`), default 127.0.0.1:9901; nil when `admin: off`.
    public var admin: ListenAddress?
    /// What happens to requests that match no route (`unmatched:`).
    public var unmatched: UnmatchedPolicy
    /// `connect_ports:` ports a CONNECT passthrough (unmatched) may reach; default `[443]`.
    public var connectPorts: [Int] = [443]
    /// Which defaults applied (e.g. `unmatched` for a non-loopback `listen`); `run` logs them at notice level.
    public var notices: [String] = []
    /// Named credential sets (`connections:`), in file order.
    public var connections: [ConnectionSettings]
    /// Routes (`routes:`), in file order. Matching picks the most specific (see `Router`).
    public var routes: [RouteSettings]
    /// Parser and pool limits (`limits:`).
    public var limits: LimitSettings
    /// `log_level:` (trace, debug, info, notice, warning, error, critical), default info.
    public var logLevel: String
    /// `log_format:` text | json, default text.
    public var logFormat: String
    /// `shutdown_grace_ms:` how long in-flight requests may take to finish after SIGTERM; default 10 s.
    public var shutdownGraceMs: Int = 10_000
    /// `workers:` how many event loops; default `auto` (the CPUs the process may use). Read at start only.
    public var workers: WorkerCount = .auto
    /// `event_loop:` the loops' event mechanism; default epoll on Linux. Read at start only.
    public var eventLoop: EventLoopChoice = .platformDefault
    /// `cold_pages:` whether code and read-only data pages that only start-up or a reload touched are handed
    /// back to the kernel once the proxy serves (Linux); default `release`.
    public var coldPages: ColdPagesPolicy = .release
    /// Absolute paths of the secret files the config reads (watched, so rotation needs no restart).
    public var secretFiles: [String] = []
    /// `state_dir:` where refresh tokens of authorization-code connections are kept (one encrypted file
    /// per connection); required when such a connection exists. Absolute (relative to the config file).
    public var stateDir: String?
    /// `state_key:` base64 of exactly 32 bytes, the AES-256-GCM key of the state files; required with
    /// `state_dir`. The base64 text as written (resolved), checked at load.
    public var stateKey: SecretString?
    /// `intercept:` the CA for terminating TLS of CONNECTs to routed hosts; nil (the default) answers
    /// such a CONNECT 403 as before.
    public var intercept: InterceptSettings?
    /// `shared_store:` the Redis that replicas share tokens and a refresh lock through; nil = each replica alone.
    public var sharedStore: SharedStoreSettings?
    /// The top-level `tls:` block as written: the defaults every route's and connection's `tls:` inherits key by
    /// key (already merged into their `tls`; see `ConfigDecoder.decodeTLS`). Unrouted https requests use its
    /// version, cipher and curve policy with the system trust store.
    public var tls = TLSSettings()
    /// Non-fatal findings (e.g. `insecure_skip_verify: true`), each `file:line:column: key.path: message`.
    /// `latchkey check` prints them and `run` logs them at warning level.
    public var warnings: [String] = []
    /// Every resolved secret and credential value, so `ConfigSummary` can refuse to print a field that
    /// contains one (e.g. a username taken from a secret). Never printed itself.
    var sensitiveValues: Set<String> = []

    public init(
        sourcePath: String, listen: ListenAddress = ListenAddress(host: "127.0.0.1", port: 3128),
        admin: ListenAddress? = ListenAddress(host: "127.0.0.1", port: 9901), unmatched: UnmatchedPolicy = .passthrough,
        connections: [ConnectionSettings] = [], routes: [RouteSettings] = [], limits: LimitSettings = LimitSettings(),
        logLevel: String = "info", logFormat: String = "text"
    ) {
        self.sourcePath = sourcePath
        self.listen = listen
        self.admin = admin
        self.unmatched = unmatched
        self.connections = connections
        self.routes = routes
        self.limits = limits
        self.logLevel = logLevel
        self.logFormat = logFormat
    }

    /// The connection named `name`.
    public func connection(named name: String) -> ConnectionSettings? { connections.first { $0.name == name } }

    /// Every file a TLS context is built from (routes' and connections' `tls:` files, the interception CA):
    /// watched like secret files, so that a rotated certificate, key or CA reloads without a restart.
    public var tlsFiles: [String] {
        var files = tls.watchedFiles
        for route in routes { files += route.tls.watchedFiles }
        for connection in connections { files += connection.oauthClient?.tls.watchedFiles ?? [] }
        if let intercept { files += [intercept.caCertificateFile, intercept.caKeyFile].compactMap { $0 } }
        var seen = Set<String>()
        return files.filter { seen.insert($0).inserted }
    }
}

/// A host and port to listen on. Port 0 asks the kernel for a free port (tests use this).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }
    public var description: String { host.utf8.contains(UInt8(ascii: ":")) ? "[\(host)]:\(port)" : "\(host):\(port)" }
    /// Whether only this host can reach the listener (127.0.0.0/8, ::1, localhost).
    public var isLoopback: Bool { AddressScope.isLoopback(host: host) }
}

/// Policy for requests that match no route.
public enum UnmatchedPolicy: String, Sendable, CaseIterable {
    /// Forward them untouched (no credential; client Authorization is left as it is).
    case passthrough
    /// Answer 403.
    case deny
}

/// `http2:` of a route: which HTTP version the proxy speaks to its upstream.
public enum HTTP2Mode: String, Sendable, CaseIterable {
    /// https: offer `h2, http/1.1` by ALPN and speak what the server picks (remembered per upstream);
    /// http://: HTTP/1.1.
    case auto
    /// https: offer `h2, http/1.1` by ALPN, as `auto`; http://: HTTP/2 with prior knowledge (h2c,
    /// RFC 9113 §3.3), for upstreams known to speak it.
    case always
    /// HTTP/1.1 only (ALPN offers `http/1.1`).
    case never
}

/// Parser and pool limits.
public struct LimitSettings: Sendable, Equatable {
    /// `max_request_line_bytes`, default 8 KiB: a longer request line is rejected (see `HTTP1RequestParser`).
    public var maxRequestLineBytes: Int = 8 * 1024
    /// `max_header_bytes`, default 64 KiB: a larger header section gets 431.
    public var maxHeaderBytes: Int = 64 * 1024
    /// `max_idle_per_upstream`, default 1024: idle keep-alive connections kept per upstream origin and loop. As
    /// many as a burst used, so the next burst reuses them instead of connecting again (at 256 concurrent
    /// requests a cap of 32 reconnected 224 upstreams per round and doubled the CPU per request).
    public var maxIdlePerUpstream: Int = 1024
    /// `idle_timeout_ms`, default 60 s: idle client and pooled upstream connections are closed after this.
    public var idleTimeoutMs: Int = 60_000
    /// `max_connections`, default 4096 (1…1,000,000): open client connections on the proxy listener. At the
    /// cap the listener stops accepting (new connections wait in the kernel's backlog) until one closes.
    public var maxConnections: Int = 4096
    /// `admin_max_connections`, default 64 (1…10,000): the same cap for the admin listener.
    public var adminMaxConnections: Int = 64
    /// `header_timeout_ms`, default 10 s (1 ms…10 min): time to receive a complete request head, from its
    /// first byte (from accept for a connection's first request); then 408 and close (slowloris).
    public var headerTimeoutMs: Int = 10_000
    /// `tunnel_idle_timeout_ms`, default 5 min (1 ms…24 h): a CONNECT tunnel or a WebSocket (after its 101) with
    /// no byte either way for this long is closed.
    public var tunnelIdleTimeoutMs: Int = 300_000
    /// `http2_max_concurrent_streams`, default 100 (1…10,000): streams one HTTP/2 client connection may have
    /// open at once (SETTINGS_MAX_CONCURRENT_STREAMS); more are refused with REFUSED_STREAM.
    public var http2MaxConcurrentStreams: Int = 100
    /// `http2_max_header_list_bytes`, default 64 KiB (1…16 MiB): the decoded header list of one HTTP/2 request
    /// (SETTINGS_MAX_HEADER_LIST_SIZE); a request with a larger one is refused by resetting its stream.
    public var http2MaxHeaderListBytes: Int = 64 * 1024
    /// `http2_header_table_bytes`, default 4096 (0…65536): the HPACK dynamic table a client's encoder may use
    /// (SETTINGS_HEADER_TABLE_SIZE), memory the proxy keeps per connection.
    public var http2HeaderTableBytes: Int = 4096
    public init() {}
}

/// A named set of credentials (`connections.NAME`).
public struct ConnectionSettings: Sendable {
    /// The key under `connections:`.
    public var name: String
    /// What kind of credential and its values.
    public var kind: ConnectionKind
    /// Line in the config file where the connection is defined (for messages).
    public var line: Int
    /// `required_for_readiness: true`: `/readyz` fails while this connection has no usable credential
    /// (after its first fetch attempt). Off by default, so that one provider's outage does not take a
    /// proxy out of service for traffic that never uses that provider.
    public var requiredForReadiness: Bool

    public init(name: String, kind: ConnectionKind, line: Int = 0, requiredForReadiness: Bool = false) {
        self.name = name
        self.kind = kind
        self.line = line
        self.requiredForReadiness = requiredForReadiness
    }
}

/// The credential a connection injects.
public enum ConnectionKind: Sendable {
    /// `type: basic` (RFC 7617).
    case basic(username: String, password: SecretString)
    /// `type: bearer` (RFC 6750).
    case bearer(token: SecretString)
    /// `type: api_key`: the key in `header` (default Authorization) with `scheme`.
    case apiKey(key: SecretString, header: String, scheme: APIKeyScheme)
    /// `type: none`: strip client credentials, inject nothing.
    case none
    /// `type: oauth2_client_credentials`, and `type: oauth2_jwt_bearer` (`settings.jwtBearer` set):
    /// tokens from the token manager.
    case oauth2ClientCredentials(OAuthClientSettings)
    /// `type: oauth2_authorization_code`: consent once, then refresh tokens (kept in `state_dir`).
    case oauth2AuthorizationCode(OAuthAuthorizationCodeSettings)

    /// The `type:` string, for status output.
    public var typeName: String {
        switch self {
        case .basic: "basic"
        case .bearer: "bearer"
        case .apiKey: "api_key"
        case .none: "none"
        case .oauth2ClientCredentials(let settings): settings.jwtBearer == nil ? "oauth2_client_credentials" : "oauth2_jwt_bearer"
        case .oauth2AuthorizationCode: "oauth2_authorization_code"
        }
    }
}

/// How an API key is presented in its header.
public enum APIKeyScheme: String, Sendable, CaseIterable {
    /// `Basic <key>`, key used as given.
    case basic
    /// `Bearer <key>`.
    case bearer
    /// The bare key.
    case none
}

/// One route (`routes[i]`).
public struct RouteSettings: Sendable {
    /// `name:` or, when absent, a generated `route-<index>` (1-based).
    public var name: String
    /// `host:` exact or `*.suffix`, optional `:port`; nil matches any host (route mode).
    public var host: HostPattern?
    /// `path_prefix:`; nil matches every path.
    public var pathPrefix: String?
    /// `methods:` upper-cased; nil matches every method.
    public var methods: Set<String>?
    /// `connection:` name; nil behaves as `type: none`: client credentials are stripped, nothing injected.
    public var connection: String?
    /// `upstream:` where matched requests go; nil means the request's own target host.
    public var upstream: UpstreamURL?
    /// Whether `upstream` is set. Asked on every route-mode match: `upstream != nil` copied the URL (its
    /// strings retained, then released) only to compare it with nil.
    public var hasUpstream: Bool {
        if case .some = upstream { true } else { false }
    }
    /// `strip_prefix:` remove `path_prefix` before forwarding (route mode).
    public var stripPrefix: Bool
    /// `timeout_ms:` per attempt, until the response head arrives. Default 30 000.
    public var timeoutMs: Int
    /// `connect_timeout_ms:` TCP connect plus TLS handshake. Default 5 000.
    public var connectTimeoutMs: Int
    /// `tls:` settings for the upstream.
    public var tls: TLSSettings
    /// `allow_plaintext_credentials:` permit injecting over http:// to a non-loopback host.
    public var allowPlaintextCredentials: Bool
    /// Per-route OAuth overrides (`scopes:`, `audience:`, `token_params:`): each distinct set is its own
    /// token-cache entry. nil means the connection's own settings.
    public var scopes: [String]?
    public var audience: String?
    public var tokenParams: [String: String]?
    /// `retry:` the per-route retry policy.
    public var retry: RetrySettings = RetrySettings()
    /// `deadline_ms:` bounds the whole exchange (all attempts and delays); nil = timeout_ms × (max_retries + 1)
    /// plus the delays.
    public var deadlineMs: Int?
    /// `max_redirects:` 0 (default) hands 3xx back to the client untouched; N > 0 follows up to N.
    public var maxRedirects: Int = 0
    /// `debug:` log each attempt's request and response lines and headers (credentials redacted).
    public var debug: Bool = false
    /// `intercept:` with a top-level `intercept:` block, whether a CONNECT to this route's host is
    /// intercepted (default true). `false` tunnels it opaquely and injects nothing (for clients that
    /// pin certificates).
    public var intercept: Bool = true
    /// `http2:` the HTTP version towards the upstream (default `auto`).
    public var http2: HTTP2Mode = .auto
    /// Line of the route in the config file.
    public var line: Int

    public init(
        name: String, host: HostPattern? = nil, pathPrefix: String? = nil, methods: Set<String>? = nil,
        connection: String? = nil, upstream: UpstreamURL? = nil, stripPrefix: Bool = false, timeoutMs: Int = 30_000,
        connectTimeoutMs: Int = 5_000, tls: TLSSettings = TLSSettings(), allowPlaintextCredentials: Bool = false,
        scopes: [String]? = nil, audience: String? = nil, tokenParams: [String: String]? = nil,
        line: Int = 0
    ) {
        self.scopes = scopes
        self.audience = audience
        self.tokenParams = tokenParams
        self.name = name
        self.host = host
        self.pathPrefix = pathPrefix
        self.methods = methods
        self.connection = connection
        self.upstream = upstream
        self.stripPrefix = stripPrefix
        self.timeoutMs = timeoutMs
        self.connectTimeoutMs = connectTimeoutMs
        self.tls = tls
        self.allowPlaintextCredentials = allowPlaintextCredentials
        self.line = line
    }
}

/// A host pattern: an exact name or `*.suffix` (which matches any name ending in `.suffix`, not the
/// bare suffix), with an optional port. Stored lower-cased.
public struct HostPattern: Sendable, Equatable, CustomStringConvertible {
    public enum Name: Sendable, Equatable {
        case exact(String)
        /// The suffix without the leading `*`, e.g. ".example.com".
        case wildcard(suffix: String)
    }
    public var name: Name
    public var port: Int?

    public init(name: Name, port: Int? = nil) {
        self.name = name
        self.port = port
    }

    public var description: String {
        let base: String
        switch name {
        case .exact(let exact): base = exact
        case .wildcard(let suffix): base = "*" + suffix
        }
        return port.map { "\(base):\($0)" } ?? base
    }
}

/// A route's `upstream`: an origin and an optional base path that forwarded paths are appended to. Parsed
/// as an `EndpointURL` (the one URL parser); the base path then follows the route joining rule (no query;
/// a trailing '/' dropped, since the forwarded path brings its own).
public struct UpstreamURL: Sendable, Equatable, CustomStringConvertible {
    /// "http" or "https".
    public var scheme: String
    /// Host name or IP literal (without brackets), lower-cased.
    public var host: String
    /// Explicit port or the scheme's default.
    public var port: Int
    /// Path prepended to forwarded paths; "" for none (never ends with "/").
    public var basePath: String

    public init(scheme: String, host: String, port: Int, basePath: String = "") {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.basePath = basePath
    }

    public var isTLS: Bool { scheme == "https" }

    /// `host` or `host:port` when the port is not the scheme's default, brackets for IPv6.
    public var authority: String { Self.authority(host: host, port: port, scheme: scheme) }

    /// The authority (RFC 3986 §3.2) for `host`, `port` and `scheme`; see `EndpointURL.authority(host:port:scheme:)`,
    /// the one place every layer builds Host values and URLs with.
    public static func authority(host: String, port: Int, scheme: String) -> String {
        EndpointURL.authority(host: host, port: port, scheme: scheme)
    }

    public var description: String { "\(scheme)://\(authority)\(basePath)" }

    /// Whether the host is a loopback address or name (127.0.0.0/8, ::1, localhost): `AddressScope`'s rule.
    public var isLoopback: Bool { AddressScope.isLoopback(host: host) }
}

/// A route's retry policy (`retry:`).
public struct RetrySettings: Sendable, Equatable {
    /// `max_retries:` attempts after the first; default 0.
    public var maxRetries: Int = 0
    /// `delay_ms:` fixed delay between attempts (ignored with exponential_backoff); default 200.
    public var delayMs: Int = 200
    /// `exponential_backoff:` 100 ms base, doubling, full jitter, capped at 10 s.
    public var exponentialBackoff: Bool = false
    /// `retry_on_all_errors:` false: 5xx and network errors only; true: any status >= 400 (429 included) and a
    /// 3xx that is not followed.
    public var retryOnAllErrors: Bool = false
    /// `body_buffer_bytes:` request bodies up to this size are kept for replay; larger ones stream and are
    /// never retried. Default 1 MiB.
    public var bodyBufferBytes: Int = 1 << 20

    public init(
        maxRetries: Int = 0, delayMs: Int = 200, exponentialBackoff: Bool = false, retryOnAllErrors: Bool = false,
        bodyBufferBytes: Int = 1 << 20
    ) {
        self.maxRetries = maxRetries
        self.delayMs = delayMs
        self.exponentialBackoff = exponentialBackoff
        self.retryOnAllErrors = retryOnAllErrors
        self.bodyBufferBytes = bodyBufferBytes
    }
}

extension EndpointURL {
    /// Whether the host is a loopback address or name (127.0.0.0/8, ::1, localhost): `AddressScope`'s rule.
    public var isLoopback: Bool { AddressScope.isLoopback(host: host) }
}
