import ArgumentParser
import Dispatch
import Foundation
import LatchkeyConfig

/// `latchkey connect NAME`: starts consent for an authorization-code connection on the running proxy,
/// prints the URL to open, and waits until the callback completes.
struct ConnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "connect",
        abstract: "Give consent for an oauth2_authorization_code connection of the running proxy.",
        discussion: """
            Prints the provider's consent URL and waits until the provider redirects back to the proxy's admin \
            listener. On a headless server, forward the admin port first (e.g. ssh -L 9901:127.0.0.1:9901 host, \
            or kubectl port-forward pod/NAME 9901) and open the URL on your machine.
            """)

    @Argument(help: "The connection's name.")
    var name: String

    @Option(name: .shortAndLong, help: "Path to the YAML config of the running proxy.")
    var config: String = "/etc/latchkey/proxy.conf"

    @Option(help: "Seconds to wait for the consent to complete.")
    var timeout: Int = 300

    func run() throws {
        let client = try AdminClient(configPath: config)
        // Only the admin address was read: no config secret is known here to scrub.
        let output = Output(scrubber: SecretScrubber())
        let before = try client.connection(name)["consented_at"] as? Double
        let start = try client.send("GET", "/connections/\(name)/connect")
        guard start.status == 302, let location = start.headers.first(where: { $0.0.lowercased() == "location" })?.1 else {
            throw CLIError("the proxy could not start consent for \(name): \(String(decoding: start.body, as: UTF8.self))")
        }
        Output.unscrubbedLine("Open this URL in a browser and approve the access:\n\n  \(location)\n")
        output.line("Waiting up to \(timeout) s for the provider to redirect back to the proxy...")
        let deadline = Date().addingTimeInterval(TimeInterval(timeout))
        while Date() < deadline {
            let entry = try client.connection(name)
            // The consent this command started, not a refresh rotation: `consented_at` moves only on consent.
            if entry["state"] as? String == "connected", let consented = entry["consented_at"] as? Double, consented != before {
                output.line("Connected: \(name) (scope: \(entry["scope"] as? String ?? "-"))")
                return
            }
            Thread.sleep(forTimeInterval: 1)
        }
        throw CLIError("no consent for \(name) within \(timeout) s; run the command again to get a fresh URL")
    }
}

/// `latchkey disconnect NAME`: revokes the refresh token at the provider (when it has a revocation
/// endpoint) and forgets it.
struct DisconnectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disconnect", abstract: "Revoke and forget the grant of an oauth2_authorization_code connection.")

    @Argument(help: "The connection's name.")
    var name: String

    @Option(name: .shortAndLong, help: "Path to the YAML config of the running proxy.")
    var config: String = "/etc/latchkey/proxy.conf"

    func run() throws {
        let client = try AdminClient(configPath: config)
        let response = try client.send("POST", "/connections/\(name)/disconnect")
        let text = String(decoding: response.body, as: UTF8.self)
        guard response.status == 200 else { throw CLIError("disconnect failed: \(text)") }
        let output = Output(scrubber: SecretScrubber())  // only the admin address was read: nothing to scrub
        output.line("Disconnected: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}
