import LatchkeyHTTP
import Yams

extension ConfigDecoder {
    static let routeKeys = [
        "name", "host", "path_prefix", "methods", "connection", "upstream", "strip_prefix", "timeout_ms",
        "connect_timeout_ms", "allow_plaintext_credentials", "tls", "scopes", "audience", "token_params",
        "retry", "deadline_ms", "max_redirects", "debug", "intercept", "http2",
    ]

    /// `routes:` — a list, kept in file order; names are checked for uniqueness.
    func decodeRoutes(_ node: Node?, connections: [ConnectionSettings]) -> [RouteSettings] {
        guard let node else { return [] }
        guard case .sequence(let sequence) = node else {
            fail(node, "routes", "expected a list of routes")
            return []
        }
        var routes: [RouteSettings] = []
        var seenNames: [String: Int] = [:]
        for (index, item) in sequence.enumerated() {
            let path = "routes[\(index)]"
            guard let map = fields(item, path: path, allowed: Self.routeKeys),
                let route = decodeRoute(map, index: index, connections: connections)
            else { continue }
            if let line = seenNames[route.name] {
                let at = map["name"] ?? item
                fail(at, map.path("name"), "duplicate route name '\(route.name)' (first used on line \(line))")
            } else {
                seenNames[route.name] = route.line
            }
            routes.append(route)
        }
        return routes
    }

    private func decodeRoute(_ map: Fields, index: Int, connections: [ConnectionSettings]) -> RouteSettings? {
        var route = RouteSettings(name: "route-\(index + 1)", line: map.node.mark?.line ?? 0)
        if let name = string(map, "name") {
            if Self.isName(name.value) { route.name = name.value } else {
                fail(name.node, name.path, "invalid route name '\(name.raw)'; use letters, digits, '_', '-' and '.'")
            }
        }
        if let host = string(map, "host") {
            do throws(ValueProblem) {
                route.host = try HostPattern.parse(host.value)
            } catch {
                fail(host.node, host.path, error.message)
            }
        }
        if let prefix = string(map, "path_prefix") {
            if !prefix.value.hasPrefix("/") {
                fail(prefix.node, prefix.path, "must start with '/'")
            } else if prefix.value.contains(where: { $0 == "?" || $0 == "#" || $0.isWhitespace }) {
                fail(prefix.node, prefix.path, "must be a path without '?', '#' or whitespace")
            } else if !Self.isNormalisedPath(prefix.value) {
                fail(
                    prefix.node, prefix.path,
                    "must be a normalised path: requests are matched after '.' and '..' segments are removed, and "
                        + "paths with %2e, '\\' or an encoded '/' beside a dot-segment are refused, so this prefix "
                        + "could never match")
            } else {
                route.pathPrefix = prefix.value
            }
        }
        if let methods = stringList(map, "methods") {
            if methods.isEmpty { fail(map["methods"], map.path("methods"), "must list at least one method (or be left out)") }
            var set = Set<String>()
            for method in methods {
                if Self.isToken(method.value) { set.insert(method.value.uppercased()) } else {
                    fail(method.node, method.path, "invalid method '\(method.raw)'")
                }
            }
            if !set.isEmpty { route.methods = set }
        }
        let connectionText = string(map, "connection")
        var connection: ConnectionSettings?
        if let connectionText {
            connection = connections.first { $0.name == connectionText.value }
            route.connection = connectionText.value
            if connection == nil && !connectionNames.contains(connectionText.value) {
                let names = connectionNames
                fail(
                    connectionText.node, connectionText.path, "unknown connection '\(connectionText.raw)'",
                    suggestion: EditDistance.nearest(to: connectionText.value, in: names).map { "did you mean '\($0)'?" }
                        ?? (names.isEmpty ? "no connections are defined" : "defined: \(names.joined(separator: ", "))"))
            }
        }
        let upstream = url(map, "upstream")
        route.upstream = upstream?.url
        route.stripPrefix = bool(map, "strip_prefix") ?? false
        if route.stripPrefix && map["path_prefix"] == nil {
            fail(map.keyNode("strip_prefix"), map.path("strip_prefix"), "strip_prefix needs a path_prefix")
        }
        if let v = int(map, "timeout_ms", in: ConfigBounds.timeoutMs) { route.timeoutMs = v }
        if let v = int(map, "connect_timeout_ms", in: ConfigBounds.timeoutMs) { route.connectTimeoutMs = v }
        route.allowPlaintextCredentials = bool(map, "allow_plaintext_credentials") ?? false
        route.tls = decodeTLS(map, "tls")
        if route.tls.insecureSkipVerify {  // only a route's own block can set it (not the top-level one)
            warn(
                map["tls"], map.path("tls.insecure_skip_verify"),
                "certificate verification is disabled for route '\(route.name)'; anyone on the path can read the credentials")
            if route.tls.revocation != .off {
                warn(
                    map["tls"], map.path("tls.revocation"),
                    "revocation: \(route.tls.revocation.rawValue) is ignored for route '\(route.name)': nothing is verified with insecure_skip_verify")
            }
        }
        route.intercept = bool(map, "intercept") ?? true
        if let mode = choice(map, "http2", as: HTTP2Mode.self) { route.http2 = mode }
        decodeOverrides(map, into: &route, connection: connection)
        decodeRetryAndRedirects(map, into: &route)

        if map["host"] == nil {
            if map["path_prefix"] == nil {
                fail(map.node, map.path, "a route needs 'host' or 'path_prefix'")
            } else if map["upstream"] == nil {
                fail(map.node, map.path, "a route without 'host' (route mode) needs 'upstream'")
            }
        }
        checkPlaintext(route, map: map, connection: connection, upstream: upstream?.text)
        return route
    }

