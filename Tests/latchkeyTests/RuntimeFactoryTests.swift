import Foundation
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyMetrics
import LatchkeyProxy
import Logging
import Synchronization
import Testing

@testable import latchkey

/// The composition root's runtime builder: every process-wide collaborator is the one handed in, and what
/// a runtime holds is asked of `any CredentialSource`, never cast.
@Suite struct RuntimeFactoryTests {
    /// A token endpoint nobody reaches: these tests never fetch.
    final class Offline: TokenEndpointClient {
        func send(
            _ request: TokenEndpointRequest,
            completion: @escaping @Sendable (Result<TokenEndpointResponse, NetworkFailure>) -> Void
        ) {
            completion(.failure(NetworkFailure(reason: "offline")))
        }
    }

    static func factory(scrubber: SecretScrubber = SecretScrubber()) -> RuntimeFactory {
        RuntimeFactory(
            tokenClient: Offline(), pendingAuthorizations: AuthorizationStateStore(), scrubber: scrubber,
            metrics: LatchkeyMetrics(version: "test"), logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }))
    }

    static func configuration(password: String = "pw-one", stateDir: String? = nil) throws -> ProxyConfiguration {
        var yaml = """
            connections:
              partner: {type: basic, username: svc, password: "\(password)"}
              idp:
                type: oauth2_client_credentials
                token_url: https://idp.example.com/token
                client_id: latchkey
                client_secret: idp-secret-value
              crm:
                type: oauth2_authorization_code
                authorize_url: https://crm.example.com/authorize
                token_url: https://crm.example.com/token
                client_id: latchkey

            """
        if let stateDir {
            yaml += "state_dir: \(stateDir)\nstate_key: \(Data(repeating: 7, count: 32).base64EncodedString())\n"
        }
        return try ConfigLoader.parse(yaml: yaml, path: "test.conf", environment: [:])
    }

    @Test func eachConnectionTypeGetsItsSourceWiredToTheFactorysCollaborators() throws {
        let directory = NSTemporaryDirectory() + "latchkey-factory-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let scrubber = SecretScrubber()
        let runtime = try Self.factory(scrubber: scrubber).makeRuntime(configuration: Self.configuration(stateDir: directory))
        let partner = try #require(runtime.sources["partner"])
        guard case .fixed = partner.sourceStatus else {
            Issue.record("partner: \(partner.sourceStatus)")
            return
        }
        // The basic header's base64 went to this factory's scrubber (the config's own values are the loader's job).
        let header = try #require(partner.currentCredential(for: .connectionDefault) ?? nil).headerValue.value
        #expect(scrubber.containsSecret(String(header.dropFirst("Basic ".count))))
        let idp = try #require(runtime.sources["idp"])
        guard case .token = idp.sourceStatus else {
            Issue.record("idp: \(idp.sourceStatus)")
            return
        }
        #expect(idp.providerCheck != nil && idp.consent == nil)
        let crm = try #require(runtime.sources["crm"])
        guard case .authorizationCode(let status) = crm.sourceStatus else {
            Issue.record("crm: \(crm.sourceStatus)")
            return
        }
        #expect(status.state == .needsConsent)
        #expect(crm.consent != nil && crm.providerCheck == nil)
    }

    @Test func withoutUsableStateFilesAnAuthorizationCodeConnectionFailsClosed() throws {
        // A state_dir under a regular file can never be opened.
        let file = NSTemporaryDirectory() + "latchkey-factory-\(UUID().uuidString)"
        #expect(FileManager.default.createFile(atPath: file, contents: Data()))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let runtime = try Self.factory().makeRuntime(configuration: Self.configuration(stateDir: file + "/state"))
        let crm = try #require(runtime.sources["crm"])
        #expect(crm.consent == nil)  // nothing to consent to: the connection cannot hold a grant
        #expect(crm.currentCredential(for: .connectionDefault) == nil)
    }

    @Test func aReloadKeepsUnchangedSourcesAndRebuildsChangedOnes() throws {
        let directory = NSTemporaryDirectory() + "latchkey-factory-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let factory = Self.factory()
        let first = try factory.makeRuntime(configuration: Self.configuration(password: "pw-one", stateDir: directory))
        let second = try factory.makeRuntime(
            configuration: Self.configuration(password: "pw-two", stateDir: directory), previous: first)
        #expect(second.sources["idp"] === first.sources["idp"])  // cached tokens survive the reload
        #expect(second.sources["crm"] === first.sources["crm"])
        #expect(second.sources["partner"] !== first.sources["partner"])
    }
}

extension RuntimeFactoryTests {
    /// `cold_pages` releases once the warm-up's fetches are done; with none to make it hears so at once.
    @Test func aWarmUpWithNothingToFetchReportsZeroAtOnce() throws {
        let factory = Self.factory()
        let runtime = try factory.makeRuntime(
            configuration: try ConfigLoader.parse(
                yaml: "connections:\n  partner: {type: basic, username: svc, password: pw}\n", path: "test.conf",
                environment: [:]))
        let reported = Mutex<[Int]>([])
        factory.warmUp(runtime) { count in reported.withLock { $0.append(count) } }
        #expect(reported.withLock { $0 } == [0])  // synchronously: no fetch was started
    }
}
