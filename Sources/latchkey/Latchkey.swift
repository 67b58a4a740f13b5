import ArgumentParser

/// `latchkey`: the command line.
@main
struct Latchkey: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latchkey",
        abstract: "An authenticating forward proxy: apps call APIs through it, it injects the credentials.",
        version: LatchkeyVersion.current,
        subcommands: [RunCommand.self, CheckCommand.self, ConnectCommand.self, DisconnectCommand.self, CACommand.self]
    )
}

/// The version printed by `latchkey --version`.
enum LatchkeyVersion {
    static let current = "0.1.0"
}
