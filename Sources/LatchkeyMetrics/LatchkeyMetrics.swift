/// Exactly Latchkey's Prometheus series, all prefixed `latchkey_`, over one `MetricsRegistry`.
///
/// Cardinality rule: label values are only route names and connection names from the configuration
/// (validated to `[A-Za-z0-9_.-]`, so bounded and never colliding with the sentinels below), status
/// classes and fixed result words. Never put a host, path, query, header value, client address or
/// anything else a client controls into a label: every distinct value is a series kept forever.
///
/// | series | type | labels |
/// |---|---|---|
/// | `latchkey_requests_total` | counter | route, connection, status_class (`1xx`...`5xx`) |
/// | `latchkey_request_duration_seconds` | histogram | route |
/// | `latchkey_upstream_duration_seconds` | histogram (to the response head) | route |
/// | `latchkey_upstream_attempts_total`, `latchkey_upstream_retries_total` | counter | route |
/// | `latchkey_upstream_tls_handshakes_total` | counter | route, resumed (`true`/`false`) |
/// | `latchkey_tls_revocation_checks_total` | counter (per full upstream handshake with `revocation` on) | route, result (`good`/`revoked`/`unavailable`/`stale`) |
/// | `latchkey_upstream_unauthorized_total` | counter (upstream 401s) | route |
/// | `latchkey_token_fetches_total` | counter | connection, result (`success`/`failure`) |
/// | `latchkey_token_expiry_seconds` | gauge, computed at scrape | connection |
/// | `latchkey_connection_up` | gauge (1/0), computed at scrape | connection |
/// | `latchkey_client_connections_open`, `latchkey_upstream_connections_open` | gauge | — |
/// | `latchkey_websocket_tunnels_open` | gauge (after the 101) | — |
/// | `latchkey_config_reloads_total` | counter | result (`success`/`failure`) |
/// | `latchkey_config_last_reload_success` | gauge (1/0) | — |
/// | `latchkey_build_info` | gauge, always 1 | version |
/// | `latchkey_listener_accept_pauses_total` | counter | listener (`proxy`/`admin`), reason (`max_connections`/`out_of_descriptors`) |
/// | `latchkey_event_loops` | gauge, set at start | backend (`epoll`/`dispatch`) |
/// | `latchkey_intercept_*` | see `InterceptionMetrics` | result |
public final class LatchkeyMetrics: Sendable {
    /// Route label for requests that matched no route (passthrough); `(` cannot occur in a route name.
    public static let unmatchedRoute = "(unmatched)"
    /// Connection label for routes without a connection.
    public static let noConnection = "(none)"
    /// Upper bounds, in seconds, of both duration histograms.
    public static let durationBuckets: [Double] = [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    ]

    /// The registry behind these series; serve `registry.render()` with `MetricsRegistry.contentType`.
    public let registry = MetricsRegistry()
    /// Open client (downstream) connections: `increment()` on accept, `decrement()` on close.
    public let clientConnectionsOpen: Gauge
    /// Open upstream connections (pooled or in use): `increment()` on connect, `decrement()` on close. A
    /// WebSocket's connection leaves it at the 101 and counts in `webSocketTunnelsOpen` instead.
    public let upstreamConnectionsOpen: Gauge
    /// Open WebSocket tunnels (client and upstream joined after a 101): `increment()` when the tunnel opens,
    /// `decrement()` when it closes.
    public let webSocketTunnelsOpen: Gauge
    /// Intercepted CONNECTs and their leaf certificates.
    public let interception: InterceptionMetrics

    let requests: CounterFamily
    let requestDuration: HistogramFamily
    let upstreamDuration: HistogramFamily
    let upstreamAttempts: CounterFamily
    let upstreamRetries: CounterFamily
    let upstreamTLSHandshakes: CounterFamily
    let revocationChecks: CounterFamily
    let upstreamUnauthorized: CounterFamily
    let tokenFetches: CounterFamily
    /// Times a listener stopped accepting (once per episode), by listener and reason.
    public let acceptPauses: CounterFamily
    private let tokenExpiry: GaugeFamily
    private let connectionUp: GaugeFamily
    private let reloadSuccesses: Counter
    private let reloadFailures: Counter
    private let lastReloadSuccess: Gauge
    private let eventLoops: GaugeFamily

