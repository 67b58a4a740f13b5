import LatchkeyConfig
import LatchkeyHTTP

/// Picks the route for a request: the most specific match wins.
///
/// A route matches when its host pattern (if any) matches the request host and port, its `path_prefix`
/// (if any) matches the path, and its `methods` (if any) contain the method. Among matching routes:
/// 1. host: an exact host beats a wildcard; between wildcards the longer suffix wins; any host pattern
///    beats a route without `host`. For the same host name, a pattern with an explicit port beats one
///    without.
/// 2. then the longer `path_prefix` beats a shorter one, which beats none;
/// 3. then a route restricted by `methods` beats an unrestricted one;
/// 4. then the route that comes first in the file.
///
/// Path prefixes are compared case-sensitively on the normalised request path: `RequestPlanner` runs every
/// request form through `RequestPath.normalize` first, which removes dot-segments (RFC 3986 §5.2.4), refuses
/// a climb above the root, and refuses percent-encoded ".", "/" and "\" (`%2e`, `%2f`, `%5c`) and a raw "\",
/// so `/ro/../admin` is matched (and forwarded) as `/admin`; no other percent-decoding is done (RFC 3986
/// §6.2.2.2 treats other encodings as distinct). The same path goes upstream. A prefix ending in "/" matches every path that starts with it; a prefix
/// without a trailing "/" matches the exact path, or the prefix followed by "/" or "?" — so `/v2` matches
/// `/v2`, `/v2/x` and `/v2?q` but not `/v2x`. Hosts compare in their one canonical spelling (`Authority`:
/// lower-cased, no brackets, no trailing dot), which request hosts get when parsed and route hosts here.
/// A nil host (no `Host`) matches only routes without `host`; a CONNECT (nil path) matches on host and port
/// alone. One `match` serves every request form.
///
/// Routes are sorted by specificity once, at init; exact hosts are looked up in a `HostTable`, so a match
/// costs one lookup plus a scan of the wildcard and host-less routes.
public struct Router: Sendable {
    /// A class: a match walks candidates, and a struct this size was copied at each step.
    private final class Candidate: Sendable {
        let route: RouteSettings
        /// The route's position in the file (`ProxyRuntime.routesInFileOrder`).
        let index: Int
        let port: Int?
        /// For wildcards: the suffix, e.g. ".example.com".
        let suffix: String?
        let prefix: String?
        let prefixEndsWithSlash: Bool
        let methods: Set<String>?

        init(
            route: RouteSettings, index: Int, port: Int?, suffix: String?, prefix: String?, prefixEndsWithSlash: Bool,
            methods: Set<String>?
        ) {
            self.route = route
            self.index = index
            self.port = port
            self.suffix = suffix
            self.prefix = prefix
            self.prefixEndsWithSlash = prefixEndsWithSlash
            self.methods = methods
        }
    }

    /// Exact host name → its routes, most specific first.
    private let exact: HostTable<[Candidate]>
    /// Wildcard routes, most specific first (longest suffix first).
    private let wildcards: [Candidate]
    /// Routes without `host`, most specific first.
    private let hostless: [Candidate]

    /// The routes, in file order (the order breaks the last tie).
    public init(routes: [RouteSettings]) {
        var exact: [String: [(Candidate, Int)]] = [:]
        var wildcards: [(Candidate, Int)] = []
        var hostless: [(Candidate, Int)] = []
        for (index, route) in routes.enumerated() {
            var suffix: String?
            // Route hosts take the same canonical spelling as request hosts (`Authority`), so a lookup is a
            // plain comparison.
            if case .wildcard(let s) = route.host?.name {
                suffix = "." + (Authority.canonicalHost(String(s.dropFirst())) ?? String(s.dropFirst()).lowercased())
            }
            let candidate = Candidate(
                route: route, index: index, port: route.host?.port, suffix: suffix, prefix: route.pathPrefix,
                prefixEndsWithSlash: route.pathPrefix?.hasSuffix("/") ?? false,
                methods: route.methods.map { Set($0.map { $0.uppercased() }) })
            switch route.host?.name {
            case .exact(let name):
                exact[Authority.canonicalHost(name) ?? name.lowercased(), default: []].append((candidate, index))
            case .wildcard: wildcards.append((candidate, index))
            case nil: hostless.append((candidate, index))
            }
        }
        self.exact = HostTable(exact.mapValues(Self.sorted))
        self.wildcards = Self.sorted(wildcards)
        self.hostless = Self.sorted(hostless)
    }

