import Yams

extension ConfigDecoder {
    /// Upper bounds of the connection and timeout limits (lower bounds are 1).
    static let maxConnectionsLimit = 1_000_000
    static let adminMaxConnectionsLimit = 10_000
    static let headerTimeoutLimitMs = 600_000
    static let tunnelIdleTimeoutLimitMs = 86_400_000

    /// `limits:` keys that bound descriptors and time: connection caps and the head and tunnel timeouts.
    func decodeConnectionLimits(_ map: Fields, into limits: inout LimitSettings) {
        if let v = bounded(map, "max_connections", Self.maxConnectionsLimit) { limits.maxConnections = v }
        if let v = bounded(map, "admin_max_connections", Self.adminMaxConnectionsLimit) {
            limits.adminMaxConnections = v
        }
        if let v = bounded(map, "header_timeout_ms", Self.headerTimeoutLimitMs) { limits.headerTimeoutMs = v }
        if let v = bounded(map, "tunnel_idle_timeout_ms", Self.tunnelIdleTimeoutLimitMs) {
            limits.tunnelIdleTimeoutMs = v
        }
    }

    /// `limits:` keys for HTTP/2 client connections (announced in SETTINGS and enforced by the codec).
    func decodeHTTP2Limits(_ map: Fields, into limits: inout LimitSettings) {
        if let v = int(map, "http2_max_concurrent_streams", in: ConfigBounds.http2MaxConcurrentStreams) {
            limits.http2MaxConcurrentStreams = v
        }
        if let v = int(map, "http2_max_header_list_bytes", in: ConfigBounds.http2MaxHeaderListBytes) {
            limits.http2MaxHeaderListBytes = v
        }
        if let v = int(map, "http2_header_table_bytes", in: ConfigBounds.http2HeaderTableBytes) {
            limits.http2HeaderTableBytes = v
        }
    }

    /// An integer in `1...maximum`; outside it is an error at the key naming the range (`int(_:_:in:)`).
    private func bounded(_ map: Fields, _ key: String, _ maximum: Int) -> Int? {
        int(map, key, in: 1...maximum)
    }
}