    /// Registers every series; `version` becomes `latchkey_build_info{version}`.
    public init(version: String) {
        let registry = registry
        requests = registry.counter(
            "latchkey_requests_total", help: "Requests answered, by route, connection and status class.",
            labels: ["route", "connection", "status_class"])
        requestDuration = registry.histogram(
            "latchkey_request_duration_seconds", help: "Time from request head received to response complete.",
            labels: ["route"], buckets: Self.durationBuckets)
        upstreamDuration = registry.histogram(
            "latchkey_upstream_duration_seconds", help: "Time from sending upstream to the upstream response head.",
            labels: ["route"], buckets: Self.durationBuckets)
        upstreamAttempts = registry.counter(
            "latchkey_upstream_attempts_total", help: "Upstream attempts, including retries.", labels: ["route"])
        upstreamRetries = registry.counter(
            "latchkey_upstream_retries_total", help: "Upstream attempts after the first.", labels: ["route"])
        upstreamTLSHandshakes = registry.counter(
            "latchkey_upstream_tls_handshakes_total",
            help: "TLS handshakes with upstreams, by whether an earlier session was resumed.",
            labels: ["route", "resumed"])
        revocationChecks = registry.counter(
            "latchkey_tls_revocation_checks_total",
            help: "Revocation checks of upstream certificate chains (full handshakes with tls.revocation on), by result.",
            labels: ["route", "result"])
        upstreamUnauthorized = registry.counter(
            "latchkey_upstream_unauthorized_total",
            help: "Upstream responses with status 401 (a credential the provider rejects), by route.", labels: ["route"])
        tokenFetches = registry.counter(
            "latchkey_token_fetches_total", help: "Token endpoint requests, by connection and result.",
            labels: ["connection", "result"])
        tokenExpiry = registry.gauge(
            "latchkey_token_expiry_seconds", help: "Seconds until the cached token expires.", labels: ["connection"])
        connectionUp = registry.gauge(
            "latchkey_connection_up",
            help: "1 if the connection can put a credential on a request now (fixed, or a usable token), else 0.",
            labels: ["connection"])
        clientConnectionsOpen = registry.gauge(
            "latchkey_client_connections_open", help: "Open client connections."
        ).child([])
        upstreamConnectionsOpen = registry.gauge(
            "latchkey_upstream_connections_open", help: "Open upstream connections."
        ).child([])
        webSocketTunnelsOpen = registry.gauge(
            "latchkey_websocket_tunnels_open", help: "Open WebSocket tunnels (after the upstream's 101)."
        ).child([])
        let reloads = registry.counter(
            "latchkey_config_reloads_total", help: "Configuration reloads, by result.", labels: ["result"])
        reloadSuccesses = reloads.child(["success"])
        reloadFailures = reloads.child(["failure"])
        lastReloadSuccess = registry.gauge(
            "latchkey_config_last_reload_success", help: "1 if the last configuration reload succeeded, else 0."
        ).child([])
        lastReloadSuccess.set(1)
        registry.gauge("latchkey_build_info", help: "Build information; always 1.", labels: ["version"])
            .child([version]).set(1)
        acceptPauses = registry.counter(
            "latchkey_listener_accept_pauses_total",
            help: "Times a listener stopped accepting: at max_connections or out of file descriptors.",
            labels: ["listener", "reason"])
        eventLoops = registry.gauge(
            "latchkey_event_loops", help: "Event loops serving connections, by backend (workers, event_loop).",
            labels: ["backend"])
        interception = InterceptionMetrics(registry: registry)
    }

    /// Sets `latchkey_event_loops{backend}`; called once when the server creates its loops.
    public func recordEventLoops(count: Int, backend: String) {
        eventLoops.child([backend]).set(Int64(count))
    }

    /// The pre-resolved handle for one route: resolve it when the route table is built (start-up and
    /// each reload), keep it next to the route, and call `RouteMetrics.record` per request.
    /// `connection` is the route's connection name, or nil for none (`noConnection`).
    public func route(_ name: String, connection: String?) -> RouteMetrics {
        RouteMetrics(metrics: self, route: name, connection: connection ?? Self.noConnection)
    }

    /// The pre-resolved handle for one connection's token fetch counters.
    public func connection(_ name: String) -> ConnectionMetrics {
        ConnectionMetrics(
            successes: tokenFetches.child([name, "success"]), failures: tokenFetches.child([name, "failure"]))
    }

    /// Installs the provider of `latchkey_token_expiry_seconds`, called at each scrape on the scraping
    /// thread: connection name → seconds until its cached token expires (negative once expired; omit
    /// connections without a token). Replaces the previous provider (re-install after a reload).
    public func setTokenExpiryProvider(_ provider: @escaping @Sendable () -> [String: Double]) {
        tokenExpiry.setProvider {
            provider().map { (labelValues: [$0.key], value: $0.value) }
        }
    }

    /// Installs the provider of `latchkey_connection_up`, called at each scrape on the scraping thread:
    /// connection name → whether it has a usable credential (every configured connection, so that a
    /// down one shows as 0 rather than vanishing). Replaces the previous provider (re-install after a reload).
    public func setConnectionUpProvider(_ provider: @escaping @Sendable () -> [String: Bool]) {
        connectionUp.setProvider {
            provider().map { (labelValues: [$0.key], value: $0.value ? 1 : 0) }
        }
    }

    /// Counts one revocation check for `route` (a route name, or `connection:NAME` for a connection's token
    /// endpoint); `result` is one of the fixed words good, revoked, unavailable, stale. Any thread.
    public func recordRevocationCheck(route: String, result: String) {
        revocationChecks.child([route, result]).increment()
    }

    /// Counts one configuration reload and sets `latchkey_config_last_reload_success`.
    public func recordConfigReload(success: Bool) {
        (success ? reloadSuccesses : reloadFailures).increment()
        lastReloadSuccess.set(success ? 1 : 0)
    }

    /// The exposition text of every series (`MetricsRegistry.render()`).
    public func render() -> String {
        registry.render()
    }
}
