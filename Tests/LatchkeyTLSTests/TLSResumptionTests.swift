@testable import LatchkeyTLS
import Testing

/// Session resumption: a client context keeps the sessions (TLS 1.3 tickets) its servers issue, per
/// peer, and the next engine for the same peer offers one.
@Suite struct TLSResumptionTests {
    let certificates: TestCertificates
    let clientContext: TLSClientContext
    let serverContext: TLSServerContext

    init() throws {
        certificates = try TestCertificates.shared
        clientContext = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        serverContext = try TLSServerContext(configuration: trustedServer(certificates))
    }

    /// Handshakes, then has the server answer once so the client reads the tickets sent after the
    /// handshake (TLS 1.3 delivers them as post-handshake messages).
    private func connect(
        peer: String?, client context: TLSClientContext? = nil, server: TLSServerContext? = nil
    ) throws -> TLSEngine {
        let client = try TLSEngine(context: context ?? clientContext, serverName: "localhost", peer: peer)
        let pair = EnginePair(client: client, server: try TLSEngine(context: server ?? serverContext))
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        let (_, received, _) = pair.send(Array("hello".utf8), from: pair.server, to: pair.client)
        #expect(received == Array("hello".utf8))
        return client
    }

    @Test func aSecondConnectionToTheSamePeerResumes() throws {
        let first = try connect(peer: "localhost:443")
        #expect(!first.resumedSession)
        let second = try connect(peer: "localhost:443")
        #expect(second.resumedSession)
        #expect(second.negotiatedVersion == "TLSv1.3")
        let third = try connect(peer: "localhost:443")
        #expect(third.resumedSession)
    }

    @Test func aSessionIsNeverOfferedToAnotherPeer() throws {
        _ = try connect(peer: "localhost:443")
        #expect(try !connect(peer: "localhost:8443").resumedSession)
        #expect(try !connect(peer: "127.0.0.1:443").resumedSession)
    }

    @Test func aSessionIsNeverOfferedUnderAnotherContext() throws {
        _ = try connect(peer: "localhost:443")
        let other = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        #expect(try !connect(peer: "localhost:443", client: other).resumedSession)
    }

    @Test func withoutAPeerNothingIsKeptOrOffered() throws {
        _ = try connect(peer: nil)
        #expect(try !connect(peer: nil).resumedSession)
        _ = try connect(peer: "localhost:443")
        #expect(try !connect(peer: nil).resumedSession)
    }

    @Test func aServerThatCannotResumeGetsAFullHandshake() throws {
        _ = try connect(peer: "localhost:443")
        // A new server context has other ticket keys: the offered ticket is refused, the handshake
        // falls back to a full one and still verifies the certificate.
        let restarted = try TLSServerContext(configuration: trustedServer(certificates))
        let client = try connect(peer: "localhost:443", server: restarted)
        #expect(!client.resumedSession)
        #expect(client.isHandshakeComplete)
    }

    @Test func ticketsAreUsedOnceAndTheStoreStaysBounded() throws {
        // OpenSSL servers issue two tickets after a full handshake and one after a resumption; each
        // connection takes one, so every connection after the first resumes and the store never grows
        // past its bound.
        for round in 0..<20 {
            let client = try connect(peer: "localhost:443")
            #expect(client.resumedSession == (round > 0), "round \(round)")
            #expect(clientContext.sessions.count(for: "localhost:443 localhost") <= TLSSessionCache.sessionsPerPeer)
        }
    }

    @Test func theOldestPeerIsDroppedBeyondTheBound() throws {
        for peer in 0...TLSSessionCache.maximumPeers {
            _ = try connect(peer: "peer-\(peer):443")
        }
        #expect(clientContext.sessions.count(for: "peer-0:443 localhost") == 0)
        #expect(clientContext.sessions.count(for: "peer-1:443 localhost") > 0)
        #expect(try connect(peer: "peer-\(TLSSessionCache.maximumPeers):443").resumedSession)
    }

    @Test func aFailedConnectionForgetsItsPeersSessions() throws {
        _ = try connect(peer: "localhost:443")
        #expect(clientContext.sessions.count(for: "localhost:443 localhost") > 0)
        // The same peer now presents a certificate from an unknown issuer: no ticket from the old
        // server is accepted, the full handshake fails verification, and the stored sessions go.
        let impostor = try TLSServerContext(configuration: TLSServerConfiguration(
            certificateChainFile: certificates.untrustedServerCertificate, privateKeyFile: certificates.untrustedServerKey))
        let client = try TLSEngine(context: clientContext, serverName: "localhost", peer: "localhost:443")
        let steps = EnginePair(client: client, server: try TLSEngine(context: impostor)).handshake()
        #expect(steps.client.error?.code == .certificateVerification)
        #expect(clientContext.sessions.count(for: "localhost:443 localhost") == 0)
        #expect(try !connect(peer: "localhost:443").resumedSession)
    }
}
