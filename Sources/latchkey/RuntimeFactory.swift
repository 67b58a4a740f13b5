import Dispatch
import Foundation
import LatchkeyAdmin
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyProxy
import LatchkeyTLS
import Logging
import Synchronization

/// Builds a `ProxyRuntime` with the credential source each connection type needs, wired to what the process
/// makes once and keeps across reloads: the token client, the consent `state` store, the scrubber, the
/// metrics and the logger. The composition root makes one factory and hands it to the reloader; nothing
/// here is global, so a test (or a second server) gets its own of each.
public struct RuntimeFactory: Sendable {
    /// The HTTP client for every token endpoint (an `UpstreamHTTPClient` on its own loop, so token traffic
    /// never waits behind proxied traffic).
    public let tokenClient: any TokenEndpointClient
    /// The `state` values of consents in progress, for every authorization-code connection: one per process,
    /// so a consent started before a reload completes after it (the admin listener reads it too).
    public let pendingAuthorizations: AuthorizationStateStore
    /// The process's scrubber, told the encoded secrets the credential sources make.
    public let scrubber: SecretScrubber
    /// The metrics every runtime records into.
    public let metrics: LatchkeyMetrics
    public let logger: Logger
    /// Where `shared_store:` connects (nil: tokens are never shared, as in `check`, which tests the provider).
    let sharedStores: SharedStores?
    /// The CRL cache and last revocation results, kept across reloads.
    public let revocation: RevocationEnvironment

    init(
        tokenClient: any TokenEndpointClient, pendingAuthorizations: AuthorizationStateStore, scrubber: SecretScrubber,
        metrics: LatchkeyMetrics, logger: Logger, sharedStores: SharedStores? = nil,
        revocation: RevocationEnvironment = .offline()
    ) {
        self.sharedStores = sharedStores
        self.revocation = revocation
        self.tokenClient = tokenClient
        self.pendingAuthorizations = pendingAuthorizations
        self.scrubber = scrubber
        self.metrics = metrics
        self.logger = logger
    }

    /// Builds a runtime for `configuration`. Connections whose settings are unchanged from `previous` keep
    /// their credential source, and with it their cached tokens (a reload must not cost a token fetch).
    public func makeRuntime(configuration: ProxyConfiguration, previous: ProxyRuntime? = nil) throws -> ProxyRuntime {
        let (tokenClient, pendingAuthorizations, scrubber, metrics, logger) = (
            tokenClient, pendingAuthorizations, scrubber, metrics, logger
        )
        // Key material (PEM/JWK, passphrase, certificate, signing_alg) is checked here, where OpenSSL is
        // linked: run, check and reload all build a runtime right after loading the config.
        let keyErrors = OAuthClientKeyCheck.errors(in: configuration) + TLSPolicyCheck.errors(in: configuration)
        if !keyErrors.isEmpty { throw ConfigErrors(errors: keyErrors) }
        // The interception CA likewise: its key must fit its certificate, which must be a usable CA. A reload
        // that leaves `intercept:` as it was keeps the running authority (and its cached leaves); a changed one
        // gets a new authority, and open intercepted connections keep the leaf context they were given.
        let interception: InterceptionAuthority?
        if let intercept = configuration.intercept {
            if let previous, previous.configuration.intercept == intercept, let running = previous.interception {
                interception = running
            } else {
                interception = try InterceptionAuthority.make(from: intercept)
            }
        } else {
            interception = nil
        }
        var stateFiles: Result<StateFileStore, StateFileError>?
        let runtime = try ProxyRuntime(
            configuration: configuration, metrics: metrics, interception: interception, revocation: revocation
        ) {
            connection in
            let fingerprint = ConnectionFingerprint(connection)
            if let previous, let old = previous.configuration.connection(named: connection.name),
                ConnectionFingerprint(old) == fingerprint, let source = previous.sources[connection.name]
            {
                return source
            }
            switch connection.kind {
            case .basic, .bearer, .apiKey, .none:
                return StaticCredentialSource(settings: connection, scrubber: scrubber)
            case .oauth2ClientCredentials(let settings):
                let series = metrics.connection(connection.name)
                let manager = OAuthTokenManager(
                    name: connection.name, settings: settings, client: tokenClient, scrubber: scrubber, logger: logger,
                    fetchObserver: { series.recordTokenFetch(success: $0) })
                if let exchange = try makeSharedExchange(configuration, connection: connection.name, settings: settings) {
                    manager.shareTokens(through: exchange)
                }
                return manager
            case .oauth2AuthorizationCode(let settings):
                if stateFiles == nil { stateFiles = Self.openStateFiles(configuration) }
                switch stateFiles! {
                case .failure(let error):
                    // Fail closed: without its state files the connection cannot hold a grant.
                    logger.error("connection \(connection.name): state_dir: \(error)")
                    return UnavailableCredentialSource(
                        error: CredentialError(.misconfigured, connection: connection.name, detail: "state_dir: \(error)"))
                case .success(let store):
                    let series = metrics.connection(connection.name)
                    let source = AuthorizationCodeSource(
                        name: connection.name, settings: settings, client: tokenClient, scrubber: scrubber,
                        store: store, pendingAuthorizations: pendingAuthorizations, logger: logger,
                        consentHint: Self.consentHint(configuration, connection: connection.name),
                        fetchObserver: { series.recordTokenFetch(success: $0) })
                    if let exchange = try makeSharedExchange(configuration, connection: connection.name, settings: settings.client) {
                        source.shareGrant(through: exchange)
                    }
                    return source
                }
            }
        }
        metrics.setTokenExpiryProvider { [weak runtime] in
            guard let runtime else { return [:] }
            var expiries: [String: Double] = [:]
            let now = Date().timeIntervalSince1970
            for (name, source) in runtime.sources {
                if let expiresAt = source.sourceStatus.accessTokenExpiresAt { expiries[name] = expiresAt - now }
            }
            return expiries
        }
        metrics.setConnectionUpProvider { [weak runtime] in
            guard let runtime else { return [:] }
            var up: [String: Bool] = [:]
            for (name, source) in runtime.sources { up[name] = ConnectionHealth(source.sourceStatus).isUp }
            return up
        }
        return runtime
    }

