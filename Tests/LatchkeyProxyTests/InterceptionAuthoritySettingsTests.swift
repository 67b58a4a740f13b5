import Foundation
import LatchkeyConfig
import LatchkeyProxy
import LatchkeyTLS
import Testing

/// The config-facing check of the interception CA: what OpenSSL finds is a ConfigError at the right key.
@Suite struct InterceptionAuthoritySettingsTests {
    static let certificatePosition = ConfigPosition(
        file: "proxy.conf", line: 2, column: 12, keyPath: "intercept.ca_cert")
    static let keyPosition = ConfigPosition(file: "proxy.conf", line: 3, column: 11, keyPath: "intercept.ca_key")

    func settings(certificate: [UInt8], key: [UInt8]) -> InterceptSettings {
        InterceptSettings(
            caCertificatePEM: String(decoding: certificate, as: UTF8.self),
            caKey: SecretString(String(decoding: key, as: UTF8.self)), leafValidity: .seconds(7200),
            caCertificatePosition: Self.certificatePosition, caKeyPosition: Self.keyPosition)
    }

    @Test func aGeneratedCAMakesAnAuthority() throws {
        let ca = try InterceptionCAGenerator.generate(commonName: "test CA")
        let authority = try InterceptionAuthority.make(from: settings(certificate: ca.certificatePEM, key: ca.keyPEM))
        #expect(authority.leafValidity == .seconds(7200))
        #expect(authority.subject == "/CN=test CA")
    }

    @Test func aKeyOfAnotherCAIsAnErrorAtCaKeyWithoutKeyMaterial() throws {
        let ca = try InterceptionCAGenerator.generate(commonName: "test CA")
        let other = try InterceptionCAGenerator.generate(commonName: "other CA")
        let error = #expect(throws: ConfigErrors.self) {
            try InterceptionAuthority.make(from: settings(certificate: ca.certificatePEM, key: other.keyPEM))
        }
        let only = try #require(error?.errors.first)
        #expect(error?.errors.count == 1)
        #expect(only.keyPath == "intercept.ca_key" && only.line == 3)
        #expect(only.message.contains("does not belong to the CA certificate '/CN=test CA'"))
        let keyLines = String(decoding: other.keyPEM, as: UTF8.self).split(separator: "\n").filter {
            !$0.hasPrefix("-----")
        }
        #expect(keyLines.allSatisfy { !only.description.contains($0) })
    }

    @Test func aCertificateThatIsNotACAIsAnErrorAtCaCert() throws {
        let pem = try Self.selfSignedLeaf()
        let error = #expect(throws: ConfigErrors.self) {
            try InterceptionAuthority.make(from: settings(certificate: pem, key: pem))
        }
        #expect(error?.errors.first?.keyPath == "intercept.ca_cert")
        #expect(error?.errors.first?.message.contains("is not a CA") == true)
    }

    /// A self-signed certificate with CA:FALSE and its key, in one PEM (made with the openssl CLI).
    static func selfSignedLeaf() throws -> [UInt8] {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("latchkey-leaf-\(UUID())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
            "-subj", "/CN=leaf", "-addext", "basicConstraints=critical,CA:FALSE",
            "-keyout", directory.appendingPathComponent("k.pem").path, "-out",
            directory.appendingPathComponent("c.pem").path,
        ]
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return Array(try Data(contentsOf: directory.appendingPathComponent("c.pem")))
            + Array(try Data(contentsOf: directory.appendingPathComponent("k.pem")))
    }
}
