import LatchkeyConfig
import LatchkeyTLS

/// Checks every `ciphers`, `ciphersuites` and `curves` string of a loaded configuration against OpenSSL
/// (`TLSPolicyValidator`), reporting each at the line it was written on. Runs where OpenSSL is linked, right
/// after load: `run`, `check` and every reload build a runtime through `RuntimeFactory`, which calls this first.
/// A top-level default inherited by many routes is reported once, at the top-level block.
public enum TLSPolicyCheck {
    public static func errors(in configuration: ProxyConfiguration) -> [ConfigError] {
        var blocks = [configuration.tls]
        blocks += configuration.connections.compactMap { $0.oauthClient?.tls }
        blocks += configuration.routes.map(\.tls)
        var seen = Set<ConfigPosition>()
        var errors: [ConfigError] = []
        for tls in blocks {
            let checks: [(TLSPolicyText?, (String) -> String?)] = [
                (tls.ciphers, TLSPolicyValidator.problem(cipherList:)),
                (tls.ciphersuites, TLSPolicyValidator.problem(cipherSuites:)),
                (tls.curves, TLSPolicyValidator.problem(groups:)),
            ]
            for (text, problem) in checks {
                guard let text, seen.insert(text.position).inserted, let message = problem(text.value) else { continue }
                errors.append(text.position.error(message))
            }
        }
        return errors
    }
}
