import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyTLS

/// Everything the data path needs from one loaded configuration, built once and then read-only:
/// the router, a credential source per connection and a TLS context per distinct TLS setting.
///
/// A request holds on to the runtime it started with, so a reload never changes a request midway.
public final class ProxyRuntime: Sendable {
    /// Per-route data resolved at build time. A class: every request's plan holds its route, and a struct
    /// this size made each copy of a plan a dozen retains.
    public final class RouteRuntime: Sendable {
        public let settings: RouteSettings
        /// The connection's credential source; nil when the route names no connection.
        public let source: (any CredentialSource)?
        /// Per-route token overrides.
        public let credentialKey: CredentialKey
        /// Whether this route injects anything (used by the plaintext and CONNECT rules).
        public let injectsCredentials: Bool
        /// TLS context for an https upstream of this route (ALPN per the route's `http2`).
        public let tls: TLSClientContext
        /// The same TLS settings offering only `http/1.1` by ALPN (the same context as `tls` with
        /// `http2: never`): for requests HTTP/2 cannot carry, such as an `Upgrade` handshake.
        public let http1TLS: TLSClientContext
        /// Retries, redirects and the replay buffer.
        let policy: ExchangePolicy
        /// This route's pre-resolved metric series.
        let metrics: RouteMetrics
        /// The endpoint of the route's `upstream` (nil without one: the request names it), built once.
        let upstreamEndpoint: UpstreamEndpoint?
        /// Whether that endpoint is a loopback host (`AddressScope.isLoopback`), worked out once.
        let upstreamIsLoopback: Bool
        /// The route's fields of the access-log line, written once.
        let logFields: RouteLogFields

        init(
            settings: RouteSettings, source: (any CredentialSource)?, credentialKey: CredentialKey,
            injectsCredentials: Bool, tls: TLSClientContext, http1TLS: TLSClientContext, policy: ExchangePolicy,
            metrics: RouteMetrics
        ) {
            self.settings = settings
            self.source = source
            self.credentialKey = credentialKey
            self.injectsCredentials = injectsCredentials
            self.tls = tls
            self.http1TLS = http1TLS
            self.policy = policy
            self.metrics = metrics
            upstreamEndpoint = settings.upstream.map { upstream in
                UpstreamEndpoint(
                    scheme: upstream.scheme, host: upstream.host, port: upstream.port,
                    serverName: settings.tls.serverName ?? upstream.host)
            }
            upstreamIsLoopback = upstreamEndpoint.map { AddressScope.isLoopback(host: $0.host) } ?? false
            logFields = RouteLogFields(connection: settings.connection, route: settings.name, upstream: upstreamEndpoint)
        }

        // The route's credential, asked of its source here: inside the route, `source` and `credentialKey`
        // are read in place, where an exchange reaching them through its plan retained each (four retains
        // and releases per request).

        /// The credential at hand without waiting (see `CredentialSource.currentCredential(for:)`); nil also
        /// when the route names no connection.
        func currentCredential() -> InjectedCredential?? {
            source?.currentCredential(for: credentialKey)
        }

        /// Waits for the route's credential (see `CredentialSource.fetchCredential(for:timeout:completion:)`);
        /// a route without a connection answers nil at once.
        func fetchCredential(
            timeout: Duration, completion: @escaping @Sendable (Result<InjectedCredential?, CredentialError>) -> Void
        ) {
            guard let source else { return completion(.success(nil)) }
            source.fetchCredential(for: credentialKey, timeout: timeout, completion: completion)
        }

        /// The upstream rejected `credential` (401): its source forgets it.
        func invalidate(_ credential: InjectedCredential) {
            source?.invalidate(credential, for: credentialKey)
        }
    }

    public let configuration: ProxyConfiguration
    public let router: Router
    public let routes: [String: RouteRuntime]
    /// The same routes in file order: `Router.matchIndex` answers a position in this list.
    public let routesInFileOrder: [RouteRuntime]
    public let sources: [String: any CredentialSource]
    /// System-trust TLS context for unrouted https requests, with the top-level `tls:` version, cipher and
    /// curve policy.
    public let defaultTLS: TLSClientContext
    /// Every client context this runtime built, one per distinct configuration (routes', token endpoints',
    /// `defaultTLS`). Built fresh for each runtime, never taken over from the previous one: a reload after a
    /// certificate, key or CA file changed gets contexts made from the new files even when the configuration
    /// value is unchanged. Connections already open (or pooled) keep the context they were made with.
    public let clientContexts: [TLSClientConfiguration: TLSClientContext]
    /// The metrics every runtime of this process records into (they outlive reloads).
    public let metrics: LatchkeyMetrics
    /// Series for requests that matched no route.
    let unmatchedMetrics: RouteMetrics
    /// Mints the leaf certificates of intercepted CONNECTs; nil when `intercept` is not configured (a CONNECT
    /// to a credential route is then refused). A reload that keeps `intercept` unchanged keeps the authority
    /// (and its leaf cache); an intercepted connection keeps the TLS context it was given until it closes.
    public let interception: InterceptionAuthority?
    /// The process's CRL cache and last revocation results (they outlive reloads).
    public let revocation: RevocationEnvironment
    /// The revocation scope (metric `route` label, `RevocationStatusBoard` key) of each OAuth connection's token
    /// endpoint: `connection:NAME`, or `connection:A,B` for connections whose TLS settings are equal.
    public let connectionRevocationScopes: [String: String]

