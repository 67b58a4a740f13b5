import LatchkeyNet
import Yams

/// Top-level rules about what the proxy may reach: `connect_ports`, the `unmatched` default for a
/// non-loopback `listen`, and routes whose upstream is the proxy itself.
extension ConfigDecoder {
    /// `connect_ports:` the ports a CONNECT passthrough may reach, default `[443]`.
    func decodeConnectPorts(_ top: Fields) -> [Int]? {
        guard let node = top["connect_ports"] else { return nil }
        let path = top.path("connect_ports")
        guard case .sequence(let sequence) = node else {
            fail(node, path, "expected a list of ports (1-65535), e.g. [443]")
            return nil
        }
        var ports: [Int] = []
        for (index, item) in sequence.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let text = scalar(item, path: itemPath, expected: "a port number") else { continue }
            guard let port = Int(text.value), (1...65535).contains(port) else {
                fail(item, itemPath, "expected a port between 1 and 65535, found '\(text.raw)'")
                continue
            }
            if !ports.contains(port) { ports.append(port) }
        }
        if sequence.isEmpty {
            fail(node, path, "must list at least one port (CONNECT to any port needs an explicit list)")
        }
        return ports
    }

    /// When `unmatched` is not set, a proxy listening beyond loopback denies unmatched requests: passthrough
    /// would make it an open proxy for everyone who can reach it. An explicit passthrough there is warned
    /// about. Which default applied goes to `notices`.
    func applyUnmatchedDefault(_ top: Fields, to configuration: inout ProxyConfiguration) {
        let listen = configuration.listen
        let loopback = listen.isLoopback
        guard top["unmatched"] != nil else {
            if loopback {
                configuration.notices.append(
                    "unmatched: not set; listen \(listen) is loopback, so the default 'passthrough' applies")
            } else {
                configuration.unmatched = .deny
                configuration.notices.append(
                    "unmatched: not set; listen \(listen) is not loopback, so the default 'deny' applies "
                        + "(set unmatched: passthrough to forward requests that match no route)")
            }
            return
        }
        if configuration.unmatched == .passthrough, !loopback {
            warn(
                top["unmatched"], top.path("unmatched"),
                "OPEN PROXY: unmatched: passthrough with listen \(listen), which is not loopback: everyone who can "
                    + "reach the listener can send requests and CONNECT tunnels (ports \(configuration.connectPorts)) "
                    + "through this host; use unmatched: deny or listen on 127.0.0.1")
        }
    }

    /// A route whose upstream is one of the proxy's own listeners would loop (or reach the admin API with
    /// the proxy's authority): an error at the route's `upstream`. Loopback names, loopback addresses and a
    /// wildcard listener (0.0.0.0, ::) are treated as the same host. Port 0 listeners cannot be checked here
    /// (the runtime refuses connections to the bound addresses anyway).
    func checkUpstreamsAgainstListeners(_ top: Fields, configuration: ProxyConfiguration) {
        let listeners = [("listen", configuration.listen), ("admin", configuration.admin)].compactMap { name, address in
            address.map { (name, $0) }
        }
        guard let routesNode = top["routes"], case .sequence(let sequence) = routesNode else { return }
        let items = Array(sequence)
        // Every item became a route unless it had errors of its own; then the line finds it.
        let aligned = items.count == configuration.routes.count
        for (position, route) in configuration.routes.enumerated() {
            guard let upstream = route.upstream else { continue }
            for (key, listener) in listeners
            where listener.port != 0 && Self.reaches(upstream: upstream, listener: listener) {
                let index = aligned ? position : items.firstIndex { $0.mark?.line == route.line }
                var node: Node? = index.map { items[$0] }
                if case .mapping(let mapping)? = node {
                    node = mapping.first { $0.key.string == "upstream" }?.value ?? node
                }
                fail(
                    node, "routes[\(index ?? 0)].upstream",
                    "upstream \(upstream) is this proxy's own \(key) listener (\(listener)); a route to itself loops")
            }
        }
    }

    /// Whether `upstream` names the same socket as `listener` (same port; same host, or both loopback, or
    /// a wildcard listener and a loopback or unspecified upstream).
    static func reaches(upstream: UpstreamURL, listener: ListenAddress) -> Bool {
        guard upstream.port == listener.port else { return false }
        func normal(_ host: String) -> String {
            var h = host.lowercased()
            if h.hasPrefix("["), h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
            if h.hasSuffix(".") { h.removeLast() }
            return h
        }
        let upstreamHost = normal(upstream.host)
        let listenerHost = normal(listener.host)
        let wildcard: Set<String> = ["0.0.0.0", "::", "0:0:0:0:0:0:0:0", ""]
        let upstreamLocal = AddressScope.isLoopback(host: upstreamHost) || wildcard.contains(upstreamHost)
        if upstreamHost == listenerHost { return true }
        if wildcard.contains(listenerHost) { return upstreamLocal }
        return upstreamLocal && AddressScope.isLoopback(host: listenerHost)
    }
}
