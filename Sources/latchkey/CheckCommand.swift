import ArgumentParser
import LatchkeyConfig
import LatchkeyProxy

/// `latchkey check --config FILE`: validate and print what was understood; non-zero on errors.
struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check", abstract: "Validate a config and print the routes and connections it defines.")

    @Option(name: .shortAndLong, help: "Path to the YAML config.")
    var config: String = "/etc/latchkey/proxy.conf"

    func run() throws {
        let configuration: ProxyConfiguration
        do {
            configuration = try ConfigLoader.load(path: config)
        } catch {
            Output.error("\(error)")
            throw ExitCode(1)
        }
        Output.line(ConfigSummary.render(configuration))
        Output.line("configuration OK")
    }
}
