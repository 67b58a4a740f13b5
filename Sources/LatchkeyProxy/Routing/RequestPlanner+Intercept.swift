import LatchkeyConfig
import LatchkeyHTTP

/// Planning inside an intercepted CONNECT tunnel. The safety rule of interception lives here: the CONNECT
/// authority, the TLS SNI (checked by the TLS layer) and every inner request's `Host` (and absolute-form
/// authority) name the same host and port, and only routes for that host can serve the request — so a
/// credential only ever goes where the route the CONNECT authority matched sends it.
extension RequestPlanner {
    /// The credential route a CONNECT to `host:port` matches (host and port alone, see `Router.match`), or nil.
    static func connectRoute(host: String, port: Int, runtime: ProxyRuntime) -> RouteSettings? {
        runtime.router.match(host: host, port: port, path: nil, method: "CONNECT") { route in
            runtime.routes[route.name]?.injectsCredentials ?? false
        }
    }

    /// A request received inside the tunnel opened by an intercepted `CONNECT origin`:
    /// 1. `421 Misdirected Request` (RFC 9110 §15.5.20) unless its `Host` — exactly one — and, in absolute
    ///    form, its `https` authority name `origin` (the port 443 when none is given). Nothing is forwarded,
    ///    no credential is looked up. The connection stays open for the next request: 421 says this request
    ///    does not belong on this connection, not that the connection is broken (the client may retry it on
    ///    another connection, RFC 9110 §15.5.20).
    /// 2. `421` too when the runtime no longer intercepts `origin` (a reload removed `intercept` or set the
    ///    route's `intercept: false`): open connections stop injecting at once; a new CONNECT gets the new rule.
    /// 3. Then planned as the absolute-form request `https://origin` + path: only routes with a `host` that
    ///    matches `origin` (never a host-less route-mode route, never one with `intercept: false`) can serve
    ///    it, else the unmatched policy applies (passthrough forwards it to `origin` over verified TLS without
    ///    a credential; deny refuses it).
    /// CONNECT inside the tunnel and `OPTIONS *` are refused (400).
    public static func planIntercepted(_ head: HTTPRequestHead, origin: InterceptedOrigin, runtime: ProxyRuntime)
        -> RequestPlan
    {
        guard let target = RequestTarget.parse(head.target, method: head.method) else {
            return .reject(ProxyError(.badRequest, "invalid request-target"))
        }
        let rawPath: String
        switch target {
        case .origin(let path):
            rawPath = path
        case .absolute(let scheme, let host, let port, let path):
            guard scheme == "https", origin.matches(host: host, port: port) else {
                return .reject(misdirected(origin, named: "the request-target names \(scheme)://\(host):\(port)"))
            }
            rawPath = path
        case .authority:
            return .reject(
                ProxyError(.badRequest, "CONNECT inside an intercepted tunnel to \(origin) is not supported"))
        case .asterisk:
            return .reject(ProxyError(.badRequest, "the proxy does not answer OPTIONS *"))
        }
        let hostFields = head.headers.values(for: "Host")
        guard hostFields.count == 1, let named = HostHeader.parse(hostFields[0], defaultPort: 443) else {
            return .reject(
                misdirected(origin, named: "the request has \(hostFields.isEmpty ? "no" : "an invalid") Host"))
        }
        guard origin.matches(host: named.host, port: named.port) else {
            return .reject(
                misdirected(origin, named: "its Host names \(InterceptedOrigin(host: named.host, port: named.port))"))
        }
        guard runtime.interception != nil,
            connectRoute(host: origin.host, port: origin.port, runtime: runtime)?.intercept == true
        else {
            return .reject(
                ProxyError(
                    .misdirectedRequest,
                    "the proxy no longer intercepts \(origin) (its configuration was reloaded); open a new connection"))
        }
        let plan = planAbsolute(
            head, scheme: "https", host: origin.host, port: origin.port, rawPath: rawPath, runtime: runtime,
            accepts: { $0.host != nil && $0.intercept })
        guard case .forward(var forward) = plan else { return plan }
        forward.intercepted = true
        return .forward(forward)
    }

    private static func misdirected(_ origin: InterceptedOrigin, named: String) -> ProxyError {
        ProxyError(
            .misdirectedRequest,
            "this connection was opened with CONNECT \(origin) and carries requests for \(origin) only, but \(named); send it through its own CONNECT"
        )
    }
}
