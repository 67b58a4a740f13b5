import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

extension ForwardExchange {
    /// Follows a redirect (RFC 9110 §15.4) by planning the new location like a fresh request from the client.
    ///
    /// The credential goes along only when the new location is served by a route with the same connection;
    /// anywhere else the request carries no credential at all, neither injected nor the client's.
    /// Returns false when the location cannot be followed (the client then gets the 3xx).
    func followRedirect(to location: String, method: String, keepsBody: Bool) -> Bool {
        let current = plan.endpoint
        guard
            let next = RedirectRule.resolve(
                location: location, scheme: current.scheme, host: current.host, port: current.port, path: plan.head.target)
        else { return false }
        let authority = UpstreamURL.authority(host: next.host, port: next.port, scheme: next.scheme)
        var head = HTTPRequestHead(
            method: method, target: "\(next.scheme)://\(authority)\(next.path)", version: requestHead.version,
            headers: requestHead.headers)
        if !keepsBody {
            for name in ["Content-Length", "Transfer-Encoding", "Content-Type", "Expect"] { head.headers.remove(name: name) }
        }
        var nextPlan: ForwardPlan
        let sameConnection: Bool
        if next.scheme == current.scheme, next.host == current.host, next.port == current.port {
            // The same origin the route sent us to (typically a relative Location): still the route's upstream,
            // so it keeps the route and its credential. Planning it afresh would look for a route by the
            // upstream's address, which is not what apps call.
            nextPlan = plan
            nextPlan.head.method = method
            nextPlan.head.target = next.path
            if !keepsBody {
                for name in ["Content-Length", "Transfer-Encoding", "Content-Type", "Expect"] {
                    nextPlan.head.headers.remove(name: name)
                }
            }
            sameConnection = injectsCredential
        } else {
            let replanned = RequestRewrite.applyMethodRules(
                to: RequestPlanner.plan(head, runtime: runtime), head: head, runtime: runtime)
            guard case .forward(var planned) = replanned else { return false }
            if planned.route == nil {
                // No route names this host: never to loopback, link-local or metadata addresses (checked on the
                // name now, and on the resolved addresses when connecting), whatever passthrough would allow.
                if DestinationPolicy.redirect.refusal(forHost: next.host) != nil { return false }
                planned.endpoint.destination = DestinationPolicy.redirect
            }
            nextPlan = planned
            sameConnection = planned.route?.settings.connection != nil
                && planned.route?.settings.connection == originalPlan.connectionName
        }
        if !sameConnection {
            nextPlan.head.headers.remove(name: "Authorization")
        }
        attemptHistory.append("redirect \(redirectsFollowed + 1): \(responseStatusText) to \(next.scheme)://\(authority)\(RequestPlanner.pathOnly(next.path))")
        abandonAttempt()
        redirectsFollowed += 1
        injectsCredential = sameConnection
        if !keepsBody {
            requestFraming = .none
            unsent.removeAll()
            unsentBytes = 0
            replay.removeAll()
            replayBytes = 0
            requestFullySent = false
        } else if headSent {
            rewindBody()
        }
        plan = nextPlan
        beginAttempt()
        return true
    }

    private var responseStatusText: String { "from \(plan.endpoint.authority)" }
}