    /// Builds the runtime. `makeSource` creates the credential source of each connection (static ones
    /// by default; the server passes a factory that also knows OAuth). `interception` is built by the caller
    /// from `configuration.intercept` (it holds the CA key). Throws on TLS files that fail to load.
    public init(
        configuration: ProxyConfiguration, metrics: LatchkeyMetrics = LatchkeyMetrics(version: "unknown"),
        interception: InterceptionAuthority? = nil, revocation: RevocationEnvironment = .offline(),
        makeSource: (ConnectionSettings) throws -> any CredentialSource
    ) throws {
        self.configuration = configuration
        self.revocation = revocation
        self.interception = interception
        self.metrics = metrics
        unmatchedMetrics = metrics.route(LatchkeyMetrics.unmatchedRoute, connection: nil)
        router = Router(routes: configuration.routes)
        var sources: [String: any CredentialSource] = [:]
        for connection in configuration.connections {
            sources[connection.name] = try makeSource(connection)
        }
        self.sources = sources
        let defaultConfiguration = configuration.tls.policyOnly.clientConfiguration
        /// Every context below trusts the same few sources: each is loaded once for this runtime.
        let trustStores = TLSTrustStores()
        let defaultTLS: TLSClientContext
        do {
            defaultTLS = try TLSClientContext(
                configuration: defaultConfiguration,
                revocation: revocation.services(scope: LatchkeyMetrics.unmatchedRoute, metrics: metrics),
                trustStores: trustStores)
        } catch {
            throw RuntimeBuildError(detail: "tls: \(error)", cause: "\(error)")
        }
        self.defaultTLS = defaultTLS
        var contexts: [TLSClientConfiguration: TLSClientContext] = [defaultTLS.configuration: defaultTLS]
        /// Routes checking revocation get contexts of their own (keyed by route too), so that each
        /// handshake's result is counted and shown for its route.
        var revocationContexts: [String: TLSClientContext] = [:]
        var routes: [String: RouteRuntime] = [:]
        var routesInFileOrder: [RouteRuntime] = []
        /// One context per distinct configuration, shared by the routes that have it.
        func sharedContext(_ configuration: TLSClientConfiguration, route: String, scope: String? = nil) throws
            -> TLSClientContext
        {
            let scope = scope ?? route
            let perScope = configuration.revocation != .off && !configuration.insecureSkipVerify && scope != "-"
            let scopeKey = "\(scope) \(configuration.hashValue)"
            if perScope, let existing = revocationContexts[scopeKey], existing.configuration == configuration {
                return existing
            }
            if !perScope, let existing = contexts[configuration] { return existing }
            do {
                let created = try TLSClientContext(
                    configuration: configuration, revocation: revocation.services(scope: scope, metrics: metrics),
                    trustStores: trustStores)
                if perScope { revocationContexts[scopeKey] = created }
                // `clientContexts` is what the token client looks contexts up in: a connection's own context
                // wins there, so its token endpoint's revocation results are reported under the connection.
                if contexts[configuration] == nil || scope.hasPrefix("connection:") { contexts[configuration] = created }
                return created
            } catch {
                throw RuntimeBuildError(detail: "route \(route): tls: \(error)", cause: "\(error)")
            }
        }
        for route in configuration.routes {
            let context = try sharedContext(
                route.tls.clientConfiguration(offeringHTTP2: route.http2 != .never), route: route.name)
            let http1Context = try sharedContext(route.tls.clientConfiguration(offeringHTTP2: false), route: route.name)
            let source = route.connection.flatMap { sources[$0] }
            let kind = route.connection.flatMap { configuration.connection(named: $0)?.kind }
            let injects: Bool
            switch kind {
            case nil, .some(.none): injects = false
            default: injects = true
            }
            let runtime = RouteRuntime(
                settings: route, source: source,
                credentialKey: CredentialKey(scopes: route.scopes, audience: route.audience, tokenParams: route.tokenParams),
                injectsCredentials: injects, tls: context, http1TLS: http1Context, policy: ExchangePolicy(route: route),
                metrics: metrics.route(route.name, connection: route.connection))
            routes[route.name] = runtime
            routesInFileOrder.append(runtime)
        }
        // Token endpoints' contexts too, so that a broken certificate, key or CA file fails this build (and a
        // reload keeps the running runtime) instead of the next token request; `UpstreamHTTPClient` takes them
        // from the running runtime (`clientContexts`).
        // The token client finds a context by configuration alone, so connections with equal TLS settings share
        // one: its revocation results go under all their names (`connection:a,b`), never under one of them only.
        var connectionsByConfiguration: [TLSClientConfiguration: [String]] = [:]
        for connection in configuration.connections {
            guard let client = connection.oauthClient else { continue }
            connectionsByConfiguration[client.tls.clientConfiguration, default: []].append(connection.name)
        }
        var connectionRevocationScopes: [String: String] = [:]
        for connection in configuration.connections {
            guard let client = connection.oauthClient else { continue }
            let names = connectionsByConfiguration[client.tls.clientConfiguration] ?? [connection.name]
            let scope = "connection:" + names.joined(separator: ",")
            connectionRevocationScopes[connection.name] = scope
            do {
                _ = try sharedContext(client.tls.clientConfiguration, route: "-", scope: scope)
            } catch {
                throw RuntimeBuildError(
                    detail: "connection \(connection.name): tls: \((error as? RuntimeBuildError)?.cause ?? "\(error)")")
            }
        }
        self.routes = routes
        self.routesInFileOrder = routesInFileOrder
        self.connectionRevocationScopes = connectionRevocationScopes
        clientContexts = contexts
    }
}

