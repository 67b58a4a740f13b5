import Yams

extension ConfigDecoder {
    static let sharedStoreKeys = ["redis", "username", "password", "key_prefix", "tls", "timeout_ms", "lease_ms"]
    static let sharedStoreTLSKeys = ["ca_file", "cert_file", "key_file"]

    /// `shared_store:` (issue 15): a Redis URL plus optional credentials, prefix, TLS files and timeouts.
    func decodeSharedStore(_ node: Node?) -> SharedStoreSettings? {
        guard let node, let map = fields(node, path: "shared_store", allowed: Self.sharedStoreKeys) else { return nil }
        guard let text = requiredString(map, "redis", what: "redis://host:port/db or rediss://host:port/db") else { return nil }
        var settings: SharedStoreSettings
        do throws(ValueProblem) {
            settings = try Self.parseRedisURL(text.value)
        } catch {
            fail(text.node, text.path, error.message, suggestion: "write it as redis://host:6379/0 or rediss://host:6380/0")
            return nil
        }
        if let user = string(map, "username") { settings.username = user.value }
        if let password = string(map, "password") {
            sensitiveValues.insert(password.value)
            if password.value.isEmpty { fail(password.node, password.path, "must not be empty; leave the key out for no AUTH") }
            settings.password = SecretString(password.value)
        }
        if settings.username != nil && settings.password == nil {
            fail(map.keyNode("username"), map.path("username"), "a username needs a password", suggestion: "add password: \"{{secret:NAME}}\"")
        }
        if let prefix = string(map, "key_prefix") {
            if prefix.value.isEmpty || prefix.value.utf8.count > 200 || prefix.value.contains(where: \.isWhitespace) {
                fail(prefix.node, prefix.path, "must be 1 to 200 characters without spaces, e.g. latchkey/payments/")
            } else {
                settings.keyPrefix = prefix.value
            }
        }
        if let value = int(map, "timeout_ms", in: 10...10_000) { settings.timeoutMs = value }
        if let value = int(map, "lease_ms", in: 1_000...300_000) { settings.leaseMs = value }
        if let tlsNode = map["tls"] {
            if !settings.usesTLS {
                fail(map.keyNode("tls"), map.path("tls"), "tls: applies to rediss:// only", suggestion: "use rediss:// in 'redis'")
            }
            if let tls = fields(tlsNode, path: map.path("tls"), allowed: Self.sharedStoreTLSKeys) {
                settings.caFile = readableFile(tls, "ca_file")
                settings.certificateFile = readableFile(tls, "cert_file")
                settings.privateKeyFile = readableFile(tls, "key_file")
                if (settings.certificateFile == nil) != (settings.privateKeyFile == nil) {
                    fail(tlsNode, map.path("tls"), "cert_file and key_file go together (a client certificate needs its key)")
                }
            }
        }
        return settings
    }

    /// `redis://[host][:port][/db]` or `rediss://...`; credentials belong in `username`/`password`, not the URL.
    static func parseRedisURL(_ text: String) throws(ValueProblem) -> SharedStoreSettings {
        let usesTLS: Bool
        var rest: Substring
        if text.hasPrefix("redis://") {
            usesTLS = false
            rest = text.dropFirst("redis://".count)
        } else if text.hasPrefix("rediss://") {
            usesTLS = true
            rest = text.dropFirst("rediss://".count)
        } else {
            throw ValueProblem("expected a redis:// or rediss:// URL")
        }
        if rest.contains("@") { throw ValueProblem("credentials do not go in the URL: use username: and password:") }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), (0...15).contains(number) else {
                    throw ValueProblem("the database (the URL path) must be a number from 0 to 15")
                }
                database = number
            }
        }
        var host = String(rest)
        var port = usesTLS ? 6380 : 6379
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw ValueProblem("unclosed [ in the IPv6 address") }
            host = String(rest[rest.index(after: rest.startIndex)..<close])
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()) else { throw ValueProblem("bad port") }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let number = Int(rest[rest.index(after: colon)...]) else { throw ValueProblem("bad port") }
            port = number
        }
        guard !host.isEmpty else { throw ValueProblem("missing host") }
        guard (1...65535).contains(port) else { throw ValueProblem("port must be 1 to 65535") }
        return SharedStoreSettings(host: host, port: port, database: database, usesTLS: usesTLS)
    }
}
