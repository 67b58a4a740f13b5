import ArgumentParser

/// `latchkey ca ...`: the interception CA (see docs/interception.md).
struct CACommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ca",
        abstract: "Manage the CA with which HTTPS_PROXY connections are intercepted.",
        subcommands: [CAInitCommand.self])
}
