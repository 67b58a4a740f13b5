import Dispatch
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyNet
import LatchkeyProxy
import Logging

/// Builds a `ProxyRuntime` with the credential source each connection type needs.
enum RuntimeFactory {
    /// One HTTP client for every token endpoint, on its own loop so token traffic never waits behind
    /// proxied traffic.
    static let tokenClient = UpstreamHTTPClient(loop: EventLoop(label: "latchkey.token-client"))

    static func makeRuntime(configuration: ProxyConfiguration, logger: Logger) throws -> ProxyRuntime {
        try ProxyRuntime(configuration: configuration) { connection in
            switch connection.kind {
            case .basic, .bearer, .apiKey, .none:
                return StaticCredentialSource(settings: connection)
            case .oauth2ClientCredentials(let settings):
                return OAuthTokenManager(name: connection.name, settings: settings, client: tokenClient, logger: logger)
            case .oauth2AuthorizationCode:
                // Minimal arm until the lead wires AuthorizationCodeSource (state store, admin endpoints):
                // fail closed (502) rather than forward without a credential.
                return UnavailableCredentialSource(
                    error: CredentialError(.needsConsent, connection: connection.name, detail: "oauth2_authorization_code is not wired yet"))
            }
        }
    }

    /// Fetches a first token (discovery included) for every OAuth connection and every distinct per-route
    /// override in the background, so the first request does not wait and problems show in the log at start.
    static func warmUp(_ runtime: ProxyRuntime, logger: Logger) {
        var keys: [String: Set<CredentialKey>] = [:]
        for connection in runtime.configuration.connections {
            if case .oauth2ClientCredentials = connection.kind { keys[connection.name, default: []].insert(.connectionDefault) }
        }
        for route in runtime.routes.values {
            guard let name = route.settings.connection, keys[name] != nil else { continue }
            keys[name, default: []].insert(route.credentialKey)
        }
        for (name, keySet) in keys {
            guard let source = runtime.sources[name] else { continue }
            for key in keySet {
                source.fetchCredential(for: key, timeout: .seconds(30)) { result in
                    switch result {
                    case .success:
                        logger.notice("connection \(name): Connected", metadata: [LogKey.connection: "\(name)"])
                    case .failure(let error):
                        logger.error("connection \(name): \(error.detail)", metadata: [LogKey.connection: "\(name)"])
                    }
                }
            }
        }
    }
}