/// A runtime could not be built (a TLS file that fails to load, ...).
public struct RuntimeBuildError: Error, CustomStringConvertible {
    public let detail: String
    /// The underlying reason without the "route X:" prefix, when there is one.
    let cause: String?
    public init(detail: String) { self.init(detail: detail, cause: nil) }
    init(detail: String, cause: String?) {
        self.detail = detail
        self.cause = cause
    }
    public var description: String { detail }
}

extension TLSSettings {
    /// The LatchkeyTLS view of these settings for an HTTP/1.1-only client (ALPN http/1.1): token endpoints,
    /// unrouted requests, routes with `http2: never`.
    var clientConfiguration: TLSClientConfiguration { clientConfiguration(offeringHTTP2: false) }

    /// With `offeringHTTP2`, ALPN offers `h2, http/1.1` (RFC 9113 §3.2; the server picks, and the pool
    /// speaks what it picked); otherwise `http/1.1` alone. Two routes to one host with different offers get
    /// different contexts, hence different pools: a connection never serves a route that did not ask for its
    /// protocol.
    func clientConfiguration(offeringHTTP2: Bool) -> TLSClientConfiguration {
        TLSClientConfiguration(
            caFile: caFile, insecureSkipVerify: insecureSkipVerify, certificateFile: certFile,
            privateKeyFile: keyFile, alpnProtocols: offeringHTTP2 ? ["h2", "http/1.1"] : ["http/1.1"],
            minimumVersion: minVersion == .tls13 ? .tls13 : .tls12, cipherList: ciphers?.value,
            cipherSuites: ciphersuites?.value, groups: curves?.value
        ).withRevocation(RevocationPolicy(rawValue: revocation.rawValue) ?? .off, crlFile: crlFile)
    }
}

/// What an exchange needs of its route's request controls: the retry policy, how many redirects to follow
/// and how much request body to keep for replay.
struct ExchangePolicy: Sendable {
    let retry: RetryPolicy
    let maxRedirects: Int
    let bodyBufferBytes: Int

    init(route: RouteSettings) {
        retry = RetryPolicy(settings: route.retry, timeoutMs: route.timeoutMs, deadlineMs: route.deadlineMs)
        maxRedirects = route.maxRedirects
        bodyBufferBytes = route.retry.bodyBufferBytes
    }

    /// Unmatched traffic: no retries, no redirects; a small replay buffer so that a request on a pooled
    /// connection the server had just closed can go again.
    static let passthrough = ExchangePolicy(
        route: RouteSettings(name: "-", timeoutMs: 30_000, connectTimeoutMs: 5_000))

    var maxAttempts: Int { retry.maxAttempts }
    var deadline: Duration { retry.deadline }

    func isRetryable(_ outcome: AttemptOutcome, redirectFollowed: Bool = false) -> Bool {
        retry.isRetryable(outcome, redirectFollowed: redirectFollowed)
    }

    func delay(beforeRetry retry: Int, retryAfter: Duration?, random: () -> Double) -> Duration {
        self.retry.delay(beforeRetry: retry, retryAfter: retryAfter, random: random)
    }
}

extension TLSClientConfiguration {
    /// This configuration with revocation checking set.
    func withRevocation(_ policy: RevocationPolicy, crlFile: String?) -> TLSClientConfiguration {
        var copy = self
        copy.revocation = policy
        copy.crlFile = policy == .off ? nil : crlFile
        return copy
    }
}
