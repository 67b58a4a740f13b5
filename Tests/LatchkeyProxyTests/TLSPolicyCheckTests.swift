import LatchkeyConfig
import LatchkeyTLS
import Testing

@testable import LatchkeyProxy

/// OpenSSL's verdict on `ciphers`, `ciphersuites` and `curves`, reported at the line the string was written on.
@Suite struct TLSPolicyCheckTests {
    private func position(_ line: Int, _ key: String) -> ConfigPosition {
        ConfigPosition(file: "proxy.conf", line: line, column: 5, keyPath: key)
    }

    @Test func validStringsPass() {
        #expect(TLSPolicyValidator.problem(cipherList: "ECDHE+AESGCM:!aNULL:@STRENGTH") == nil)
        #expect(TLSPolicyValidator.problem(cipherList: "ECDHE-RSA-AES128-GCM-SHA256") == nil)
        #expect(TLSPolicyValidator.problem(cipherSuites: "TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256") == nil)
        #expect(TLSPolicyValidator.problem(groups: "X25519:P-256") == nil)
    }

    @Test func unknownNamesAreNamedEvenWhenOpenSSLWouldSkipThem() {
        #expect(TLSPolicyValidator.problem(cipherList: "ECDHE+AESGCM:NOPE")?.contains("'NOPE'") == true)
        #expect(TLSPolicyValidator.problem(cipherList: "!BOGUS:HIGH")?.contains("'BOGUS'") == true)
        #expect(TLSPolicyValidator.problem(cipherSuites: "TLS_AES_256_GCM_SHA384:TLS_FOO")?.contains("'TLS_FOO'") == true)
        #expect(TLSPolicyValidator.problem(groups: "X25519:P-999")?.contains("'P-999'") == true)
    }

    @Test func errorsCarryTheirPositionAndASharedDefaultIsReportedOnce() {
        var configuration = ProxyConfiguration(sourcePath: "proxy.conf")
        let bad = TLSPolicyText("NOPE", position: position(3, "tls.ciphers"))
        configuration.tls.ciphers = bad
        var inheriting = RouteSettings(name: "a", timeoutMs: 1000, connectTimeoutMs: 1000)
        inheriting.tls.ciphers = bad
        var own = RouteSettings(name: "b", timeoutMs: 1000, connectTimeoutMs: 1000)
        own.tls.curves = TLSPolicyText("P-999", position: position(9, "routes[1].tls.curves"))
        configuration.routes = [inheriting, own]
        let errors = TLSPolicyCheck.errors(in: configuration)
        #expect(errors.map(\.line) == [3, 9])
        #expect(errors.map(\.keyPath) == ["tls.ciphers", "routes[1].tls.curves"])
        #expect(errors.allSatisfy { $0.file == "proxy.conf" })
    }

    @Test func aContextAppliesThePolicy() throws {
        let configuration = TLSClientConfiguration(
            minimumVersion: .tls13, cipherList: "ECDHE+AESGCM", cipherSuites: "TLS_AES_256_GCM_SHA384", groups: "X25519")
        _ = try TLSClientContext(configuration: configuration)
    }
}
