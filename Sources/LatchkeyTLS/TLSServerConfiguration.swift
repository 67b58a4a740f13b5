/// How a server identifies itself and, optionally, which client certificates it demands.
public struct TLSServerConfiguration: Sendable, Hashable {
    /// PEM file: the leaf certificate first, then intermediates.
    public var certificateChainFile: String
    /// PEM private key matching the leaf certificate.
    public var privateKeyFile: String
    /// When set, clients must present a certificate that verifies against the CAs in this PEM file
    /// (mutual TLS); the handshake fails otherwise. `nil` asks for no client certificate.
    public var clientCAFile: String?
    /// ALPN protocol names accepted, most preferred first; empty ignores the client's offer.
    public var alpnProtocols: [String]
    /// The lowest protocol version accepted.
    public var minimumVersion: TLSVersion

    /// Creates a server configuration.
    public init(
        certificateChainFile: String,
        privateKeyFile: String,
        clientCAFile: String? = nil,
        alpnProtocols: [String] = [],
        minimumVersion: TLSVersion = .tls12
    ) {
        self.certificateChainFile = certificateChainFile
        self.privateKeyFile = privateKeyFile
        self.clientCAFile = clientCAFile
        self.alpnProtocols = alpnProtocols
        self.minimumVersion = minimumVersion
    }
}
