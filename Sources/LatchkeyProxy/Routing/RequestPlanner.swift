import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyTLS

/// A request ready to be sent upstream: everything except the credential, which is looked up per attempt.
public struct ForwardPlan: Sendable {
    /// The matched route; nil for an unmatched request passed through.
    public var route: ProxyRuntime.RouteRuntime?
    public var endpoint: UpstreamEndpoint
    public var tls: TLSClientContext?
    /// The client's head with the upstream request-target (normalised, `strip_prefix` and the upstream's base
    /// path applied) and the method rules applied (`Max-Forwards`). Its fields are still the client's:
    /// `RequestRewrite.upstreamHead` makes the head of each attempt from it, the one rewrite step.
    public var head: HTTPRequestHead
    public var timeout: Duration
    public var connectTimeout: Duration
    /// A WebSocket opening handshake (`WebSocketHandshake`): `Upgrade: websocket` goes upstream, a `101` turns
    /// the exchange into a byte tunnel, and redirects are not followed.
    public var upgradesToWebSocket = false
    /// The `Sec-WebSocket-Accept` the `101` must carry, when the proxy made the handshake's key (an RFC 8441
    /// client over HTTP/2 sends none, RFC 8441 §5): the proxy checks it in the client's place.
    public var webSocketAccept: String?
    /// The request's host and path (without query) as the client named them, for the access log.
    public var clientHost: String
    public var clientPath: String = "/"
    /// Received inside an intercepted CONNECT tunnel (marked in the access log).
    public var intercepted = false
    /// The HTTP version towards the upstream: the route's `http2`, or `.never` (with `tls` offering only
    /// http/1.1) for a request HTTP/2 cannot carry — an `Upgrade` handshake (RFC 9113 §8.6) — and for
    /// requests no route serves.
    public var http2: HTTP2Mode = .never

    public var routeName: String? { route?.settings.name }
    public var connectionName: String? { route?.settings.connection }

    /// The parts the access log and the metrics report, fixed when the exchange starts.
    var origin: RequestOrigin {
        RequestOrigin(route: route, clientHost: clientHost, clientPath: clientPath, intercepted: intercepted)
    }
}

/// What the access log and the metrics say of a request as the client made it, whatever redirects followed.
public struct RequestOrigin: Sendable {
    public let route: ProxyRuntime.RouteRuntime?
    public let clientHost: String
    public let clientPath: String
    public let intercepted: Bool

    public var routeName: String? { route?.settings.name }
    public var connectionName: String? { route?.settings.connection }
}

/// What to do with a request head.
public enum RequestPlan: Sendable {
    case forward(ForwardPlan)
    case tunnel(host: String, port: Int)
    /// A CONNECT the proxy intercepts: `200`, then TLS terminated with a leaf for the host, then each request
    /// inside planned by `RequestPlanner.planIntercepted`.
    case intercept(InterceptedOrigin)
    case reject(ProxyError)
    /// The proxy answers itself and forwards nothing (a TRACE or OPTIONS with `Max-Forwards: 0`).
    case respond(LocalResponse)
}

/// Decides, from a request head and the runtime, where the request goes and how its head is rewritten.
/// Pure: no I/O, so every rule is unit-tested directly.
public enum RequestPlanner {
    /// Default timeouts for passthrough traffic (no route to configure them).
    static let passthroughTimeout: Duration = .seconds(30)
    static let passthroughConnectTimeout: Duration = .seconds(5)

    public static func plan(_ head: HTTPRequestHead, runtime: ProxyRuntime) -> RequestPlan {
        guard let target = RequestTarget.parse(head.target, method: head.method) else {
            return .reject(ProxyError(.badRequest, "invalid request-target"))
        }
        switch target {
        case .authority(let host, let port):
            return planConnect(host: host, port: port, runtime: runtime)
        case .asterisk:
            return .reject(ProxyError(.badRequest, "the proxy does not answer OPTIONS *"))
        case .absolute(let scheme, let host, let port, let rawPath):
            return planAbsolute(head, scheme: scheme, host: host, port: port, rawPath: rawPath, runtime: runtime)
        case .origin(let rawPath):
            let path: String
            do {
                path = try RequestPath.normalize(rawPath)
            } catch {
                return .reject(ProxyError(.invalidPath, error.description))
            }
            // The Host names the origin the client means (RFC 9110 §7.2), read in the one canonical spelling: a
            // route whose `host` matches it applies as to an absolute-form request (virtual hosts, as in any
            // gateway); else routes without `host` (route mode, where the Host names this proxy). A host route
            // without `upstream` is skipped: its destination would come from the Host, which in route mode is
            // this proxy's own address, and origin-form never made the proxy a transparent one.
            let authority = head.headers.hostAuthority(defaultPort: 80)
            guard
                let index = runtime.router.matchIndex(
                    host: authority?.host, port: authority?.port ?? 0, path: pathOnly(path), method: head.method,
                    where: { $0.host == nil || $0.hasUpstream })
            else {
                return .reject(
                    ProxyError(
                        .noRoute,
                        "no route matches path \(pathOnly(path)); send absolute-form requests (use Latchkey as HTTP proxy) or add a route with path_prefix and upstream"
                    ))
            }
            return planRoute(
                head, route: runtime.routesInFileOrder[index], requestScheme: "http", host: authority?.host ?? head.headers.first(.host) ?? "",
                port: 0,
                path: path, rawPath: rawPath, runtime: runtime)
        }
    }

