/// Why a TLS context could not be built or a TLS session failed.
///
/// `description` is the human reason, written to be shown as-is (for example in a 502 body):
/// it names the failing file, the certificate verification result or the peer's alert. It never
/// holds key material, only paths, names and OpenSSL's reason strings.
public struct TLSError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The kind of failure, stable enough for metric labels and tests.
    public enum Code: String, Sendable, Hashable {
        /// A context could not be built: unreadable CA/certificate/key file, key mismatch, bad ALPN list.
        case configuration
        /// The peer's certificate chain did not verify (untrusted issuer, expired, ...).
        case certificateVerification = "certificate_verification"
        /// The peer's certificate is valid but not for the name or IP address we asked for.
        case hostnameMismatch = "hostname_mismatch"
        /// A server refused the handshake: the client's SNI named another host than the one required.
        case serverNameMismatch = "server_name_mismatch"
        /// The server's certificate (or one of its issuers) is revoked, or, in `hard` mode, its revocation
        /// status could not be established.
        case revocation
        /// The handshake failed for another reason: protocol version, cipher, peer alert, ...
        case handshake
        /// A TLS record could not be processed after the handshake.
        case protocolError = "protocol_error"
        /// The operation was attempted in a state that does not allow it.
        case invalidState = "invalid_state"
    }

    /// The kind of failure.
    public let code: Code
    /// The human reason, e.g. "certificate verify failed: unable to get local issuer certificate".
    public let reason: String

    /// Creates an error of kind `code` explained by `reason`.
    public init(_ code: Code, _ reason: String) {
        self.code = code
        self.reason = reason
    }

    /// The human reason, suitable for a response body or a log line.
    public var description: String { reason }

    /// A short machine-readable label (the code), safe for metrics.
    public var shortDescription: String { code.rawValue }
}
