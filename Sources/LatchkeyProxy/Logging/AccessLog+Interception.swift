import Logging

extension LogKey {
    /// `true` on every access-log line of a request received inside an intercepted CONNECT tunnel.
    public static let intercepted = "latchkey.intercepted"
    /// The TLS version and ALPN protocol negotiated with an intercepted client.
    public static let tls = "latchkey.tls"
}

/// Access-log lines of intercepted CONNECTs (requests inside them are logged by `record(exchange:)` and
/// `recordRejected`, marked `latchkey.intercepted=true`).
extension AccessLog {
    /// The client completed the TLS handshake of an intercepted CONNECT: `CONNECT host:port 200 intercepted`.
    func recordInterceptOpen(origin: InterceptedOrigin, tlsVersion: String?, alpn: String?) {
        logger.info(
            "CONNECT \(origin.authority) 200 intercepted",
            metadata: [
                LogKey.method: "CONNECT", LogKey.host: .string(origin.authority), LogKey.status: "200",
                LogKey.outcome: "intercepted", LogKey.intercepted: "true",
                LogKey.tls: .string("\(tlsVersion ?? "-") \(alpn ?? "-")"),
            ])
    }

    /// The TLS handshake of an intercepted CONNECT failed or never completed; `reason` is OpenSSL's (for example
    /// `tlsv1 alert unknown ca` when the client does not trust the CA), never key material.
    func recordInterceptHandshakeFailed(origin: InterceptedOrigin, reason: String, runtime: ProxyRuntime) {
        logger.info(
            "CONNECT \(origin.authority) intercepted: TLS handshake failed: \(reason)",
            metadata: [
                LogKey.method: "CONNECT", LogKey.host: .string(origin.authority), LogKey.status: "200",
                LogKey.outcome: "tls_handshake_failed", LogKey.intercepted: "true", LogKey.error: .string(reason),
            ])
    }

    /// A request inside an intercepted tunnel refused before it was forwarded (421 for another host, ...).
    func recordInterceptedRejected(
        origin: InterceptedOrigin, method: String, target: String, status: Int, error: String, runtime: ProxyRuntime,
        protocolName: String? = nil
    ) {
        runtime.unmatchedMetrics.record(status: status, duration: .zero, upstreamDuration: nil, attempts: 0)
        let path = target.hasPrefix("/") ? RequestPlanner.pathOnly(target) : "/"
        var metadata: Logger.Metadata = [
            LogKey.method: .string(method), LogKey.host: .string(origin.authority), LogKey.path: .string(path),
            LogKey.status: .string(String(status)), LogKey.outcome: .string(error), LogKey.intercepted: "true",
        ]
        if let protocolName { metadata[LogKey.protocolName] = .string(protocolName) }
        logger.info("\(method) \(origin.authority)\(path) \(status)", metadata: metadata)
    }
}
