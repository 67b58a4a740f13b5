import ArgumentParser
import Dispatch
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyNet
import LatchkeyProxy
import Logging
import Synchronization

/// `latchkey check --config FILE`: validate, print what was understood, and fetch a token for every OAuth
/// connection, printing `Connected` or the provider's error. Non-zero exit on any error.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate a config, print its routes and connections, and test every OAuth connection.")

    @Option(name: .shortAndLong, help: "Path to the YAML config.")
    var config: String = "/etc/latchkey/proxy.conf"

    @Flag(name: .long, help: "Only validate; do not contact token endpoints.")
    var offline = false

    @Flag(
        name: .long,
        help: "Validate structure and references without reading any secret (files, environment variables, keys, certificates, state_key); implies --offline. For CI, where the secrets are absent."
    )
    var skipSecrets = false

    func run() throws {
        // The composition root of `check`: its own scrubber, token client and consent store.
        let scrubber = SecretScrubber()
        let output = Output(scrubber: scrubber)
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: config, scrubber: scrubber, readsSecrets: !skipSecrets)
        } catch {
            output.error("\(error)")
            throw ExitCode(1)
        }
        output.line(ConfigSummary.render(configuration))
        guard !skipSecrets else {
            // No runtime: building one would parse the placeholder keys and open the state files. The TLS
            // policy strings read no secret, so they are checked here too.
            let policyErrors = TLSPolicyCheck.errors(in: configuration)
            if !policyErrors.isEmpty {
                output.error("\(ConfigErrors(errors: policyErrors))")
                throw ExitCode(1)
            }
            output.line("configuration structure OK (secrets not read; keys, certificates and token endpoints not checked)")
            return
        }
        let runtime: ProxyRuntime
        do {
            var logger = Logger(label: "latchkey.check")
            logger.logLevel = .critical
            let factory = RuntimeFactory(
                tokenClient: UpstreamHTTPClient(
                    loop: EventLoop(label: "latchkey.token-client", backend: .dispatch), ownListeners: OwnListeners()),
                pendingAuthorizations: AuthorizationStateStore(), scrubber: scrubber,
                metrics: LatchkeyMetrics(version: LatchkeyVersion.current), logger: logger,
                revocation: offline ? .offline(logger: logger) : RunCommand.revocation(OwnListeners(), logger))
            runtime = try factory.makeRuntime(configuration: configuration)
        } catch {
            output.error("\(error)")
            throw ExitCode(1)
        }
        guard !offline else {
            output.line("configuration OK (token endpoints not contacted)")
            return
        }
        var failures = Self.checkOAuthConnections(runtime, output: output)
        failures += Self.checkRevocation(
            runtime, loop: EventLoop(label: "latchkey.check.revocation", backend: .dispatch), output: output)
        if let settings = configuration.sharedStore, !Self.checkSharedStore(settings, output: output) { failures += 1 }
        if failures > 0 {
            output.line("configuration OK, but \(failures) connection(s), route revocation check(s) or the shared store failed")
            throw ExitCode(1)
        }
        output.line("configuration OK")
    }

    /// Fetches one token per OAuth connection, all at once; prints a line each; returns how many failed.
    static func checkOAuthConnections(_ runtime: ProxyRuntime, output: Output) -> Int {
        let checks = runtime.configuration.connections.compactMap { connection in
            runtime.sources[connection.name]?.providerCheck.map { (name: connection.name, check: $0) }
        }
        let lines = Mutex<[String: (Bool, String)]>([:])
        let group = DispatchGroup()
        for (name, check) in checks {
            group.enter()
            check.check(timeout: nil) { result in
                let line: (Bool, String)
                switch result {
                case .success(let outcome):
                    let expiry = outcome.expiresIn.map { " (token expires in \(AccessLogFormat.seconds($0)) s)" } ?? ""
                    line = (true, "connection \(name): Connected to \(outcome.tokenURL)\(expiry)")
                case .failure(let error):
                    line = (false, "connection \(name): error: \(error.detail)")
                }
                lines.withLock { $0[name] = line }
                group.leave()
            }
        }
        group.wait()
        var failures = 0
        for (name, check) in checks {
            guard let (ok, text) = lines.withLock({ $0[name] }) else { continue }
            output.line(text)
            for detail in discoveryLines(check) { output.line("  " + detail) }
            if !ok { failures += 1 }
        }
        return failures
    }

    /// What discovery found for `check` (endpoints, `token_endpoint_auth_methods_supported`,
    /// `scopes_supported`), one fact a line; empty when the connection does not use discovery.
    static func discoveryLines(_ check: any ProviderCheck) -> [String] {
        guard let metadata = check.discoveryReport() else { return [] }
        var lines: [String] = []
        if let issuer = metadata.issuer { lines.append("issuer: \(issuer)") }
        if let plain = metadata.plainTokenEndpoint {
            lines.append("token_endpoint: \(plain)")
            lines.append("mtls token_endpoint (used): \(metadata.tokenEndpoint)")
        } else {
            lines.append("token_endpoint: \(metadata.tokenEndpoint)")
        }
        if let url = metadata.authorizationEndpoint { lines.append("authorization_endpoint: \(url)") }
        if let url = metadata.revocationEndpoint { lines.append("revocation_endpoint: \(url)") }
        lines.append("token_endpoint_auth_methods_supported: " + metadata.authMethodsSupported.joined(separator: " "))
        lines.append("scopes_supported: " + (metadata.scopesSupported.map { $0.joined(separator: " ") } ?? "(not published)"))
        return lines
    }
}

/// Small formatting helpers for CLI output.
enum AccessLogFormat {
    static func seconds(_ duration: Duration) -> Int { Int(duration.components.seconds) }
}
