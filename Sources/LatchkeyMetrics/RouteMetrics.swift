/// One route's series, resolved once (`LatchkeyMetrics.route(_:connection:)`) so that `record` is a
/// handful of relaxed atomic adds: no lock, no dictionary lookup, no allocation.
public final class RouteMetrics: Sendable {
    /// The route label.
    public let route: String
    /// The connection label.
    public let connection: String
    private let requestsByClass: [Counter]  // index 0...4 = 1xx...5xx
    private let requestDuration: Histogram
    private let upstreamDuration: Histogram
    private let attempts: Counter
    private let retries: Counter
    private let fullTLSHandshakes: Counter
    private let resumedTLSHandshakes: Counter
    private let unauthorized: Counter

    init(metrics: LatchkeyMetrics, route: String, connection: String) {
        self.route = route
        self.connection = connection
        requestsByClass = (1...5).map { metrics.requests.child([route, connection, "\($0)xx"]) }
        requestDuration = metrics.requestDuration.child([route])
        upstreamDuration = metrics.upstreamDuration.child([route])
        attempts = metrics.upstreamAttempts.child([route])
        retries = metrics.upstreamRetries.child([route])
        fullTLSHandshakes = metrics.upstreamTLSHandshakes.child([route, "false"])
        resumedTLSHandshakes = metrics.upstreamTLSHandshakes.child([route, "true"])
        unauthorized = metrics.upstreamUnauthorized.child([route])
    }

    /// Counts one upstream response with status 401, per attempt (a 401 replayed with a new token and
    /// rejected again counts twice): a credential the provider rejects shows here. Any thread.
    public func recordUnauthorized() {
        unauthorized.increment()
    }

    /// Records one completed TLS handshake with an upstream. Any thread.
    public func recordTLSHandshake(resumed: Bool) {
        (resumed ? resumedTLSHandshakes : fullTLSHandshakes).increment()
    }

    /// Records one finished request, once, when its response is complete (or the exchange failed and the
    /// error response was sent). Any thread.
    /// - `status`: the status sent to the client; classes `1xx`...`5xx` (values outside 100...599 are
    ///   clamped into the nearest class).
    /// - `duration`: request head received → response complete.
    /// - `upstreamDuration`: sending upstream → upstream response head, nil when no head arrived.
    /// - `attempts`: upstream attempts made, 0 when the request never went upstream; attempts after the
    ///   first count as retries.
    public func record(status: Int, duration: Duration, upstreamDuration: Duration?, attempts: Int) {
        requestsByClass[min(max(status / 100, 1), 5) - 1].increment()
        requestDuration.observe(duration)
        if let upstreamDuration { self.upstreamDuration.observe(upstreamDuration) }
        if attempts > 0 {
            self.attempts.increment(by: UInt64(attempts))
            if attempts > 1 { retries.increment(by: UInt64(attempts - 1)) }
        }
    }
}
