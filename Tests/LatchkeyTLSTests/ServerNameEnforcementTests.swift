import COpenSSL
import LatchkeyNet
import Testing

@testable import LatchkeyTLS

/// Interception's handshake rules: the leaf for the CONNECT host, and an SNI for any other host refused.
@Suite struct ServerNameEnforcementTests {
    let certificates: TestCertificates
    let authority: InterceptionAuthority

    init() throws {
        certificates = try TestCertificates.shared
        authority = try InterceptionAuthority(
            certificatePEM: certificates.bytes(certificates.caFile),
            keyPEM: certificates.bytes(certificates.path("ca.key")), leafValidity: .seconds(86400))
    }

    /// A client trusting `caFile` (or skipping verification) against a minted leaf for `host`.
    func pair(
        host: String = "api.example", clientName: String, caFile: String? = nil, insecure: Bool = false,
        alpn: [String] = []
    ) throws -> EnginePair {
        let client = try TLSEngine(
            context: TLSClientContext(
                configuration: .init(
                    caFile: caFile ?? certificates.caFile, insecureSkipVerify: insecure, alpnProtocols: alpn)),
            serverName: clientName)
        let server = try TLSEngine(context: authority.context(forHost: host), requiredServerName: host)
        return EnginePair(client: client, server: server)
    }

    @Test func clientTrustingTheCAHandshakesWithTheMintedLeafOverHTTP1() throws {
        let pair = try pair(clientName: "api.example", alpn: ["http/1.1"])
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        #expect(pair.client.negotiatedALPN == "http/1.1")
        let (_, received, _) = pair.send(Array("GET / HTTP/1.1\r\n\r\n".utf8), from: pair.client, to: pair.server)
        #expect(received == Array("GET / HTTP/1.1\r\n\r\n".utf8))
    }

    @Test func aClientOfferingH2GetsIt() throws {
        let pair = try pair(clientName: "api.example", alpn: ["http/1.1", "h2"])
        let steps = pair.handshake()
        #expect(steps.server == .complete)
        #expect(pair.client.negotiatedALPN == "h2")  // the interception server prefers HTTP/2
    }

    @Test func clientNotTrustingTheCAFailsItsOwnHandshake() throws {
        let pair = try pair(clientName: "api.example", caFile: certificates.untrustedCAFile)
        let steps = pair.handshake()
        #expect(steps.client.error?.code == .certificateVerification)
        #expect(steps.server.error != nil)
        #expect(!pair.server.isHandshakeComplete)
    }

    @Test func sniForAnotherHostFailsTheHandshakeWithUnrecognizedName() throws {
        let pair = try pair(clientName: "other.example", insecure: true)
        let steps = pair.handshake()
        let serverError = try #require(steps.server.error)
        #expect(serverError.code == .serverNameMismatch)
        #expect(serverError.reason.contains("'other.example'") && serverError.reason.contains("'api.example'"))
        #expect(pair.server.refusedServerName == "other.example")
        let clientError = try #require(steps.client.error)
        #expect(clientError.reason.contains("unrecognized name"))
        var nothing: [UInt8] = []
        #expect(pair.server.readPlaintext(into: &nothing) != .data(count: 0))
        #expect(nothing.isEmpty)
    }

    @Test func sniIsComparedCaseInsensitively() throws {
        let pair = try pair(clientName: "API.Example")
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
    }

    @Test func requiredNameIsNormalized() throws {
        let client = try TLSEngine(
            context: TLSClientContext(configuration: .init(caFile: certificates.caFile)), serverName: "api.example")
        let server = try TLSEngine(
            context: authority.context(forHost: "api.example"), requiredServerName: "API.example.")
        #expect(server.requiredServerName == "api.example")
        let steps = EnginePair(client: client, server: server).handshake()
        #expect(steps.server == .complete)
    }

    @Test(arguments: [
        ("api.example", true), ("api.example.", true), ("API.EXAMPLE", true), ("api.example..", false),
        ("api.exampl", false), ("xapi.example", false), ("api.example.evil", false), ("", false),
    ])
    func serverNameComparison(offered: String, matches: Bool) {
        let result = Array(offered.utf8).withUnsafeBytes { TLSEngine.serverName($0, matches: "api.example") }
        #expect(result == matches)
    }

    @Test func clientHelloWithoutSNIIsAccepted() throws {
        // An IP-literal server name sends no SNI (RFC 6066 §3); the inner Host check covers these.
        let pair = try pair(clientName: "127.0.0.1", insecure: true)
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        #expect(pair.server.refusedServerName == nil)
    }

    @Test func ipLiteralHostVerifiesAndRefusesAHostNameSNI() throws {
        let ok = try pair(host: "127.0.0.1", clientName: "127.0.0.1")
        #expect(ok.handshake() == (.complete, .complete))
        let refused = try pair(host: "127.0.0.1", clientName: "localhost", insecure: true)
        #expect(refused.handshake().server.error?.code == .serverNameMismatch)
    }

    @Test func fileBasedServerContextEnforcesTheNameToo() throws {
        let client = try TLSEngine(
            context: TLSClientContext(configuration: .init(insecureSkipVerify: true)), serverName: "evil.example")
        let server = try TLSEngine(
            context: TLSServerContext(configuration: trustedServer(certificates)), requiredServerName: "localhost")
        #expect(EnginePair(client: client, server: server).handshake().server.error?.code == .serverNameMismatch)
    }

