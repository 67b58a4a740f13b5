import LatchkeyTLS

/// A client and a server engine wired back to back: ciphertext is shuttled by hand, in memory.
struct EnginePair {
    let client: TLSEngine
    let server: TLSEngine

    init(client: TLSClientConfiguration, serverName: String = "localhost", server: TLSServerConfiguration) throws {
        self.client = try TLSEngine(context: TLSClientContext(configuration: client), serverName: serverName)
        self.server = try TLSEngine(context: TLSServerContext(configuration: server))
    }

    init(client: TLSEngine, server: TLSEngine) {
        self.client = client
        self.server = server
    }

    /// Moves all pending ciphertext in both directions.
    func shuttle() {
        server.feedCiphertext(client.takeCiphertext())
        client.feedCiphertext(server.takeCiphertext())
    }

    /// Drives both handshakes until neither side waits for the other.
    func handshake() -> (client: TLSStep, server: TLSStep) {
        var clientStep = TLSStep.wantRead
        var serverStep = TLSStep.wantRead
        for _ in 0..<16 {
            clientStep = client.handshake()
            shuttle()
            // A client waiting for revocation data must not be driven until it settles.
            if clientStep == .waitingForRevocationData { break }
            serverStep = server.handshake()
            shuttle()
            if clientStep != .wantRead && serverStep != .wantRead { break }
        }
        return (clientStep, serverStep)
    }

    /// Writes on `from`, shuttles, and reads everything `to` can decrypt.
    func send(_ bytes: [UInt8], from: TLSEngine, to: TLSEngine) -> (TLSStep, [UInt8], TLSReadResult) {
        let step = from.writePlaintext(bytes)
        shuttle()
        var received: [UInt8] = []
        let result = to.readPlaintext(into: &received)
        shuttle()
        return (step, received, result)
    }
}

extension TLSStep {
    var error: TLSError? {
        if case .failed(let error) = self { return error }
        return nil
    }
}

/// Server configuration for the trusted localhost certificate.
func trustedServer(_ certificates: TestCertificates, alpn: [String] = [], clientCA: String? = nil)
    -> TLSServerConfiguration
{
    TLSServerConfiguration(
        certificateChainFile: certificates.serverCertificate, privateKeyFile: certificates.serverKey,
        clientCAFile: clientCA, alpnProtocols: alpn)
}