    /// The most specific route for a request, or nil (then the unmatched policy applies): the one matcher
    /// for every request form.
    ///
    /// - Parameters:
    ///   - host: the request's host, canonical as `Authority` makes it (lower-cased, no brackets, no trailing
    ///     dot) — from the CONNECT authority, the absolute-form target or an origin-form request's `Host`;
    ///     nil when the request names none (then only routes without `host` match).
    ///   - port: the request's port (the scheme default when none was given).
    ///   - path: the normalised path, optionally with its query; nil for a CONNECT tunnel, whose requests the
    ///     proxy cannot see: a route then matches on host and port alone (its `path_prefix` and `methods`
    ///     would constrain requests hidden inside the tunnel), and routes without `host` never match.
    ///   - method: the request method (compared upper-cased).
    ///   - accepts: an extra condition on the route (CONNECT asks for a route that injects a credential); a
    ///     route it refuses is skipped and the next most specific one is tried.
    public func match(
        host: String?, port: Int, path: String?, method: String,
        where accepts: (RouteSettings) -> Bool = { _ in true }
    ) -> RouteSettings? {
        matchingCandidate(host: host, port: port, path: path, method: method, where: accepts)?.route
    }

    /// `match`, answering the route's position in the file (`ProxyRuntime.routesInFileOrder`) rather than a
    /// copy of its settings: the data path's form.
    public func matchIndex(
        host: String?, port: Int, path: String?, method: String,
        where accepts: (RouteSettings) -> Bool = { _ in true }
    ) -> Int? {
        matchingCandidate(host: host, port: port, path: path, method: method, where: accepts)?.index
    }

    private func matchingCandidate(
        host: String?, port: Int, path: String?, method: String, where accepts: (RouteSettings) -> Bool
    ) -> Candidate? {
        let method = Self.upperCased(method)
        if let host {
            if let routes = exact.value(for: host),
                let hit = routes.first(where: { Self.matches($0, port: port, path: path, method: method, accepts) })
            {
                return hit
            }
            for candidate in wildcards {
                guard let suffix = candidate.suffix, host.utf8.count > suffix.utf8.count,
                    host.utf8.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
                else { continue }
                if Self.matches(candidate, port: port, path: path, method: method, accepts) { return candidate }
            }
        }
        guard path != nil else { return nil }
        return hostless.first { Self.matches($0, port: port, path: path, method: method, accepts) }
    }

    private static func matches(
        _ c: Candidate, port: Int, path: String?, method: String, _ accepts: (RouteSettings) -> Bool
    ) -> Bool {
        if let wanted = c.port, wanted != port { return false }
        if let path {
            if let methods = c.methods, !methods.contains(method) { return false }
            if let prefix = c.prefix, !Self.path(path, isUnder: prefix, endsWithSlash: c.prefixEndsWithSlash) {
                return false
            }
        }
        return accepts(c.route)
    }

    private static func path(_ path: String, isUnder prefix: String, endsWithSlash: Bool) -> Bool {
        guard path.utf8.starts(with: prefix.utf8) else { return false }
        if endsWithSlash { return true }
        // Segment boundary: exactly the prefix, or the prefix followed by "/" or "?".
        let rest = path.utf8.dropFirst(prefix.utf8.count)
        return rest.isEmpty || rest.first == UInt8(ascii: "/") || rest.first == UInt8(ascii: "?")
    }

    /// Methods are tokens (RFC 9110 §9.1); routes compare them upper-cased. No new string for the usual
    /// upper-case method.
    private static func upperCased(_ method: String) -> String {
        // The usual methods first: the parser hands them out as these literals, and equal short strings compare
        // as two words (looking at the bytes through `utf8` was ~140 instructions a request).
        switch method {
        case "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS": return method
        default: break
        }
        var bytes = method
        let hasLowerCase = bytes.withUTF8 { $0.contains { $0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z") } }
        return hasLowerCase ? method.uppercased() : method
    }

    /// Most specific first: longer wildcard suffix, explicit port, longer prefix, methods, file order.
    private static func sorted(_ candidates: [(Candidate, Int)]) -> [Candidate] {
        candidates.sorted { a, b in
            let ka = key(a.0)
            let kb = key(b.0)
            if ka != kb { return ka.lexicographicallyPrecedes(kb) }
            return a.1 < b.1
        }.map(\.0)
    }

    /// Sort key, smaller first: lengths negated so longer sorts earlier.
    private static func key(_ c: Candidate) -> [Int] {
        [
            -(c.suffix?.utf8.count ?? 0),
            c.port == nil ? 1 : 0,
            -(c.prefix.map { $0.utf8.count + 1 } ?? 0),
            c.methods == nil ? 1 : 0,
        ]
    }
}

/// Values by exact host name, for the router's per-request lookup. A config names a handful of hosts: up to
/// `scanLimit` of them are compared one by one, which costs a few instructions each (equal short strings
/// are equal words), where hashing the request's host cost ~340; more go into a dictionary.
struct HostTable<Value: Sendable>: Sendable {
    static var scanLimit: Int { 16 }

    private let few: [(host: String, value: Value)]
    private let many: [String: Value]

    init(_ values: [String: Value]) {
        if values.count <= Self.scanLimit {
            few = values.map { (host: $0.key, value: $0.value) }
            many = [:]
        } else {
            few = []
            many = values
        }
    }

    func value(for host: String) -> Value? {
        guard many.isEmpty else { return many[host] }
        var index = 0
        while index < few.count {
            if few[index].host == host { return few[index].value }
            index += 1
        }
        return nil
    }
}
