/// The lowest TLS protocol version a context accepts.
public enum TLSVersion: String, Sendable, Hashable {
    /// TLS 1.2 (RFC 5246), the floor we accept by default.
    case tls12 = "TLSv1.2"
    /// TLS 1.3 (RFC 8446).
    case tls13 = "TLSv1.3"
}

/// How a client verifies servers and identifies itself. A value: build a `TLSClientContext` from it.
public struct TLSClientConfiguration: Sendable, Hashable {
    /// PEM file of trusted CA certificates; `nil` trusts the system store instead (never both).
    public var caFile: String?
    /// Skips certificate and hostname verification. For tests and explicitly opted-in upstreams only.
    public var insecureSkipVerify: Bool
    /// PEM certificate chain presented to servers that ask for one (mutual TLS); needs `privateKeyFile`.
    public var certificateFile: String?
    /// PEM private key matching `certificateFile`.
    public var privateKeyFile: String?
    /// ALPN protocol names offered, most preferred first (e.g. `["h2", "http/1.1"]`); empty offers none.
    public var alpnProtocols: [String]
    /// The lowest protocol version accepted.
    public var minimumVersion: TLSVersion
    /// Revocation checking of the server's chain (`off` by default); ignored with `insecureSkipVerify`.
    public var revocation: RevocationPolicy = .off
    /// CRLs supplied by the operator (PEM, several allowed, or one DER), used when `revocation` is on.
    public var crlFile: String?
    /// OpenSSL cipher list for TLS 1.2 and below (`SSL_CTX_set_cipher_list`); nil keeps OpenSSL's default.
    public var cipherList: String?
    /// TLS 1.3 cipher suites, colon-separated (`SSL_CTX_set_ciphersuites`); nil keeps OpenSSL's default.
    public var cipherSuites: String?
    /// Key-exchange groups, colon-separated, most preferred first (`SSL_CTX_set1_groups_list`); nil: default.
    public var groups: String?

    /// Creates a configuration; the defaults verify against the system trust store with TLS 1.2+.
    public init(
        caFile: String? = nil,
        insecureSkipVerify: Bool = false,
        certificateFile: String? = nil,
        privateKeyFile: String? = nil,
        alpnProtocols: [String] = [],
        minimumVersion: TLSVersion = .tls12,
        cipherList: String? = nil,
        cipherSuites: String? = nil,
        groups: String? = nil
    ) {
        self.caFile = caFile
        self.insecureSkipVerify = insecureSkipVerify
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
        self.alpnProtocols = alpnProtocols
        self.minimumVersion = minimumVersion
        self.cipherList = cipherList
        self.cipherSuites = cipherSuites
        self.groups = groups
    }
}
