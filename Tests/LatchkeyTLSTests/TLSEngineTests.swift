import LatchkeyTLS
import Testing

@Suite struct TLSEngineTests {
    let certificates: TestCertificates

    init() throws { certificates = try TestCertificates.shared }

    @Test func handshakeDataBothWaysAndCloseNotify() throws {
        let pair = try EnginePair(client: .init(caFile: certificates.caFile), server: trustedServer(certificates))
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        #expect(pair.client.negotiatedVersion == "TLSv1.3")
        #expect(pair.client.negotiatedALPN == nil)

        let (written, atServer, serverRead) = pair.send(
            Array("GET / HTTP/1.1\r\n\r\n".utf8), from: pair.client, to: pair.server)
        #expect(written == .complete)
        #expect(String(decoding: atServer, as: UTF8.self) == "GET / HTTP/1.1\r\n\r\n")
        #expect(serverRead == .data(count: atServer.count))

        let reply = [UInt8](repeating: 0x5A, count: 100_000)
        let (_, atClient, _) = pair.send(reply, from: pair.server, to: pair.client)
        #expect(atClient == reply)

        var nothing: [UInt8] = []
        #expect(pair.client.readPlaintext(into: &nothing) == .wantRead)

        pair.client.shutdown()
        pair.shuttle()
        #expect(pair.server.readPlaintext(into: &nothing) == .closed)
        #expect(pair.server.hasReceivedCloseNotify)
        #expect(nothing.isEmpty)
        // The server may still answer after the client's close_notify (half-close), then close too.
        let (_, late, _) = pair.send(Array("bye".utf8), from: pair.server, to: pair.client)
        #expect(late == Array("bye".utf8))
        pair.server.shutdown()
        pair.shuttle()
        #expect(pair.client.readPlaintext(into: &nothing) == .closed)
    }

    @Test func untrustedIssuerFailsVerificationWithReason() throws {
        let server = TLSServerConfiguration(
            certificateChainFile: certificates.untrustedServerCertificate,
            privateKeyFile: certificates.untrustedServerKey)
        let pair = try EnginePair(client: .init(caFile: certificates.caFile), server: server)
        let steps = pair.handshake()
        let error = try #require(steps.client.error)
        #expect(error.code == .certificateVerification)
        #expect(error.reason.hasPrefix("certificate verify failed: unable to get local issuer certificate"))
        #expect(error.reason.contains("Untrusted Test CA"))
        // The client's alert reaches the server, which fails too.
        let serverError = try #require(steps.server.error)
        #expect(serverError.reason.contains("unknown ca"))
    }

    @Test func hostNameNotInCertificateFails() throws {
        let pair = try EnginePair(
            client: .init(caFile: certificates.caFile), serverName: "wrong.example", server: trustedServer(certificates)
        )
        let error = try #require(pair.handshake().client.error)
        #expect(error.code == .hostnameMismatch)
        #expect(error.reason.hasPrefix("certificate verify failed: hostname mismatch"))
        #expect(error.reason.contains("'wrong.example'"))
    }

    @Test func insecureSkipVerifyAcceptsUntrustedCertificate() throws {
        let server = TLSServerConfiguration(
            certificateChainFile: certificates.untrustedServerCertificate,
            privateKeyFile: certificates.untrustedServerKey)
        let pair = try EnginePair(
            client: .init(caFile: certificates.caFile, insecureSkipVerify: true), serverName: "wrong.example",
            server: server)
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        let (_, received, _) = pair.send([1, 2, 3], from: pair.client, to: pair.server)
        #expect(received == [1, 2, 3])
    }

    @Test func ipLiteralIsVerifiedAgainstIPSubjectAltName() throws {
        let good = try EnginePair(
            client: .init(caFile: certificates.caFile), serverName: "127.0.0.1", server: trustedServer(certificates))
        #expect(good.handshake().client == .complete)

        let bad = try EnginePair(
            client: .init(caFile: certificates.caFile), serverName: "127.0.0.2", server: trustedServer(certificates))
        let error = try #require(bad.handshake().client.error)
        #expect(error.code == .hostnameMismatch)
        #expect(error.reason.contains("IP address mismatch"))
        #expect(error.reason.contains("'127.0.0.2'"))
    }