    @Test func withoutARequiredNameAnySNIIsAccepted() throws {
        let client = try TLSEngine(
            context: TLSClientContext(configuration: .init(insecureSkipVerify: true)), serverName: "any.example")
        let server = try TLSEngine(context: authority.context(forHost: "api.example"))
        #expect(EnginePair(client: client, server: server).handshake() == (.complete, .complete))
    }

    /// The TLSStream form the proxy uses after `200 Connection established`: a refused SNI closes the
    /// stream with `.tlsFailed` and no plaintext ever reaches the delegate.
    @Test func serverStreamWithRequiredNameClosesOnMismatch() throws {
        let clientContext = try TLSClientContext(configuration: .init(insecureSkipVerify: true))
        let serverContext = try authority.context(forHost: "api.example")
        let loop = EventLoop(label: "sni-stream-test")
        let clientEvents = RecordingDelegate()
        let serverEvents = RecordingDelegate()
        try loop.runAndWait {
            let (a, b) = MemoryStream.makePair(on: loop)
            b.start()  // as after the CONNECT exchange
            let client = try TLSStream(underlying: a, context: clientContext, serverName: "other.example")
            let server = try TLSStream(
                underlying: b, context: serverContext, requiredServerName: "api.example", underlyingIsReady: true)
            client.delegate = clientEvents
            server.delegate = serverEvents
            server.start()
            client.start()
            client.write(Array("GET / HTTP/1.1\r\nHost: other.example\r\n\r\n".utf8))
        }
        #expect(serverEvents.waitUntilClosed())
        #expect(clientEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(!serverEvents.becameReady)
            #expect(serverEvents.received.isEmpty)
            #expect(serverEvents.closeError?.code == .tlsFailed)
            #expect(serverEvents.closeError?.detail.contains("'other.example'") == true)
            #expect(clientEvents.closeError?.detail.contains("unrecognized name") == true)
        }
    }
}

/// `TLSServerContext` built from PEM bytes rather than files.
@Suite struct InMemoryServerContextTests {
    let certificates: TestCertificates

    init() throws { certificates = try TestCertificates.shared }

    @Test func servesTheCertificateFromMemory() throws {
        let context = try TLSServerContext(
            certificateChainPEM: certificates.bytes(certificates.serverCertificate),
            privateKeyPEM: certificates.bytes(certificates.serverKey), alpnProtocols: ["http/1.1"])
        #expect(context.configuration == nil)
        #expect(context.mintedCertificatePEM == nil)
        let client = try TLSEngine(
            context: TLSClientContext(configuration: .init(caFile: certificates.caFile, alpnProtocols: ["http/1.1"])),
            serverName: "localhost")
        let pair = EnginePair(client: client, server: try TLSEngine(context: context))
        #expect(pair.handshake() == (.complete, .complete))
        #expect(pair.client.negotiatedALPN == "http/1.1")
    }

    @Test func acceptsAChainWithIntermediates() throws {
        let chain = try certificates.bytes(certificates.serverCertificate) + certificates.bytes(certificates.caFile)
        _ = try TLSServerContext(certificateChainPEM: chain, privateKeyPEM: certificates.bytes(certificates.serverKey))
    }

    @Test func refusesAKeyOfAnotherCertificate() throws {
        let error = #expect(throws: TLSError.self) {
            try TLSServerContext(
                certificateChainPEM: certificates.bytes(certificates.serverCertificate),
                privateKeyPEM: certificates.bytes(certificates.clientKey))
        }
        #expect(error?.reason.contains("does not match") == true)
    }
}

/// An interception CA that is an intermediate: its chain goes to clients, which trust only the root.
@Suite struct IntermediateInterceptionCATests {
    @Test func leavesOfAnIntermediateVerifyAgainstTheRootAlone() throws {
        let certificates = try TestCertificates.shared
        let root = try X509Certificate.parseAll(pem: certificates.bytes(certificates.caFile), what: "root")[0]
        let rootKey = try PrivateKey(pem: certificates.bytes(certificates.path("ca.key")), what: "root key")
        let key = try PrivateKey.generateP256()
        let builder = try CertificateBuilder()
        try builder.setRandomSerial()
        try builder.setValidity(notBefore: time(nil) - 60, notAfter: time(nil) + 86400)
        try builder.setSubject(commonName: "Intermediate interception CA")
        try builder.setIssuer(root)
        try builder.setPublicKey(of: key)
        try builder.addExtension(NID_basic_constraints, "critical,CA:TRUE,pathlen:0", issuer: root)
        try builder.addExtension(NID_key_usage, "critical,keyCertSign", issuer: root)
        try builder.addExtension(NID_subject_key_identifier, "hash", issuer: root)
        try builder.addExtension(NID_authority_key_identifier, "keyid", issuer: root)
        let intermediate = try builder.sign(with: rootKey)

        let authority = try InterceptionAuthority(
            certificatePEM: intermediate.pem, keyPEM: key.pkcs8PEM, leafValidity: .seconds(3600))
        let client = try TLSEngine(
            context: TLSClientContext(configuration: .init(caFile: certificates.caFile)), serverName: "api.example")
        let server = try TLSEngine(
            context: authority.context(forHost: "api.example"), requiredServerName: "api.example")
        #expect(EnginePair(client: client, server: server).handshake() == (.complete, .complete))
    }
}