    /// An absolute-form request (and, from `planIntercepted`, a request inside an intercepted tunnel): the
    /// route whose host, path and method match and which `accepts` allows, else the unmatched policy.
    static func planAbsolute(
        _ head: HTTPRequestHead, scheme: String, host: String, port: Int, rawPath: String, runtime: ProxyRuntime,
        accepts: (RouteSettings) -> Bool = { _ in true }
    ) -> RequestPlan {
        let config = runtime.configuration
        let path: String
        do {
            path = try RequestPath.normalize(rawPath)
        } catch {
            return .reject(ProxyError(.invalidPath, error.description))
        }
        if let index = runtime.router.matchIndex(
            host: host, port: port, path: pathOnly(path), method: head.method, where: accepts)
        {
            let routeRuntime = runtime.routesInFileOrder[index]
            return planRoute(
                head, route: routeRuntime, requestScheme: scheme, host: host, port: port, path: path, rawPath: rawPath,
                runtime: runtime)
        }
        guard config.unmatched == .passthrough else {
            return .reject(ProxyError(.denied, "no route matches \(host)\(pathOnly(path)) and unmatched requests are denied"))
        }
        let destination = DestinationPolicy.passthrough(listenerIsLoopback: config.listen.isLoopback)
        if let reason = destination.refusal(forHost: host) {
            return .reject(ProxyError(.destinationRefused, "\(reason); requests that match no route may not reach it"))
        }
        var rewritten = head
        rewritten.target = path
        let endpoint = UpstreamEndpoint(scheme: scheme, host: host, port: port, serverName: host, destination: destination)
        return .forward(
            ForwardPlan(
                route: nil, endpoint: endpoint, tls: scheme == "https" ? runtime.defaultTLS : nil, head: rewritten,
                timeout: passthroughTimeout, connectTimeout: passthroughConnectTimeout, clientHost: host,
                clientPath: pathOnly(rawPath)))
    }

    /// CONNECT (RFC 9110 §9.3.6) to a host a credential route serves (found by the same `Router.match` as
    /// every other request form, on the canonical host, so `API.example.:443` is `api.example:443`):
    /// - the route says `intercept: false`: an opaque tunnel without credential (pinned clients), to a port in
    ///   `connect_ports` or the port the route's host names, whatever `unmatched` says (the route asked for it);
    /// - `intercept` is configured: `.intercept`, the proxy terminates TLS and sees every request inside;
    /// - else refused (403), with advice naming the `intercept` key.
    ///
    /// Any other CONNECT is a passthrough tunnel, allowed only with `unmatched: passthrough`, to a port in
    /// `connect_ports`, and never to a refused destination.
    private static func planConnect(host: String, port: Int, runtime: ProxyRuntime) -> RequestPlan {
        let config = runtime.configuration
        if let routed = connectRoute(host: host, port: port, runtime: runtime) {
            if !routed.intercept {
                guard config.connectPorts.contains(port) || routed.host?.port == port else {
                    return .reject(
                        ProxyError(
                            .connectPortRefused,
                            "CONNECT to \(host):\(port) refused: route \(routed.name) tunnels (intercept: false) but port \(port) is not in connect_ports; add it to connect_ports or name it in the route's host",
                            route: routed.name, connection: routed.connection))
                }
                return .tunnel(host: host, port: port)
            }
            guard runtime.interception != nil else {
                let detail =
                    "\(host) has route \(routed.name) with connection \(routed.connection ?? ""): a CONNECT tunnel would hide the request from the proxy, so no credential could be injected. Configure the top-level intercept key (intercept: ca_cert, ca_key; see docs/interception.md) so the proxy terminates TLS for routed hosts, or call it over http:// (http://\(host)/...) and let the route's upstream: https://\(host) speak TLS."
                return .reject(ProxyError(.connectRefusedForRoute, detail, route: routed.name, connection: routed.connection))
            }
            return .intercept(InterceptedOrigin(host: host, port: port))
        }
        guard config.unmatched == .passthrough else {
            return .reject(ProxyError(.denied, "CONNECT to \(host):\(port) matches no route and unmatched requests are denied"))
        }
        guard config.connectPorts.contains(port) else {
            let allowed = config.connectPorts.map(String.init).joined(separator: ", ")
            return .reject(
                ProxyError(
                    .connectPortRefused,
                    "CONNECT to \(host):\(port) refused: port \(port) is not in connect_ports (\(allowed)); add it to connect_ports to allow tunnels to it"
                ))
        }
        let destination = DestinationPolicy.passthrough(listenerIsLoopback: config.listen.isLoopback)
        if let reason = destination.refusal(forHost: host) {
            return .reject(ProxyError(.destinationRefused, "CONNECT to \(host):\(port) refused: \(reason)"))
        }
        return .tunnel(host: host, port: port)
    }

