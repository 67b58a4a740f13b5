import Foundation

/// PEM files minted once per test run with the `openssl` CLI into a temporary directory:
/// a trusted CA, a server certificate it signed (SAN DNS:localhost, IP:127.0.0.1), a client
/// certificate it signed, and a second, untrusted CA with a server certificate of its own.
struct TestCertificates: Sendable {
    let directory: URL

    var caFile: String { path("ca.pem") }
    var serverCertificate: String { path("server.pem") }
    var serverKey: String { path("server.key") }
    var clientCertificate: String { path("client.pem") }
    var clientKey: String { path("client.key") }
    var untrustedCAFile: String { path("untrusted-ca.pem") }
    var untrustedServerCertificate: String { path("untrusted-server.pem") }
    var untrustedServerKey: String { path("untrusted-server.key") }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// The run's certificates, created on first use (global `let`s initialize once, thread-safely).
    static var shared: TestCertificates {
        get throws { try sharedResult.get() }
    }

    private static let sharedResult = Result { try TestCertificates.mint() }

    private static func mint() throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("latchkey-tls-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let certificates = TestCertificates(directory: directory)
        try certificates.makeCA("ca", subject: "/CN=Latchkey Test CA")
        try certificates.makeCA("untrusted-ca", subject: "/CN=Untrusted Test CA")
        try certificates.makeLeaf(
            "server", subject: "/CN=localhost", ca: "ca",
            extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try certificates.makeLeaf(
            "untrusted-server", subject: "/CN=localhost", ca: "untrusted-ca",
            extensions: "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
        try certificates.makeLeaf(
            "client", subject: "/CN=latchkey-client", ca: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        return certificates
    }

    private func makeCA(_ name: String, subject: String) throws {
        try openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "2", "-subj", subject,
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    private func makeLeaf(_ name: String, subject: String, ca: String, extensions: String) throws {
        try ("basicConstraints=CA:FALSE\n" + extensions).write(
            toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl([
            "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject,
        ])
        try openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
            "-set_serial", "\(Int.random(in: 1...Int(Int32.max)))", "-days", "2",
            "-extfile", path("\(name).ext"), "-out", path("\(name).pem"),
        ])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let output = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw MintError(
                message: "openssl \(arguments.joined(separator: " ")): \(String(decoding: output, as: UTF8.self))")
        }
    }

    struct MintError: Error, CustomStringConvertible {
        let message: String
        var description: String { message }
    }
}
