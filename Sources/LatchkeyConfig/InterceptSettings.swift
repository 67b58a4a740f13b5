/// `intercept:` — the CA with which the proxy terminates TLS for CONNECTs to routed hosts, so that
/// apps using `HTTPS_PROXY` with `https://` URLs get credentials injected (see docs/interception.md).
///
/// Holds PEM text, not objects: this module does not link OpenSSL. The runtime builds the
/// `InterceptionAuthority` from it and reports problems the PEM parser finds (key not matching the
/// certificate, certificate not a CA) at `caCertificatePosition` / `caKeyPosition`.
public struct InterceptSettings: Sendable, Equatable {
    /// `ca_cert:` the CA certificate (PEM), read from the file named (or given inline through a secret).
    /// Public: apps trust it.
    public var caCertificatePEM: String
    /// `ca_key:` the CA's private key (PEM), from a file or a `{{secret:...}}` reference. Registered
    /// with the scrubber; never printed.
    public var caKey: SecretString
    /// `leaf_validity:` how long each minted leaf certificate is valid; default 24 h, 1 h…30 days.
    public var leafValidity: Duration
    /// The file `ca_cert` named, when it was a path (for messages and reload); `nil` when inline.
    public var caCertificateFile: String?
    /// The file `ca_key` named, when it was a path; `nil` when inline.
    public var caKeyFile: String?
    /// Where `ca_cert` and `ca_key` were written, for errors found when the authority is built.
    public var caCertificatePosition: ConfigPosition
    public var caKeyPosition: ConfigPosition

    /// The default `leaf_validity`.
    public static let defaultLeafValidity = Duration.seconds(24 * 3600)
    /// The allowed `leaf_validity` range: at least an hour (leaves are cached per host, and a shorter
    /// validity only adds mints), at most 30 days (a leaked leaf key stays useful no longer).
    public static let leafValidityBounds = Duration.seconds(3600)...Duration.seconds(30 * 86400)

    public init(
        caCertificatePEM: String, caKey: SecretString, leafValidity: Duration = defaultLeafValidity,
        caCertificateFile: String? = nil, caKeyFile: String? = nil,
        caCertificatePosition: ConfigPosition = ConfigPosition(
            file: "", line: 0, column: 0, keyPath: "intercept.ca_cert"),
        caKeyPosition: ConfigPosition = ConfigPosition(file: "", line: 0, column: 0, keyPath: "intercept.ca_key")
    ) {
        self.caCertificatePEM = caCertificatePEM
        self.caKey = caKey
        self.leafValidity = leafValidity
        self.caCertificateFile = caCertificateFile
        self.caKeyFile = caKeyFile
        self.caCertificatePosition = caCertificatePosition
        self.caKeyPosition = caKeyPosition
    }

    /// Equal when the CA, its key and the validity are: where they were written does not matter (a
    /// reload that only moved lines keeps the running authority and its cached leaves).
    public static func == (lhs: InterceptSettings, rhs: InterceptSettings) -> Bool {
        lhs.caCertificatePEM == rhs.caCertificatePEM && lhs.caKey == rhs.caKey && lhs.leafValidity == rhs.leafValidity
    }
}
