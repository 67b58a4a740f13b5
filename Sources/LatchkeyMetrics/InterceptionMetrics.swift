/// The series of TLS interception (intercepted CONNECTs), resolved once when `LatchkeyMetrics` is made:
///
/// | series | type | labels |
/// |---|---|---|
/// | `latchkey_intercept_connections_total` | counter | result (`established`, `tls_handshake_failed`, `leaf_failed`) |
/// | `latchkey_intercept_leaf_certificates_total` | counter | result (`cache_hit`, `minted`) |
///
/// No host in any label: hosts are client-chosen (see the cardinality rule on `LatchkeyMetrics`).
public final class InterceptionMetrics: Sendable {
    private let established: Counter
    private let handshakeFailed: Counter
    private let leafFailed: Counter
    private let leafCacheHits: Counter
    private let leafMints: Counter

    init(registry: MetricsRegistry) {
        let connections = registry.counter(
            "latchkey_intercept_connections_total",
            help:
                "Intercepted CONNECTs, by result: TLS with the client established, its handshake failed (the client distrusts the CA, SNI for another host, not TLS), or no leaf certificate could be made.",
            labels: ["result"])
        established = connections.child(["established"])
        handshakeFailed = connections.child(["tls_handshake_failed"])
        leafFailed = connections.child(["leaf_failed"])
        let leaves = registry.counter(
            "latchkey_intercept_leaf_certificates_total",
            help: "Leaf certificates for intercepted CONNECTs, by whether the cache had one or one was minted.",
            labels: ["result"])
        leafCacheHits = leaves.child(["cache_hit"])
        leafMints = leaves.child(["minted"])
    }

    /// The TLS handshake with the client completed. Any thread.
    public func recordEstablished() { established.increment() }
    /// The client's TLS handshake failed or the connection closed before it completed. Any thread.
    public func recordHandshakeFailed() { handshakeFailed.increment() }
    /// No leaf certificate could be made (the CONNECT got a 502). Any thread.
    public func recordLeafFailed() { leafFailed.increment() }
    /// A leaf came from the cache (`true`) or was minted (`false`). Any thread.
    public func recordLeaf(cached: Bool) { (cached ? leafCacheHits : leafMints).increment() }
}
