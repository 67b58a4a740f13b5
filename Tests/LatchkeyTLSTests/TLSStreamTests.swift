import LatchkeyNet
import LatchkeyTLS
import Testing

@Suite struct TLSStreamTests {
    let certificates: TestCertificates

    init() throws { certificates = try TestCertificates.shared }

    static func payload(_ count: Int, seed: UInt8) -> [UInt8] {
        (0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) &+ seed }
    }

    /// 1 MiB each way, then an orderly close: client close_notify → server EOF → server
    /// close_notify → client EOF → both close.
    @Test(arguments: [false, true])
    func exchangesOneMebibyteBothWays(clientUnderlyingIsReady: Bool) throws {
        let size = 1 << 20
        let toServer = Self.payload(size, seed: 1)
        let toClient = Self.payload(size, seed: 2)
        let clientContext = try TLSClientContext(
            configuration: .init(caFile: certificates.caFile, alpnProtocols: ["h2", "http/1.1"]))
        let serverContext = try TLSServerContext(configuration: trustedServer(certificates, alpn: ["http/1.1"]))
        let loop = EventLoop(label: "tls-stream-test")
        let clientEvents = RecordingDelegate()
        let serverEvents = RecordingDelegate()

        let (client, server) = try loop.runAndWait { () throws -> (TLSStream, TLSStream) in
            let (a, b) = MemoryStream.makePair(on: loop)
            if clientUnderlyingIsReady { a.start() }  // as after a CONNECT exchange
            let client = try TLSStream(
                underlying: a, context: clientContext, serverName: "localhost",
                underlyingIsReady: clientUnderlyingIsReady)
            let server = try TLSStream(underlying: b, context: serverContext)
            client.delegate = clientEvents
            server.delegate = serverEvents
            clientEvents.onRead = { stream, events in
                if events.received.count == size { stream.shutdownWriting() }
            }
            clientEvents.onEOF = { stream in stream.close() }
            serverEvents.onReady = { stream in stream.write(toClient) }
            serverEvents.onEOF = { stream in
                stream.shutdownWriting()
                stream.close()
            }
            client.start()
            server.start()
            client.write(toServer)  // before the handshake: buffered
            #expect(client.pendingWriteBytes >= size)
            return (client, server)
        }

        #expect(clientEvents.waitUntilClosed())
        #expect(serverEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(clientEvents.becameReady && serverEvents.becameReady)
            #expect(serverEvents.received == toServer)
            #expect(clientEvents.received == toClient)
            #expect(serverEvents.reachedEOF && clientEvents.reachedEOF)
            #expect(server.engine.hasReceivedCloseNotify)
            #expect(client.engine.hasReceivedCloseNotify)
            #expect(clientEvents.closeError == nil)
            #expect(serverEvents.closeError == nil)
            #expect(client.engine.negotiatedALPN == "http/1.1")
        }
    }

    @Test func failedHandshakeClosesWithTLSFailed() throws {
        let clientContext = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        let serverContext = try TLSServerContext(
            configuration: .init(
                certificateChainFile: certificates.untrustedServerCertificate,
                privateKeyFile: certificates.untrustedServerKey))
        let loop = EventLoop(label: "tls-stream-fail-test")
        let clientEvents = RecordingDelegate()
        let serverEvents = RecordingDelegate()

        try loop.runAndWait {
            let (a, b) = MemoryStream.makePair(on: loop)
            let client = try TLSStream(underlying: a, context: clientContext, serverName: "localhost")
            let server = try TLSStream(underlying: b, context: serverContext)
            client.delegate = clientEvents
            server.delegate = serverEvents
            client.start()
            server.start()
            client.write(Array("GET /secret HTTP/1.1\r\n\r\n".utf8))
        }

        #expect(clientEvents.waitUntilClosed())
        #expect(serverEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(!clientEvents.becameReady)
            #expect(serverEvents.received.isEmpty)  // nothing written before the handshake leaked
            let clientError = clientEvents.closeError
            #expect(clientError?.code == .tlsFailed)
            #expect(
                clientError?.detail.hasPrefix("certificate verify failed: unable to get local issuer certificate")
                    == true)
            #expect(serverEvents.closeError?.code == .tlsFailed)
        }
    }
    /// The peer hangs up mid-handshake: the delegate learns it as a TLS failure, not an orderly close.
    @Test func peerClosingDuringHandshakeIsATLSFailure() throws {
        let clientContext = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        let loop = EventLoop(label: "tls-stream-hangup-test")
        let clientEvents = RecordingDelegate()
        let plainServer = RecordingDelegate()

        try loop.runAndWait {
            let (a, b) = MemoryStream.makePair(on: loop)
            let client = try TLSStream(underlying: a, context: clientContext, serverName: "localhost")
            client.delegate = clientEvents
            b.delegate = plainServer
            plainServer.onRead = { stream, _ in stream.close() }  // reads the ClientHello, hangs up
            client.start()
            b.start()
        }

        #expect(clientEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(!clientEvents.becameReady)
            #expect(clientEvents.closeError == NetError(.tlsFailed, "TLS handshake failed: connection closed by peer"))
            #expect(plainServer.received.first == 0x16)  // a TLS handshake record did go out
        }
    }

    /// Writes after `shutdownWriting` are dropped; a pause requested during the handshake holds after it.
    @Test func shutdownWritingDropsLaterWritesAndPauseSurvivesHandshake() throws {
        let clientContext = try TLSClientContext(configuration: .init(caFile: certificates.caFile))
        let serverContext = try TLSServerContext(configuration: trustedServer(certificates))
        let loop = EventLoop(label: "tls-stream-shutdown-test")
        let clientEvents = RecordingDelegate()
        let serverEvents = RecordingDelegate()

        try loop.runAndWait {
            let (a, b) = MemoryStream.makePair(on: loop)
            let client = try TLSStream(underlying: a, context: clientContext, serverName: "localhost")
            let server = try TLSStream(underlying: b, context: serverContext)
            client.delegate = clientEvents
            server.delegate = serverEvents
            server.setReadingPaused(true)
            serverEvents.onReady = { stream in
                // Paused: nothing may arrive until resumed, which happens on the next loop turn.
                let confined = LoopConfined(value: stream)
                loop.execute { [events = serverEvents] in
                    #expect(events.received.isEmpty)
                    confined.value.setReadingPaused(false)
                }
            }
            serverEvents.onEOF = { stream in stream.close() }
            clientEvents.onEOF = { stream in stream.close() }
            client.start()
            server.start()
            client.write(Array("last words".utf8))
            client.shutdownWriting()
            client.write(Array("dropped".utf8))
        }

        #expect(serverEvents.waitUntilClosed())
        #expect(clientEvents.waitUntilClosed())
        loop.runAndWait {
            #expect(String(decoding: serverEvents.received, as: UTF8.self) == "last words")
            #expect(serverEvents.reachedEOF)
            #expect(serverEvents.closeError == nil)
        }
    }
}