    /// Whether `path` is what request paths look like after `RequestPath.normalize`: the one rule, so a prefix
    /// is accepted exactly when a request with that path could match it.
    static func isNormalisedPath(_ path: String) -> Bool { (try? RequestPath.normalize(path)) == path }

    /// Per-route `scopes`, `audience`, `token_params`: only for oauth2 connections.
    private func decodeOverrides(_ map: Fields, into route: inout RouteSettings, connection: ConnectionSettings?) {
        let isOAuth: Bool
        if case .oauth2ClientCredentials = connection?.kind { isOAuth = true } else { isOAuth = false }
        for key in ["scopes", "audience", "token_params"] where map[key] != nil && !isOAuth {
            // An unknown connection is reported already; don't pile on.
            if route.connection != nil && connection == nil { continue }
            let why =
                connection.map { "connection '\($0.name)' is \($0.kind.typeName)" } ?? "the route has no connection"
            fail(map.keyNode(key), map.path(key), "'\(key)' only applies to oauth2 connections (\(why))")
        }
        route.scopes = stringList(map, "scopes", spaceSeparated: true)?.map(\.value)
        route.audience = string(map, "audience")?.value
        if let params = stringMap(map, "token_params") {
            route.tokenParams = Dictionary(params.map { ($0.key.value, $0.value.value) }, uniquingKeysWith: { a, _ in a })
        }
    }

    /// Credentials must not travel over plain HTTP to a non-loopback host unless the route allows it.
    /// Without `upstream`, the app's own URL is used, which for an injecting route is typically http://
    /// through the proxy, so the same rule applies to the host pattern.
    private func checkPlaintext(_ route: RouteSettings, map: Fields, connection: ConnectionSettings?, upstream: ScalarValue?) {
        guard let connection, route.allowPlaintextCredentials == false else { return }
        if case .none = connection.kind { return }
        let suggestion = "use an https:// upstream or set allow_plaintext_credentials: true"
        if let target = route.upstream {
            if !target.isTLS && !target.isLoopback {
                fail(
                    upstream?.node, map.path("upstream"),
                    "credentials of connection '\(connection.name)' would be sent over plain HTTP to a non-loopback host",
                    suggestion: suggestion)
            }
        } else if map["upstream"] == nil, let host = route.host, !host.isLoopback {
            // Route has a host pattern but no upstream.
            fail(
                map["host"], map.path("host"),
                "credentials of connection '\(connection.name)' would be sent over plain HTTP to a non-loopback host (without 'upstream' the app's own http:// URL is used)",
                suggestion: "set upstream: https://... or allow_plaintext_credentials: true")
        }
    }

    /// An absolute file path that can be read now, or the path with an error reported at the value.
    func readableFile(_ map: Fields, _ key: String) -> String? {
        guard let text = string(map, key) else { return nil }
        let path = absolutePath(text.value)
        guard readsSecrets else { return path }  // key and certificate files are secrets too
        do {
            _ = try fileReader(path)
        } catch {
            let reason = (error as? FileReadError)?.reason ?? "unreadable"
            let name = text.fromSecret ? "the file (its path comes from a secret)" : "'\(path)'"
            fail(text.node, text.path, "cannot read \(name): \(reason)")
        }
        return path
    }

    /// `intercept: false` on a route does nothing without a top-level `intercept:` block (such CONNECTs
    /// are tunnelled or refused anyway): say so, it is probably a forgotten block.
    func warnAboutRouteIntercept(_ node: Node?, _ routes: [RouteSettings]) {
        guard let node, case .sequence(let sequence) = node else { return }
        for (index, item) in sequence.enumerated() {
            guard case .mapping(let mapping) = item,
                let value = mapping.first(where: { $0.key.string == "intercept" })?.value,
                value.string?.lowercased() == "false"
            else { continue }
            warn(
                value, "routes[\(index)].intercept",
                "has no effect without a top-level 'intercept:' block (CONNECTs are not intercepted at all)")
        }
    }
}
