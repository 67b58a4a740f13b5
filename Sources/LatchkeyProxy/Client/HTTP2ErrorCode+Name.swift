import LatchkeyHTTP

extension HTTP2ErrorCode {
    /// The RFC 9113 §7 name in snake case, for log outcomes (`http2_enhance_your_calm`); a code this list does
    /// not know by its number.
    var name: String {
        switch self {
        case .noError: "no_error"
        case .protocolError: "protocol_error"
        case .internalError: "internal_error"
        case .flowControlError: "flow_control_error"
        case .settingsTimeout: "settings_timeout"
        case .streamClosed: "stream_closed"
        case .frameSizeError: "frame_size_error"
        case .refusedStream: "refused_stream"
        case .cancel: "cancel"
        case .compressionError: "compression_error"
        case .connectError: "connect_error"
        case .enhanceYourCalm: "enhance_your_calm"
        case .inadequateSecurity: "inadequate_security"
        case .http11Required: "http_1_1_required"
        default: "error_\(rawValue)"
        }
    }
}

extension LogKey {
    /// The client's protocol on a request's access log line: `h2` (absent for HTTP/1.x).
    public static let protocolName = "latchkey.protocol"
}
