import Testing

@testable import LatchkeyConfig

/// `tls.revocation` and `tls.crl_file`: values, errors at the value, the top-level default merged into routes
/// and OAuth connections, and the CRL file watched for rotation.
@Suite struct TLSRevocationConfigTests {
    private let files = ["/etc/crl.pem": "CRL", "/etc/route-crl.pem": "CRL"]

    @Test func offByDefault() throws {
        let route = try #require(try parse("routes:\n  - host: a.example").routes.first)
        #expect(route.tls.revocation == .off && route.tls.crlFile == nil)
        #expect(!route.tls.policyDescription.contains("revocation"))
    }

    @Test(arguments: [("off", TLSRevocationMode.off), ("soft", .soft), ("hard", .hard), ("\"hard\"", .hard)])
    func modes(_ text: String, _ mode: TLSRevocationMode) throws {
        let yaml = "routes:\n  - host: a.example\n    tls:\n      revocation: \(text)"
        #expect(try parse(yaml).routes.first?.tls.revocation == mode)
    }

    @Test func aBadModeIsAnErrorAtTheValue() {
        expectSingleError(
            "routes:\n  - host: a.example\n    tls:\n      revocation: strict", line: 4, column: 19,
            keyPath: "routes[0].tls.revocation", message: "invalid revocation mode 'strict'; expected off, soft or hard")
    }

    @Test func anUnreadableCRLFileIsAnError() {
        let found = errors("routes:\n  - host: a.example\n    tls:\n      crl_file: /nope.pem")
        #expect(found.count == 1)
        #expect(found.first?.keyPath == "routes[0].tls.crl_file")
    }

    @Test func theTopLevelDefaultAppliesAndARouteOverridesIt() throws {
        let yaml = """
            tls:
              revocation: soft
              crl_file: /etc/crl.pem
            connections:
              idp:
                type: oauth2_client_credentials
                token_url: https://idp.example/token
                client_id: c
                client_secret: s
            routes:
              - host: a.example
              - host: b.example
                tls:
                  revocation: hard
                  crl_file: /etc/route-crl.pem
            """
        let config = try parse(yaml, files: files)
        #expect(config.routes[0].tls.revocation == .soft && config.routes[0].tls.crlFile == "/etc/crl.pem")
        #expect(config.routes[1].tls.revocation == .hard && config.routes[1].tls.crlFile == "/etc/route-crl.pem")
        #expect(config.connections[0].oauthClient?.tls.revocation == .soft)
        #expect(config.routes[1].tls.policyDescription.contains("revocation=hard crl_file=/etc/route-crl.pem"))
        #expect(config.tlsFiles.contains("/etc/crl.pem") && config.tlsFiles.contains("/etc/route-crl.pem"))
    }
}

extension TLSRevocationConfigTests {
    @Test func revocationWithInsecureSkipVerifyIsIgnoredWithAWarning() throws {
        let yaml = "tls:\n  revocation: hard\nroutes:\n  - host: a.example\n    tls: {insecure_skip_verify: true}"
        let config = try parse(yaml)
        #expect(config.warnings.contains { $0.contains("revocation: hard is ignored") })
    }
}
