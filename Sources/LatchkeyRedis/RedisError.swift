/// Why a Redis command did not get a usable reply. `detail` never holds a password or a stored value.
public struct RedisError: Error, Sendable, CustomStringConvertible, Equatable {
    enum Code: String, Sendable {
        /// No connection: refused, reset, DNS or TLS failure, or still in the retry pause after one.
        case unavailable = "store_unavailable"
        /// No reply within the command timeout (the connection is dropped: replies would be out of step).
        case timeout = "store_timeout"
        /// The server answered with an error reply (`NOAUTH`, `WRONGPASS`, `READONLY`, ...).
        case refused = "store_refused"
        /// The bytes were not RESP.
        case protocolError = "store_protocol_error"
    }

    let code: Code
    public let detail: String

    init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// A short, fixed string safe for metric labels and `/readyz` detail.
    public var shortDescription: String { code.rawValue }
    public var description: String { "\(code.rawValue): \(detail)" }
    /// Whether the server itself is unreachable or too slow (as opposed to refusing a command).
    public var isConnectivity: Bool { code == .unavailable || code == .timeout }
}