    /// The connection's `SharedTokenExchange` when `shared_store:` is configured (and this factory shares).
    private func makeSharedExchange(_ configuration: ProxyConfiguration, connection: String, settings: OAuthClientSettings)
        throws -> SharedTokenExchange?
    {
        guard let sharedStores, let storeSettings = configuration.sharedStore, let key = configuration.stateKey else { return nil }
        guard let sealer = SharedRecordSealer(keyBase64: key.value) else { return nil }  // validated at load
        let store = try sharedStores.store(for: storeSettings)
        return SharedTokenExchange(
            connectionName: connection, settings: settings, backend: store, sealer: sealer, keyPrefix: storeSettings.keyPrefix,
            leaseTTL: .milliseconds(storeSettings.leaseMs), logger: logger,
            observer: { [attempts = sharedStores.attempts] in attempts.child([connection, $0.rawValue]).increment() })
    }

    private static func openStateFiles(_ configuration: ProxyConfiguration) -> Result<StateFileStore, StateFileError> {
        guard let directory = configuration.stateDir, let key = configuration.stateKey else {
            return .failure(StateFileError("state_dir and state_key are required for oauth2_authorization_code"))
        }
        do {
            return .success(try StateFileStore(directory: directory, keyBase64: key))
        } catch {
            return .failure(error)
        }
    }

    /// Where a person starts consent, quoted when a request finds the connection without a grant.
    static func consentHint(_ configuration: ProxyConfiguration, connection: String) -> String {
        guard let admin = configuration.admin, admin.port != 0 else {
            return "GET /connections/\(connection)/connect on the admin listener, or run `latchkey connect \(connection)`"
        }
        return "\(AdminAddress.baseURL(host: admin.host, port: admin.port))/connections/\(connection)/connect "
            + "(or run `latchkey connect \(connection)`)"
    }

