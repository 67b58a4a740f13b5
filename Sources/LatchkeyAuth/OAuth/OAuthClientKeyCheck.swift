import LatchkeyConfig

/// The load-time check of an OAuth client's assertion key material, which needs OpenSSL and so runs
/// when the runtime is built rather than in the config module: the private key parses (decrypting with
/// `private_key_passphrase`), fits `signing_alg` (key type, EC curve, RSA size), and the `certificate`
/// parses and holds the key's public half. Errors name file, line and key, never key material.
public enum OAuthClientKeyCheck {
    /// Every problem with the key material of `settings`; empty when signing will work.
    public static func errors(in settings: OAuthClientSettings, connection: String) -> [ConfigError] {
        guard settings.clientAuth == .privateKeyJWT, let keyText = settings.privateKey?.initial.value else { return [] }
        let keyPosition =
            settings.privateKeyPosition
            ?? ConfigPosition(file: "", line: 0, column: 0, keyPath: "connections.\(connection).private_key")
        let key: SigningKey
        do {
            key = try SigningKey(text: keyText, passphrase: settings.privateKeyPassphrase?.initial.value)
        } catch {
            return [keyPosition.error(error.description)]
        }
        var errors: [ConfigError] = []
        if let problem = key.problem(with: settings.signingAlgorithm) {
            errors.append(keyPosition.error("\(problem) (signing_alg \(settings.signingAlgorithm.rawValue))"))
        }
        if let certificatePEM = settings.certificate?.initial.value {
            let position = settings.certificatePosition ?? keyPosition
            do {
                let certificate = try ClientCertificate(pem: certificatePEM)
                if !certificate.matches(key) {
                    errors.append(position.error("the certificate's public key does not belong to private_key"))
                }
            } catch {
                errors.append(position.error(error.description))
            }
        }
        return errors
    }

    /// The problems of every OAuth connection in `configuration`, in file order.
    public static func errors(in configuration: ProxyConfiguration) -> [ConfigError] {
        configuration.connections.flatMap { connection -> [ConfigError] in
            switch connection.kind {
            case .oauth2ClientCredentials(let settings): errors(in: settings, connection: connection.name)
            case .oauth2AuthorizationCode(let settings): errors(in: settings.client, connection: connection.name)
            default: []
            }
        }
    }
}
