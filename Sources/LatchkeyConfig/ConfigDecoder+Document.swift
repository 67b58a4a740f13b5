import Yams

extension ConfigDecoder {
    static let topLevelKeys = [
        "listen", "admin", "unmatched", "log_level", "log_format", "limits", "secrets", "connections", "routes",
        "shutdown_grace_ms", "state_dir", "state_key", "connect_ports", "workers", "event_loop", "intercept",
        "shared_store", "tls", "cold_pages",
    ]
    static let logLevels = ["trace", "debug", "info", "notice", "warning", "error", "critical"]
    static let logFormats = ["text", "json"]
    static let limitKeys = [
        "max_request_line_bytes", "max_header_bytes", "max_idle_per_upstream", "idle_timeout_ms", "max_connections",
        "admin_max_connections", "header_timeout_ms", "tunnel_idle_timeout_ms", "http2_max_concurrent_streams",
        "http2_max_header_list_bytes", "http2_header_table_bytes",
    ]
    static let secretKeys = ["env", "file", "value"]

    /// The whole document. An empty document is the default configuration.
    func decodeDocument(_ root: Node?) -> ProxyConfiguration {
        var configuration = ProxyConfiguration(sourcePath: file)
        guard let root else { return configuration }
        guard let top = fields(root, path: "", allowed: Self.topLevelKeys) else { return configuration }

        decodeSecrets(top["secrets"])
        if let text = string(top, "listen") {
            do throws(ValueProblem) {
                configuration.listen = try ListenAddress.parse(text.value)
            } catch {
                fail(text.node, text.path, error.message)
            }
        }
        if let text = string(top, "admin") {
            if text.value == "off" {
                configuration.admin = nil
            } else {
                do throws(ValueProblem) {
                    configuration.admin = try ListenAddress.parse(text.value)
                } catch {
                    fail(text.node, text.path, "\(error.message), or 'off'")
                }
            }
        }
        if let admin = configuration.admin, let text = top["admin"], admin.overlaps(configuration.listen) {
            fail(
                text, "admin",
                "the admin listener needs its own port, but listen is \(configuration.listen): use e.g. 127.0.0.1:9901, or 'off'")
        }
        if let policy = choice(top, "unmatched", as: UnmatchedPolicy.self) { configuration.unmatched = policy }
        if let text = string(top, "log_level"), let level = choice(text, in: Self.logLevels) {
            configuration.logLevel = level
        }
        if let text = string(top, "log_format"), let format = choice(text, in: Self.logFormats) {
            configuration.logFormat = format
        }
        if let node = top["limits"] { configuration.limits = decodeLimits(node) }
        if let grace = int(top, "shutdown_grace_ms", in: ConfigBounds.shutdownGraceMs) { configuration.shutdownGraceMs = grace }
        decodeEventLoops(top, into: &configuration)
        if let policy = choice(top, "cold_pages", as: ColdPagesPolicy.self) { configuration.coldPages = policy }
        configuration.tls = decodeTLSDefaults(top)  // before connections and routes: they inherit it
        configuration.connections = decodeConnections(top["connections"])
        configuration.routes = decodeRoutes(top["routes"], connections: configuration.connections)
        configuration.intercept = decodeIntercept(top["intercept"])
        if top["intercept"] == nil { warnAboutRouteIntercept(top["routes"], configuration.routes) }
        decodeState(top, into: &configuration)
        configuration.sharedStore = decodeSharedStore(top["shared_store"])
        if configuration.sharedStore != nil && top["state_key"] == nil {
            fail(
                top.keyNode("shared_store"), "shared_store",
                "needs 'state_key': everything stored is encrypted with it (and every replica needs the same key)",
                suggestion: "add state_key: \"{{secret:state_key}}\" (generate one with: openssl rand -base64 32)")
        }
        if let ports = decodeConnectPorts(top) { configuration.connectPorts = ports }
        applyUnmatchedDefault(top, to: &configuration)
        checkUpstreamsAgainstListeners(top, configuration: configuration)
        configuration.warnings = warnings
        configuration.secretFiles = secretFiles
        configuration.sensitiveValues = sensitiveValues.filter { !$0.isEmpty }
        return configuration
    }

    private func decodeLimits(_ node: Node) -> LimitSettings {
        var limits = LimitSettings()
        guard let map = fields(node, path: "limits", allowed: Self.limitKeys) else { return limits }
        if let v = int(map, "max_request_line_bytes", in: ConfigBounds.maxRequestLineBytes) { limits.maxRequestLineBytes = v }
        if let v = int(map, "max_header_bytes", in: ConfigBounds.maxHeaderBytes) { limits.maxHeaderBytes = v }
        if let v = int(map, "max_idle_per_upstream", in: ConfigBounds.maxIdlePerUpstream) { limits.maxIdlePerUpstream = v }
        if let v = int(map, "idle_timeout_ms", in: ConfigBounds.idleTimeoutMs) { limits.idleTimeoutMs = v }
        decodeConnectionLimits(map, into: &limits)
        decodeHTTP2Limits(map, into: &limits)
        return limits
    }

    /// `secrets:` — each `NAME: {env: VAR} | {file: PATH} | {value: literal}`, read once now. A secret
    /// that cannot be read is an error at its definition (naming the variable or file, never a value).
    private func decodeSecrets(_ node: Node?) {
        guard let node, let map = fields(node, path: "secrets", allowed: nil) else { return }
        var sources: [String: SecretSource] = [:]
        var loaded: [String: String] = [:]
        for entry in map.entries {
            let path = map.path(entry.key)
            guard Self.isName(entry.key) else {
                fail(entry.keyNode, path, "invalid secret name; use letters, digits, '_', '-' and '.'")
                continue
            }
            guard let definition = fields(entry.value, path: path, allowed: Self.secretKeys) else { continue }
            let given = Self.secretKeys.filter { definition[$0] != nil }
            guard given.count == 1, let kind = given.first else {
                fail(
                    entry.keyNode, path,
                    given.isEmpty ? "a secret needs one of 'env', 'file' or 'value'" : "give only one of 'env', 'file' or 'value'")
                continue
            }
            let source: SecretSource
            let valueNode = definition[kind]!
            switch kind {
            case "env":
                guard let text = string(definition, "env") else { continue }
                guard TemplateResolver.isVariableName(text.value) else {
                    fail(valueNode, text.path, "invalid environment variable name '\(text.raw)'")
                    continue
                }
                source = .environment(text.value)
            case "file":
                guard let text = string(definition, "file") else { continue }
                source = .file(absolutePath(text.value))
                secretFiles.append(absolutePath(text.value))
            default:
                guard case .scalar(let scalar) = valueNode else {
                    fail(valueNode, definition.path("value"), "expected a string")
                    continue
                }
                source = .literal(scalar.string)  // taken literally: no ${VAR} or {{secret:}} inside
            }
            sources[entry.key] = source
            switch resolver.read(source) {
            case .success(let value):
                loaded[entry.key] = value
                sensitiveValues.insert(value)
            case .failure(let failure):
                fail(valueNode, definition.path(kind), "secret '\(entry.key)': \(failure.message)")
            }
        }
        resolver.secrets = sources
        resolver.loaded = loaded
    }

    /// Names of secrets, connections and routes: letters, digits, '_', '-', '.'.
    static func isName(_ name: String) -> Bool {
        !name.isEmpty
            && name.unicodeScalars.allSatisfy {
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0))
            }
    }
}