    /// Fetches a first token (discovery included) for every OAuth connection and every distinct per-route
    /// override that has none yet, in the background, so the first request does not wait and problems show
    /// in the log at start (and after a reload that changed a connection). `fetched` runs once every fetch
    /// this started has finished, with how many there were (at once, with 0, when none was needed).
    public func warmUp(_ runtime: ProxyRuntime, fetched: (@Sendable (_ count: Int) -> Void)? = nil) {
        let logger = logger
        var keys: [String: Set<CredentialKey>] = [:]
        for connection in runtime.configuration.connections {
            switch connection.kind {
            case .oauth2ClientCredentials:
                keys[connection.name, default: []].insert(.connectionDefault)
            case .oauth2AuthorizationCode:
                // Only a connection that holds a grant can fetch; one waiting for consent must not log errors.
                if case .authorizationCode(let status)? = runtime.sources[connection.name]?.sourceStatus,
                    status.state == .connected
                {
                    keys[connection.name, default: []].insert(.connectionDefault)
                }
            default:
                break
            }
        }
        for route in runtime.routes.values {
            guard let name = route.settings.connection, keys[name] != nil else { continue }
            keys[name, default: []].insert(route.credentialKey)
        }
        let fetches = keys.compactMap { name, keySet in
            runtime.sources[name].map { source in
                (name: name, source: source, missing: keySet.filter { source.currentCredential(for: $0) == nil })
            }
        }
        let total = fetches.reduce(0) { $0 + $1.missing.count }
        guard total > 0 else {
            fetched?(0)
            return
        }
        let outstanding = Mutex(total)
        for (name, source, keySet) in fetches {
            for key in keySet {
                source.fetchCredential(for: key, timeout: .seconds(30)) { result in
                    switch result {
                    case .success:
                        logger.notice("connection \(name): Connected", metadata: [LogKey.connection: "\(name)"])
                    case .failure(let error):
                        logger.error("connection \(name): \(error.detail)", metadata: [LogKey.connection: "\(name)"])
                    }
                    if outstanding.withLock({ $0 -= 1; return $0 }) == 0 { fetched?(total) }
                }
            }
        }
    }
}

/// Everything that makes a connection's credentials what they are, secrets included, for comparing two
/// loads of the config in memory. Never printed or logged.
struct ConnectionFingerprint: Equatable {
    private let text: String

    init(_ connection: ConnectionSettings) {
        var parts: [String] = [connection.name]
        switch connection.kind {
        case .basic(let username, let password): parts += ["basic", username, password.value]
        case .bearer(let token): parts += ["bearer", token.value]
        case .apiKey(let key, let header, let scheme): parts += ["api_key", key.value, header, scheme.rawValue]
        case .none: parts += ["none"]
        case .oauth2ClientCredentials(let settings):
            parts += ["oauth2_client_credentials"] + Self.parts(of: settings)
        case .oauth2AuthorizationCode(let settings):
            parts += ["oauth2_authorization_code"] + Self.parts(of: settings.client)
            parts += [
                settings.authorizeURL?.description ?? "", settings.refreshURL?.description ?? "",
                settings.revocationURL?.description ?? "", settings.redirectURI ?? "",
                settings.authorizeParams.map { "\($0.0)=\($0.1)" }.joined(separator: "&"),
            ]
        }
        text = parts.joined(separator: "\u{0}")
    }

    private static func parts(of settings: OAuthClientSettings) -> [String] {
        [
            settings.tokenURL?.description ?? "", settings.discoveryURL?.description ?? "", settings.clientID,
            settings.clientSecret?.initial.value ?? "", settings.clientAuth.rawValue, settings.privateKey?.initial.value ?? "",
            settings.keyID ?? "", settings.signingAlgorithm.rawValue, settings.scopes.joined(separator: " "),
            settings.audience ?? "", settings.tokenParams.map { "\($0.0)=\($0.1)" }.joined(separator: "&"),
            settings.tokenHeaders.map { "\($0.0)=\($0.1)" }.joined(separator: "&"), "\(settings.tls)",
            "\(settings.allowPlaintextCredentials)", "\(settings.refreshBeforeMs ?? -1)", "\(settings.timeoutMs)",
            settings.privateKeyPassphrase?.initial.value ?? "", settings.certificate?.initial.value ?? "",
            settings.certificateThumbprint.rawValue, settings.assertionAudience ?? "", "\(settings.tokenWaitMs)",
            settings.clientAssertionFile ?? "", settings.jwtBearer.map { "\($0)" } ?? "",
        ]
    }
}
