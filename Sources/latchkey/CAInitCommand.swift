import ArgumentParser
import LatchkeyConfig
import LatchkeyTLS

#if canImport(Glibc)
    import Glibc
#endif

/// `latchkey ca init --out DIR [--name NAME] [--days N] [--force]`: makes the interception CA —
/// `DIR/ca.crt` (0644, what apps trust) and `DIR/ca.key` (0600, what only the proxy reads) — and
/// prints how to trust it and the `intercept:` block to add.
///
/// Refuses to replace an existing CA without `--force`: every app that trusts the old one would
/// have to be given the new one.
struct CAInitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Make a new interception CA (EC P-256, 10 years) and print how apps trust it.")

    @Option(name: .long, help: "Directory for ca.crt and ca.key (created if missing).")
    var out: String

    @Option(name: .long, help: "The CA's common name (default: 'Latchkey interception CA <this host>').")
    var name: String?

    @Option(name: .long, help: "Validity in days (default 3650, about 10 years).")
    var days: Int = InterceptionCAGenerator.defaultValidityDays

    @Flag(name: .long, help: "Replace an existing ca.crt / ca.key.")
    var force = false

    func run() throws {
        let directory = out.hasSuffix("/") && out.count > 1 ? String(out.dropLast()) : out
        let certificatePath = directory + "/ca.crt"
        let keyPath = directory + "/ca.key"
        let commonName = name ?? Self.defaultName()
        // Nothing printed holds the key; the scrubber makes sure a line of it never could.
        let scrubber = SecretScrubber()
        let output = Output(scrubber: scrubber)
        do {
            try CAFiles.makeDirectory(directory)
            if !force {
                for path in [certificatePath, keyPath] where CAFiles.exists(path) {
                    throw CAFiles.Failure(
                        "\(path) exists; pass --force to replace the CA (every app trusting the old one must then "
                            + "be given the new ca.crt)")
                }
            }
            let ca = try InterceptionCAGenerator.generate(commonName: commonName, validityDays: days)
            let keyText = String(decoding: ca.keyPEM, as: UTF8.self)
            scrubber.register(
                [keyText] + keyText.split(separator: "\n").filter { !$0.hasPrefix("-----") }.map(String.init))
            // The key first: a certificate without its key next to it would be useless.
            try CAFiles.write(ca.keyPEM, to: keyPath, mode: 0o600)
            try CAFiles.write(ca.certificatePEM, to: certificatePath, mode: 0o644)
            let fingerprint = (try? InterceptionCAGenerator.sha256Fingerprint(certificatePEM: ca.certificatePEM)) ?? "?"
            output.line(
                CATrustInstructions.render(
                    certificatePath: CAFiles.absolute(certificatePath), keyPath: CAFiles.absolute(keyPath),
                    commonName: commonName, days: days, fingerprint: fingerprint))
        } catch let error as TLSError {
            output.error("latchkey ca init: \(error.description)")
            throw ExitCode(1)
        } catch let error as CAFiles.Failure {
            output.error("latchkey ca init: \(error.message)")
            throw ExitCode(1)
        }
    }

    /// "Latchkey interception CA <hostname>", cut to the 64-byte bound of a common name.
    static func defaultName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        let host = gethostname(&buffer, buffer.count) == 0 ? buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) } : "localhost"
        let name = "Latchkey interception CA \(host)"
        return String(decoding: name.utf8.prefix(64), as: UTF8.self)
    }
}
