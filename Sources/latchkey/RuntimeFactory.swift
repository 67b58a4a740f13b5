import LatchkeyAuth
import LatchkeyConfig
import LatchkeyProxy
import Logging

/// Builds a `ProxyRuntime` with the credential source each connection type needs.
enum RuntimeFactory {
    static func makeRuntime(configuration: ProxyConfiguration, logger: Logger) throws -> ProxyRuntime {
        try ProxyRuntime(configuration: configuration) { connection in
            switch connection.kind {
            case .basic, .bearer, .apiKey, .none:
                return StaticCredentialSource(settings: connection)
            case .oauth2ClientCredentials:
                throw RuntimeBuildError(detail: "connection \(connection.name): oauth2_client_credentials is not wired yet")
            }
        }
    }
}
