import Foundation
import Testing

@testable import LatchkeyConfig

/// `intercept:` and the per-route `intercept:` key (issue 12).
@Suite struct InterceptConfigTests {
    static let certificate = "-----BEGIN CERTIFICATE-----\nMIIBdummycertificatebody\n-----END CERTIFICATE-----\n"
    static let keyBody = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSECRETKEYLINE"
    static let key = "-----BEGIN PRIVATE KEY-----\n\(keyBody)\n-----END PRIVATE KEY-----\n"
    static let files = ["/etc/latchkey/ca.crt": certificate, "/etc/latchkey/ca.key": key]

    static let block = """
        intercept:
          ca_cert: /etc/latchkey/ca.crt
          ca_key: /etc/latchkey/ca.key

        """

    @Test func absentMeansNoInterception() throws {
        #expect(try parse("").intercept == nil)
    }

    @Test func filesAreReadAndTheDefaultValidityIs24Hours() throws {
        let configuration = try parse(Self.block, files: Self.files)
        let intercept = try #require(configuration.intercept)
        #expect(intercept.caCertificatePEM == Self.certificate)
        #expect(intercept.caKey.value == Self.key)
        #expect(intercept.leafValidity == .seconds(86400))
        #expect(intercept.caCertificateFile == "/etc/latchkey/ca.crt")
        #expect(intercept.caKeyFile == "/etc/latchkey/ca.key")
        #expect(
            intercept.caKeyPosition
                == ConfigPosition(file: "proxy.conf", line: 3, column: 11, keyPath: "intercept.ca_key"))
        #expect(intercept.caCertificatePosition.line == 2)
        // Both files are watched: a CA rotated on disk reloads.
        #expect(configuration.secretFiles.contains("/etc/latchkey/ca.key"))
        #expect(configuration.secretFiles.contains("/etc/latchkey/ca.crt"))
    }

    @Test func theKeyIsSensitiveWholeAndLineByLineAndNeverSummarized() throws {
        let configuration = try parse(Self.block, files: Self.files)
        #expect(configuration.sensitiveValues.contains(Self.key))
        #expect(configuration.sensitiveValues.contains(Self.keyBody))
        #expect(!configuration.sensitiveValues.contains(Self.certificate))
        let scrubber = SecretScrubber()
        configuration.registerSecrets(with: scrubber)
        #expect(scrubber.scrub("leaked \(Self.keyBody) here") == "leaked [redacted] here")
        let summary = ConfigSummary.render(configuration)
        #expect(
            summary.contains("intercept: ca_cert=/etc/latchkey/ca.crt ca_key=/etc/latchkey/ca.key leaf_validity=24h"))
        #expect(!summary.contains(Self.keyBody))
    }

    @Test func inlinePEMFromASecretWorks() throws {
        let configuration = try parse(
            """
            secrets:
              ca: {env: CA_KEY}
            intercept:
              ca_cert: /etc/latchkey/ca.crt
              ca_key: "{{secret:ca}}"
            """, environment: ["CA_KEY": Self.key], files: Self.files)
        let intercept = try #require(configuration.intercept)
        #expect(intercept.caKey.value == Self.key)
        #expect(intercept.caKeyFile == nil)
        #expect(configuration.sensitiveValues.contains(Self.keyBody))
        #expect(ConfigSummary.render(configuration).contains("ca_key=<secret>"))
    }

    @Test(arguments: [
        ("1h", 3600), ("90m", 5400), ("24h", 86400), ("7d", 604_800), ("30d", 2_592_000), ("3600s", 3600),
    ])
    func leafValidityTakesDurations(text: String, seconds: Int64) throws {
        let configuration = try parse(Self.block + "  leaf_validity: \(text)\n", files: Self.files)
        #expect(configuration.intercept?.leafValidity == .seconds(seconds))
    }

    @Test(arguments: [
        ("59m", "must be between 1h and 30d"), ("31d", "must be between 1h and 30d"), ("0h", "must be between"),
        ("24", "expected a duration such as 24h"), ("1w", "expected a duration"), ("-1h", "expected a duration"),
        ("h", "expected a duration"), ("99999999999999999999d", "expected a duration"),
    ])
    func leafValidityOutOfBoundsIsAnErrorAtTheKey(text: String, message: String) {
        expectSingleError(
            Self.block + "  leaf_validity: \(text)\n", files: Self.files, line: 4, column: 18,
            keyPath: "intercept.leaf_validity", message: message)
    }

    @Test func unreadableFileIsAnErrorAtTheKey() {
        expectSingleError(
            "intercept:\n  ca_cert: /etc/latchkey/ca.crt\n  ca_key: /nowhere/ca.key\n", files: Self.files, line: 3,
            column: 11, keyPath: "intercept.ca_key", message: "cannot read '/nowhere/ca.key': no such file")
    }

    @Test func missingKeyIsAnError() {
        expectSingleError(
            "intercept:\n  ca_cert: /etc/latchkey/ca.crt\n", files: Self.files, line: 2, column: 3,
            keyPath: "intercept",
            message: "missing required key 'ca_key'")
    }

    @Test func swappedFilesAreNotPEMOfTheRightKind() {
        let found = errors(
            "intercept:\n  ca_cert: /etc/latchkey/ca.key\n  ca_key: /etc/latchkey/ca.crt\n", files: Self.files)
        #expect(found.map(\.keyPath) == ["intercept.ca_cert", "intercept.ca_key"])
        #expect(found.allSatisfy { $0.message.contains("is not PEM") })
        #expect(!found.map(\.description).joined().contains(Self.keyBody))
    }

    @Test func encryptedKeyIsRefused() {
        let encrypted =
            "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIFHDBOBgkqhkiG9w0BBQ0wQTApBgkqhkiG9w0BBQwwHAQI\n"
            + "-----END ENCRYPTED PRIVATE KEY-----\n"
        expectSingleError(
            Self.block, files: Self.files.merging(["/etc/latchkey/ca.key": encrypted]) { $1 }, line: 3, column: 11,
            keyPath: "intercept.ca_key", message: "encrypted key")
    }

    @Test func misspeltKeySuggestsTheRightOne() {
        let found = errors(Self.block + "  leaf_valdity: 2h\n", files: Self.files)
        #expect(found.first?.keyPath == "intercept.leaf_valdity")
        #expect(found.first?.suggestion == "did you mean 'leaf_validity'?")
    }

    @Test func routesAreInterceptedUnlessTheySayFalse() throws {
        let configuration = try parse(
            Self.block + """
                routes:
                  - host: api.example
                  - host: pinned.example
                    intercept: false
                """, files: Self.files)
        #expect(configuration.routes.map(\.intercept) == [true, false])
        #expect(configuration.warnings.isEmpty)
        #expect(ConfigSummary.render(configuration).contains("intercept=false"))
    }

    @Test func routeInterceptMustBeABoolean() {
        expectSingleError(
            "routes:\n  - host: api.example\n    intercept: sometimes\n", line: 3, column: 16,
            keyPath: "routes[0].intercept", message: "expected true or false")
    }

    @Test func routeInterceptFalseWithoutTheBlockIsAWarning() throws {
        let configuration = try parse("routes:\n  - host: api.example\n    intercept: false\n")
        #expect(configuration.warnings.count == 1)
        #expect(
            configuration.warnings.first?.contains(
                "routes[0].intercept: has no effect without a top-level 'intercept:'") == true)
    }

    /// The commented `intercept:` block of proxy.conf.example and the one in docs/configuration.md load as written.
    @Test func documentedBlocksLoad() throws {
        let example = try String(contentsOfFile: Fixture.examplePath, encoding: .utf8)
        let lines = example.components(separatedBy: "\n").drop { $0 != "# intercept:" }.prefix { !$0.isEmpty }
        let uncommented = lines.map { String($0.dropFirst(2)) }.joined(separator: "\n")
        #expect(try parse(uncommented, files: Self.files).intercept?.leafValidity == .seconds(86400))

        let docs = URL(fileURLWithPath: Fixture.examplePath).deletingLastPathComponent()
            .appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "### `intercept`").dropFirst().first)
        let yaml = try #require(
            section.components(separatedBy: "```yaml\n").dropFirst().first?.components(separatedBy: "```").first)
        #expect(try parse(yaml, files: Self.files).intercept != nil)
    }
}
