import Foundation
import LatchkeyTLS

/// An interception CA for the proxy's unit tests: EC P-256, made once per test process with the openssl CLI
/// in a temporary directory (so no key is committed).
enum TestCA {
    static let authority: InterceptionAuthority = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
            "latchkey-proxy-test-ca-\(getpid())")
        try! FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        openssl.currentDirectoryURL = directory
        openssl.arguments = [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
            "-out", "ca.crt", "-days", "2", "-subj", "/CN=Latchkey proxy test CA",
            "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try! openssl.run()
        openssl.waitUntilExit()
        let certificate = try! Data(contentsOf: directory.appendingPathComponent("ca.crt"))
        let key = try! Data(contentsOf: directory.appendingPathComponent("ca.key"))
        try? FileManager.default.removeItem(at: directory)
        return try! InterceptionAuthority(
            certificatePEM: Array(certificate), keyPEM: Array(key), leafValidity: .seconds(86400))
    }()
}
