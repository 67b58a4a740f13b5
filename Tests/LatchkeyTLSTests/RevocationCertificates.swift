import Foundation

/// A CA run with `openssl ca` for the revocation tests: a good and a revoked localhost certificate, one naming
/// CRL distribution points (one http, one ldap), one naming three http ones, a CRL revoking the revoked one
/// (PEM and DER), and `cdp-stranger.pem`: the cdp certificate followed by a self-signed stranger whose
/// distribution point is on loopback (a server may send certificates that are not part of its chain).
/// Minted once per test run.
struct RevocationCertificates: Sendable {
    let directory: URL
    static let distributionPoint = "http://crl.test/ca.crl"
    static let strangerDistributionPoint = "http://127.0.0.1:9/stranger.crl"
    static let manyDistributionPoints = ["http://crl.test/1.crl", "http://crl.test/2.crl", "http://crl.test/3.crl"]

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
    var caFile: String { path("ca.pem") }
    var crlPEM: String { path("ca.crl.pem") }
    var crlDER: String { path("ca.crl.der") }
    var revokedSerial: String { (try? String(contentsOfFile: path("revoked.serial"), encoding: .utf8)) ?? "?" }

    static var shared: RevocationCertificates {
        get throws { try sharedResult.get() }
    }
    private static let sharedResult = Result { try RevocationCertificates.mint() }

    /// The minted directory, removed when the test process exits (every `swift test` run mints one).
    nonisolated(unsafe) private static var mintedDirectory: String?
    private static func removeAtExit(_ directory: String) {
        mintedDirectory = directory  // written once, under `sharedResult`'s one-time initialisation
        atexit {
            if let directory = RevocationCertificates.mintedDirectory {
                try? FileManager.default.removeItem(atPath: directory)
            }
        }
    }

    private static func mint() throws -> RevocationCertificates {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("latchkey-revocation-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(
            at: directory.appendingPathComponent("newcerts"), withIntermediateDirectories: true)
        removeAtExit(directory.path)
        let pki = RevocationCertificates(directory: directory)
        try "".write(toFile: pki.path("index.txt"), atomically: true, encoding: .utf8)
        try "2000\n".write(toFile: pki.path("serial"), atomically: true, encoding: .utf8)
        try "01\n".write(toFile: pki.path("crlnumber"), atomically: true, encoding: .utf8)
        let leaf = """
            basicConstraints = CA:FALSE
            extendedKeyUsage = serverAuth
            subjectAltName = DNS:localhost
            """
        try """
        [ ca ]
        default_ca = test
        [ test ]
        database = \(pki.path("index.txt"))
        new_certs_dir = \(pki.path("newcerts"))
        certificate = \(pki.caFile)
        private_key = \(pki.path("ca.key"))
        serial = \(pki.path("serial"))
        crlnumber = \(pki.path("crlnumber"))
        default_md = sha256
        default_days = 2
        default_crl_days = 1
        policy = any
        unique_subject = no
        [ any ]
        commonName = supplied
        [ leaf ]
        \(leaf)
        [ leaf_cdp ]
        \(leaf)
        crlDistributionPoints = URI:\(distributionPoint), URI:ldap://ldap.test/cn=ca
        [ leaf_many_cdp ]
        \(leaf)
        crlDistributionPoints = \(manyDistributionPoints.map { "URI:\($0)" }.joined(separator: ", "))
        """.write(toFile: pki.path("ca.cnf"), atomically: true, encoding: .utf8)
        try pki.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", pki.path("ca.key"), "-out", pki.caFile, "-days", "2", "-subj", "/CN=Revocation Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
        let leaves = [("good", "leaf"), ("revoked", "leaf"), ("cdp", "leaf_cdp"), ("many-cdp", "leaf_many_cdp")]
        for (name, section) in leaves {
            try pki.openssl([
                "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-keyout", pki.path("\(name).key"), "-out", pki.path("\(name).csr"), "-subj", "/CN=\(name)",
            ])
            try pki.ca(["-in", pki.path("\(name).csr"), "-out", pki.path("\(name).pem"), "-extensions", section])
        }
        try pki.ca(["-revoke", pki.path("revoked.pem")])
        try pki.openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", pki.path("stranger.key"), "-out", pki.path("stranger.pem"), "-days", "2",
            "-subj", "/CN=stranger",
            "-addext", "crlDistributionPoints=URI:\(strangerDistributionPoint)",
        ])
        let cdpAndStranger = try fileBytes(pki.path("cdp.pem")) + fileBytes(pki.path("stranger.pem"))
        try Data(cdpAndStranger).write(to: URL(fileURLWithPath: pki.path("cdp-stranger.pem")))
        try FileManager.default.copyItem(atPath: pki.path("cdp.key"), toPath: pki.path("cdp-stranger.key"))
        try pki.ca(["-gencrl", "-out", pki.crlPEM])
        try pki.openssl(["crl", "-in", pki.crlPEM, "-outform", "DER", "-out", pki.crlDER])
        // Valid for one second: expired by the time a test that needs it has waited for that second to pass.
        try pki.ca(["-gencrl", "-crlsec", "1", "-out", pki.path("expired.crl.pem")])
        let serial = try String(contentsOfFile: pki.path("index.txt"), encoding: .utf8)
            .split(separator: "\n").first { $0.hasPrefix("R") }?.split(separator: "\t")[3] ?? "?"
        try String(serial).write(toFile: pki.path("revoked.serial"), atomically: true, encoding: .utf8)
        return pki
    }

    private func ca(_ arguments: [String]) throws {
        try openssl(["ca", "-batch", "-notext", "-config", path("ca.cnf")] + arguments)
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
            throw TestCertificates.MintError(
                message: "openssl \(arguments.joined(separator: " ")): \(String(decoding: output, as: UTF8.self))")
        }
    }
}
