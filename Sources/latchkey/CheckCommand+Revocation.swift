import Dispatch
import LatchkeyAuth
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyProxy
import LatchkeyTLS
import Synchronization

extension CheckCommand {
    /// For each route with `tls.revocation` on and a fixed https upstream: one request through the route's own
    /// TLS context (distribution-point CRLs fetched as at run time), then the revocation result its handshake
    /// reported, one line per route. Returns how many were refused.
    static func checkRevocation(_ runtime: ProxyRuntime, loop: EventLoop, output: Output) -> Int {
        let routes = runtime.configuration.routes.filter { route in
            route.tls.revocation != .off && !route.tls.insecureSkipVerify && route.upstream?.isTLS == true
        }
        guard !routes.isEmpty else { return 0 }
        let lines = Mutex<[String: (Bool, String)]>([:])
        let group = DispatchGroup()
        for route in routes {
            guard let upstream = route.upstream, let routeRuntime = runtime.routes[route.name] else { continue }
            // The route's own context, so that its handshake reports under the route's name.
            let client = UpstreamHTTPClient(loop: loop, ownListeners: OwnListeners())
            let context = routeRuntime.http1TLS
            client.useContexts { _ in context }
            let url = EndpointURL(scheme: upstream.scheme, host: upstream.host, port: upstream.port, path: "/")
            let request = TokenEndpointRequest(
                method: "HEAD", url: url, headers: [], body: [], tls: route.tls, timeout: .seconds(10))
            let serverName = route.tls.serverName ?? upstream.host
            group.enter()
            client.send(request) { result in
                let report = runtime.revocation.board.entries(for: route.name)
                    .first { $0.report.serverName == serverName }?.report
                let mode = route.tls.revocation.rawValue
                let prefix = "route \(route.name): tls.revocation=\(mode) \(upstream.authority):"
                let line: (Bool, String)
                switch (result, report) {
                case (.success, let report?):
                    line = (true, "\(prefix) \(report.description) (\(report.source))")
                case (.success, nil):
                    line = (true, "\(prefix) handshake made, no revocation result (resumed session)")
                case (.failure(let failure), _):
                    line = (false, "\(prefix) refused: \(failure.reason)")
                }
                lines.withLock { $0[route.name] = line }
                group.leave()
            }
        }
        group.wait()
        var refused = 0
        for route in routes {
            guard let (ok, text) = lines.withLock({ $0[route.name] }) else { continue }
            output.line(text)
            if !ok { refused += 1 }
        }
        return refused
    }
}