    @Test(
        arguments: [
            (["h2", "http/1.1"], ["h2", "http/1.1"], "h2"),
            (["http/1.1", "h2"], ["h2", "http/1.1"], "h2"),  // the server's preference wins
            (["http/1.1"], ["h2", "http/1.1"], "http/1.1"),
            (["h2", "http/1.1"], [], nil),  // server without ALPN
            (["spdy/3"], ["h2"], nil),  // no overlap: no ALPN, handshake still succeeds
        ] as [([String], [String], String?)])
    func alpnNegotiation(offered: [String], accepted: [String], expected: String?) throws {
        let pair = try EnginePair(
            client: .init(caFile: certificates.caFile, alpnProtocols: offered),
            server: trustedServer(certificates, alpn: accepted))
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        #expect(pair.client.negotiatedALPN == expected)
        #expect(pair.server.negotiatedALPN == expected)
    }

    @Test func mutualTLSWithClientCertificate() throws {
        let client = TLSClientConfiguration(
            caFile: certificates.caFile, certificateFile: certificates.clientCertificate,
            privateKeyFile: certificates.clientKey)
        let pair = try EnginePair(client: client, server: trustedServer(certificates, clientCA: certificates.caFile))
        let steps = pair.handshake()
        #expect(steps.client == .complete)
        #expect(steps.server == .complete)
        let (_, received, _) = pair.send(Array("ping".utf8), from: pair.client, to: pair.server)
        #expect(received == Array("ping".utf8))
    }

    @Test func mutualTLSWithoutClientCertificateFails() throws {
        let pair = try EnginePair(
            client: .init(caFile: certificates.caFile),
            server: trustedServer(certificates, clientCA: certificates.caFile))
        let steps = pair.handshake()
        let serverError = try #require(steps.server.error)
        #expect(serverError.code == .handshake)
        #expect(serverError.reason.contains("certificate"))
        // TLS 1.3: the client finished first and learns of the rejection on its next read.
        var buffer: [UInt8] = []
        guard case .failed(let clientError) = pair.client.readPlaintext(into: &buffer) else {
            Issue.record("client read should fail after the server rejected it")
            return
        }
        #expect(clientError.reason.contains("certificate required"))
    }

    @Test func configurationErrorsNameTheProblem() throws {
        #expect(throws: TLSError.self) { try TLSClientContext(configuration: .init(caFile: "/nonexistent/ca.pem")) }
        do {
            _ = try TLSClientContext(configuration: .init(caFile: "/nonexistent/ca.pem"))
        } catch {
            #expect(error.code == .configuration)
            #expect(error.reason.contains("/nonexistent/ca.pem"))
        }
        do {
            _ = try TLSServerContext(
                configuration: .init(
                    certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.clientKey))
            Issue.record("mismatched key accepted")
        } catch {
            #expect(error.reason.contains("does not match"))
        }
        do {
            _ = try TLSClientContext(configuration: .init(alpnProtocols: [""]))
            Issue.record("empty ALPN name accepted")
        } catch {
            #expect(error.code == .configuration)
        }
    }
    /// Ciphertext delivered one byte at a time: every step must cope with partial records.
    @Test func handshakeAndDataSurviveByteByByteDelivery() throws {
        let pair = try EnginePair(client: .init(caFile: certificates.caFile), server: trustedServer(certificates))
        var toServer: [UInt8] = []
        var toClient: [UInt8] = []
        var clientStep = TLSStep.wantRead
        var serverStep = TLSStep.wantRead
        var rounds = 0
        while clientStep != .complete || serverStep != .complete || !toServer.isEmpty || !toClient.isEmpty {
            rounds += 1
            try #require(rounds < 100_000)
            clientStep = pair.client.handshake()
            toServer += pair.client.takeCiphertext()
            serverStep = pair.server.handshake()
            toClient += pair.server.takeCiphertext()
            #expect(clientStep.error == nil && serverStep.error == nil)
            if !toServer.isEmpty { pair.server.feedCiphertext([toServer.removeFirst()]) }
            if !toClient.isEmpty { pair.client.feedCiphertext([toClient.removeFirst()]) }
        }
        let message = Array("one byte at a time".utf8)
        #expect(pair.client.writePlaintext(message) == .complete)
        var received: [UInt8] = []
        for byte in pair.client.takeCiphertext() {
            pair.server.feedCiphertext([byte])
            _ = pair.server.readPlaintext(into: &received)
        }
        #expect(received == message)
    }
}
