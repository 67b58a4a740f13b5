import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

extension ExchangeStateMachine {
    /// Follows a redirect (RFC 9110 §15.4) by planning the new location like a fresh request from the client.
    ///
    /// The credential goes along only when the new location is served by a route with the same connection;
    /// anywhere else the request carries no credential at all, neither injected nor the client's.
    /// Returns nil when the location cannot be followed (the client then gets the 3xx).
    mutating func followRedirect(to location: String, method: String, keepsBody: Bool, now: Instant) -> Action? {
        let current = plan.endpoint
        guard
            let next = RedirectRule.resolve(
                location: location, scheme: current.scheme, host: current.host, port: current.port,
                path: plan.head.target)
        else { return nil }
        let authority = UpstreamURL.authority(host: next.host, port: next.port, scheme: next.scheme)
        var nextPlan: ForwardPlan
        let sameConnection: Bool
        if next.scheme == current.scheme, next.host == current.host, next.port == current.port {
            // The same origin the route sent us to (typically a relative Location): still the route's upstream,
            // so it keeps the route and its credential. Planning it afresh would look for a route by the
            // upstream's address, which is not what apps call.
            nextPlan = plan
            nextPlan.head.method = method
            nextPlan.head.target = next.path
            if !keepsBody { Self.removeBodyFields(&nextPlan.head.headers) }
            sameConnection = injectsCredential
        } else {
            var head = HTTPRequestHead(
                method: method, target: "\(next.scheme)://\(authority)\(next.path)", version: requestHead.version,
                headers: requestHead.headers)
            if !keepsBody { Self.removeBodyFields(&head.headers) }
            let replanned = RequestRewrite.applyMethodRules(
                to: RequestPlanner.plan(head, runtime: runtime), head: head, runtime: runtime)
            guard case .forward(var planned) = replanned else { return nil }
            if planned.route == nil {
                // No route names this host: never to loopback, link-local or metadata addresses (checked on the
                // name now, and on the resolved addresses when connecting), whatever passthrough would allow.
                if DestinationPolicy.redirect.refusal(forHost: next.host) != nil { return nil }
                planned.endpoint = planned.endpoint.with(destination: .redirect)
            }
            nextPlan = planned
            sameConnection =
                planned.route?.settings.connection != nil
                && planned.route?.settings.connection == origin.connectionName
        }
        if !sameConnection { nextPlan.head.headers.remove(name: "Authorization") }
        history.append(
            "redirect \(redirectsFollowed + 1): from \(plan.endpoint.authority) to \(next.scheme)://\(authority)\(RequestPlanner.pathOnly(next.path))"
        )
        redirectsFollowed += 1
        injectsCredential = sameConnection
        if !keepsBody {
            requestFraming = .none
            body.drop()
            requestTrailers = HTTPHeaders()  // they belonged to the body
            requestFullySent = false
        } else if headSent {
            body.rewind()
        }
        headDeadline = nil
        plan = nextPlan
        return beginAttempt(now: now)
    }

    private static func removeBodyFields(_ headers: inout HTTPHeaders) {
        for name in ["Content-Length", "Transfer-Encoding", "Content-Type", "Expect"] { headers.remove(name: name) }
    }
}
