import Foundation
import LatchkeyConfig
import LatchkeyTLS
import Testing

@testable import LatchkeyProxy

/// Issue 16, rotation: each runtime builds its TLS contexts from the files as they are now, even from an equal
/// configuration value, and a broken file fails the build (so a reload keeps the running runtime).
@Suite struct ProxyRuntimeTLSTests {
    private func configuration(ca: String) -> ProxyConfiguration {
        var configuration = ProxyConfiguration(sourcePath: "test.conf")
        var route = RouteSettings(name: "api", timeoutMs: 1000, connectTimeoutMs: 1000)
        route.upstream = UpstreamURL(scheme: "https", host: "api.example", port: 443)
        route.tls = TLSSettings(caFile: ca, minVersion: .tls13, curves: TLSPolicyText("X25519"))
        configuration.routes = [route]
        return configuration
    }

    private func runtime(_ configuration: ProxyConfiguration) throws -> ProxyRuntime {
        try ProxyRuntime(configuration: configuration) { _ in preconditionFailure("no connections") }
    }

    private func temporaryFile(_ text: String) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("lk-tls-\(UUID().uuidString).pem").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func anEqualConfigurationStillGetsNewContexts() throws {
        let ca = try temporaryFile(String(decoding: TestCA.authority.certificatePEM, as: UTF8.self))
        defer { try? FileManager.default.removeItem(atPath: ca) }
        let first = try runtime(configuration(ca: ca))
        let second = try runtime(configuration(ca: ca))
        let route = try #require(first.routes["api"])
        #expect(route.tls.configuration.minimumVersion == .tls13)
        #expect(route.tls.configuration.groups == "X25519")
        #expect(second.routes["api"]?.tls !== route.tls, "a reload must not reuse a context made from older files")
        #expect(first.clientContexts.count == second.clientContexts.count)
    }

    @Test func aBrokenCAFileFailsTheBuildNamingTheRoute() throws {
        let ca = try temporaryFile("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        defer { try? FileManager.default.removeItem(atPath: ca) }
        #expect {
            _ = try runtime(configuration(ca: ca))
        } throws: { error in
            "\(error)".hasPrefix("route api: tls: cannot load CA file '\(ca)'")
        }
    }
}