    private static func planRoute(
        _ head: HTTPRequestHead, route: ProxyRuntime.RouteRuntime, requestScheme: String, host: String, port: Int,
        path: String, rawPath: String, runtime: ProxyRuntime
    ) -> RequestPlan {
        let settings = route.settings
        let endpoint: UpstreamEndpoint
        var upstreamPath = path
        if settings.stripPrefix, let prefix = settings.pathPrefix {
            upstreamPath = strip(prefix: prefix, from: path)
        }
        if let upstream = settings.upstream, let routeEndpoint = route.upstreamEndpoint {
            endpoint = routeEndpoint
            upstreamPath = upstream.basePath + upstreamPath
        } else {
            guard port != 0 else {
                return .reject(ProxyError(.noRoute, "route \(settings.name) has no upstream", route: settings.name))
            }
            // Without `upstream` the client names the port; unless the route's host names one, only the scheme's
            // default port gets the route (and its credential): another port on the same host is another service.
            let defaultPort = requestScheme == "https" ? 443 : 80
            guard settings.host?.port != nil || port == defaultPort else {
                return .reject(
                    ProxyError(
                        .denied,
                        "route \(settings.name) has no upstream and its host names no port, so it serves port \(defaultPort) only; name the port in host (\(host):\(port)) or set upstream",
                        route: settings.name, connection: settings.connection))
            }
            endpoint = UpstreamEndpoint(
                scheme: requestScheme, host: host, port: port, serverName: settings.tls.serverName ?? host)
        }
        let isLoopback =
            route.upstreamEndpoint === endpoint ? route.upstreamIsLoopback : AddressScope.isLoopback(host: endpoint.host)
        if route.injectsCredentials, !endpoint.isTLS, !isLoopback,
            !settings.allowPlaintextCredentials
        {
            return .reject(
                ProxyError(
                    .plaintextCredentials,
                    "route \(settings.name) would send credentials over plain http to \(endpoint.host); set upstream: https://... or allow_plaintext_credentials: true",
                    route: settings.name, connection: settings.connection))
        }
        let rewritten = HTTPRequestHead(
            method: head.method, target: upstreamPath, version: head.version, headers: head.headers)
        let needsHTTP1 = head.headers.contains(.upgrade)
        var plan = ForwardPlan(
            route: route, endpoint: endpoint, tls: endpoint.isTLS ? (needsHTTP1 ? route.http1TLS : route.tls) : nil,
            head: rewritten, timeout: .milliseconds(settings.timeoutMs),
            connectTimeout: .milliseconds(settings.connectTimeoutMs), clientHost: host.isEmpty ? endpoint.host : host,
            clientPath: pathOnly(rawPath))
        plan.http2 = needsHTTP1 ? .never : settings.http2
        return .forward(plan)
    }

    /// `HTTPRequestHead.pathOnly`, the one rule (kept under this name for its callers in the proxy).
    static func pathOnly(_ path: String) -> String { HTTPRequestHead.pathOnly(path) }

    static func strip(prefix: String, from path: String) -> String {
        guard path.hasPrefix(prefix) else { return path }
        var rest = String(path.dropFirst(prefix.count))
        if !rest.hasPrefix("/") { rest = "/" + rest }
        return rest
    }
}
