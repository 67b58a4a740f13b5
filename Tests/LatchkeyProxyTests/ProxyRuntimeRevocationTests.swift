import Foundation
import LatchkeyConfig
import LatchkeyTLS
import Testing

@testable import LatchkeyProxy

/// Issue 16, revocation: routes checking revocation get contexts of their own (so results count per route),
/// the policy reaches the context, and a bad crl_file fails the build naming the route.
@Suite struct ProxyRuntimeRevocationTests {
    private func configuration(_ revocation: TLSRevocationMode, crlFile: String? = nil) -> ProxyConfiguration {
        var configuration = ProxyConfiguration(sourcePath: "test.conf")
        configuration.routes = ["a", "b"].map { name in
            var route = RouteSettings(name: name, timeoutMs: 1000, connectTimeoutMs: 1000)
            route.upstream = UpstreamURL(scheme: "https", host: "api.example", port: 443)
            route.tls.revocation = revocation
            route.tls.crlFile = crlFile
            return route
        }
        return configuration
    }

    private func runtime(_ configuration: ProxyConfiguration) throws -> ProxyRuntime {
        try ProxyRuntime(configuration: configuration) { _ in preconditionFailure("no connections") }
    }

    @Test func routesWithRevocationGetTheirOwnContexts() throws {
        let checked = try runtime(configuration(.soft))
        let a = try #require(checked.routes["a"]), b = try #require(checked.routes["b"])
        #expect(a.tls !== b.tls && a.http1TLS !== b.http1TLS)
        #expect(a.tls.configuration.revocation == .soft)
        let unchecked = try runtime(configuration(.off))
        #expect(unchecked.routes["a"]?.tls === unchecked.routes["b"]?.tls)
    }

    @Test func aBadCRLFileFailsTheBuildNamingTheRoute() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lk-crl-\(UUID().uuidString).pem").path
        try "not a CRL".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect {
            _ = try runtime(configuration(.hard, crlFile: path))
        } throws: { error in
            "\(error)".hasPrefix("route a: tls: CRL file '\(path)' holds no CRL")
        }
    }
}
