import Yams

/// Turns a composed YAML tree into `ProxyConfiguration` values, collecting every problem it finds
/// instead of stopping at the first. Used once per load, on one thread; not shared.
///
/// The typed readers (`string`, `int`, `bool`, ...) report wrong types and template problems at the
/// value's position and return nil, so callers simply fall back to defaults and keep going.
final class ConfigDecoder {
    let file: String
    /// Directory of `file`, used to resolve relative file paths ("" when the path has none).
    let directory: String
    let environment: [String: String]
    let fileReader: @Sendable (String) throws -> String
    private(set) var errors: [ConfigError] = []
    private(set) var warnings: [String] = []
    /// Every resolved secret or credential value, so the summary can refuse to print them.
    var sensitiveValues: Set<String> = []
    /// Absolute paths of `{file: ...}` secrets, watched for rotation.
    var secretFiles: [String] = []
    /// Every name under `connections:`, including ones whose definition had errors (so routes naming
    /// them don't get a second, misleading "unknown connection" error).
    var connectionNames: [String] = []
    /// The top-level `tls:` block, once `decodeTLSDefaults` ran: what every `decodeTLS` starts from.
    var tlsDefaults = TLSSettings()
    /// Named secrets (`secrets:`), available once `decodeSecrets` ran.
    var resolver: TemplateResolver
    /// False for `check --skip-secrets`: no secret file, environment variable or key file is read; every
    /// reference resolves to `TemplateResolver.placeholder` and checks of their content are skipped.
    let readsSecrets: Bool

    init(
        file: String, environment: [String: String], readsSecrets: Bool = true,
        fileReader: @escaping @Sendable (String) throws -> String
    ) {
        self.readsSecrets = readsSecrets
        self.file = file
        if let slash = file.lastIndex(of: "/") {
            directory = String(file[..<slash]).isEmpty ? "/" : String(file[..<slash])
        } else {
            directory = ""
        }
        self.environment = environment
        self.fileReader = fileReader
        self.resolver = TemplateResolver(secrets: [:], environment: environment, fileReader: fileReader)
        resolver.usesPlaceholders = !readsSecrets
    }

    // MARK: Diagnostics

    func fail(_ node: Node?, _ keyPath: String, _ message: String, suggestion: String? = nil) {
        errors.append(
            ConfigError(
                file: file, line: node?.mark?.line ?? 0, column: node?.mark?.column ?? 0, keyPath: keyPath,
                message: message, suggestion: suggestion))
    }

    func warn(_ node: Node?, _ keyPath: String, _ message: String) {
        let position = node?.mark.map { "\(file):\($0.line):\($0.column)" } ?? file
        warnings.append("\(position): \(keyPath): \(message)")
    }

    // MARK: Mappings

    /// Reads `node` as a mapping with string keys, reporting unknown keys (with the nearest allowed key
    /// as a suggestion), duplicate keys and non-string keys. `elsewhere` are keys valid in a sibling form
    /// (another connection type); they get "does not apply to `context`" instead of a suggestion.
    func fields(
        _ node: Node, path: String, allowed: [String]?, context: String? = nil, elsewhere: Set<String> = []
    ) -> Fields? {
        guard case .mapping(let mapping) = node else {
            fail(node, path, "expected a mapping (key: value pairs)")
            return nil
        }
        var result = Fields(node: node, path: path)
        for (keyNode, value) in mapping {
            guard case .scalar(let scalar) = keyNode else {
                fail(keyNode, path, "keys must be plain strings")
                continue
            }
            let key = scalar.string
            let keyPath = Fields.join(path, key)
            if result.index[key] != nil {
                fail(keyNode, keyPath, "duplicate key")
                continue
            }
            result.index[key] = result.entries.count
            result.entries.append((key, keyNode, value))
        }
        if let allowed { restrict(&result, allowed: allowed, context: context, elsewhere: elsewhere) }
        return result
    }

    /// Reports and drops entries whose key is not in `allowed` (see `fields`).
    func restrict(_ fields: inout Fields, allowed: [String], context: String? = nil, elsewhere: Set<String> = []) {
        var kept = Fields(node: fields.node, path: fields.path)
        for entry in fields.entries {
            let keyPath = fields.path(entry.key)
            if allowed.contains(entry.key) {
                kept.index[entry.key] = kept.entries.count
                kept.entries.append(entry)
            } else if elsewhere.contains(entry.key), let context {
                fail(entry.keyNode, keyPath, "key does not apply to \(context)")
            } else {
                let nearest = EditDistance.nearest(to: entry.key, in: allowed)
                fail(entry.keyNode, keyPath, "unknown key", suggestion: nearest.map { "did you mean '\($0)'?" })
            }
        }
        fields = kept
    }

    // MARK: Scalars

    /// A string value: its text as written, resolved (templates substituted), or nil when absent, null or
    /// broken (the problem is already reported).
    func string(_ fields: Fields, _ key: String) -> ScalarValue? {
        guard let node = fields[key] else { return nil }
        return scalar(node, path: fields.path(key))
    }

    func scalar(_ node: Node, path: String, expected: String = "a string") -> ScalarValue? {
        guard case .scalar(let scalar) = node else {
            if Self.isUnquotedTemplate(node) {
                let key = path.split(separator: ".").last.map(String.init) ?? "key"
                fail(
                    node, path,
                    "an unquoted {{...}} is read by YAML as a mapping: quote the whole value, e.g. \(key): \"{{secret:NAME}}\"")
            } else {
                fail(node, path, "expected \(expected)")
            }
            return nil
        }
        let resolution = resolver.resolve(scalar.string)
        for problem in resolution.problems { fail(node, path, problem) }
        guard let value = resolution.value else { return nil }
        if resolution.usedSecret { sensitiveValues.insert(value) }
        return ScalarValue(raw: scalar.string, value: value, node: node, path: path, fromSecret: resolution.usedSecret)
    }

    /// `{{secret:x}}` written without quotes: YAML reads it as a mapping whose only key is a mapping.
    static func isUnquotedTemplate(_ node: Node) -> Bool {
        guard case .mapping(let outer) = node, outer.count == 1, let key = outer.keys.first,
            case .mapping(let inner) = key, inner.count == 1
        else { return false }
        return true
    }

    func requiredString(_ fields: Fields, _ key: String, what: String? = nil) -> ScalarValue? {
        guard fields[key] != nil else {
            fail(fields.node, fields.path, "missing required key '\(key)'\(what.map { " (\($0))" } ?? "")")
            return nil
        }
        return string(fields, key)
    }

    /// An integer of at least `minimum` (1 for timeouts, 0 where zero means "none"), and at most
    /// `ConfigBounds.fallbackMaximum`; prefer `int(_:_:in:)` with the key's own range.
    func int(_ fields: Fields, _ key: String, minimum: Int) -> Int? {
        int(fields, key, in: minimum...max(minimum, ConfigBounds.fallbackMaximum))
    }

    /// An integer within `range` (see `ConfigBounds`); otherwise an error at the value naming the range.
    /// Digits too many for `Int` count as too large, not as "not an integer".
    func int(_ fields: Fields, _ key: String, in range: ClosedRange<Int>) -> Int? {
        guard let node = fields[key] else { return nil }
        guard let text = scalar(node, path: fields.path(key), expected: "an integer") else { return nil }
        let digits = text.value.replacingOccurrences(of: "_", with: "")
        let number: Int
        if let parsed = Int(digits) {
            number = parsed
        } else if let first = digits.first, !digits.dropFirst().isEmpty, first == "-" || first == "+" || first.isASCIIDigit,
            digits.dropFirst().allSatisfy(\.isASCIIDigit)
        {
            number = first == "-" ? .min : .max  // overflows Int: out of range either way
        } else {
            fail(node, fields.path(key), "expected an integer, found '\(text.raw)'")
            return nil
        }
        let allowed = "allowed range \(range.lowerBound) to \(range.upperBound)"
        guard number >= range.lowerBound else {
            fail(
                node, fields.path(key),
                (range.lowerBound == 1 ? "must be greater than 0" : "must be at least \(range.lowerBound)") + " (\(allowed))")
            return nil
        }
        guard number <= range.upperBound else {
            fail(node, fields.path(key), "must be at most \(range.upperBound) (\(allowed))")
            return nil
        }
        return number
    }

    func bool(_ fields: Fields, _ key: String) -> Bool? {
        guard let node = fields[key] else { return nil }
        guard let text = scalar(node, path: fields.path(key), expected: "true or false") else { return nil }
        switch text.value.lowercased() {
        case "true": return true
        case "false": return false
        default:
            fail(node, fields.path(key), "expected true or false, found '\(text.raw)'")
            return nil
        }
    }

    /// One of an enum's raw values; the message lists them all.
    func choice<Value: RawRepresentable & CaseIterable>(_ fields: Fields, _ key: String, as type: Value.Type) -> Value?
    where Value.RawValue == String {
        guard let text = string(fields, key) else { return nil }
        return choice(text, in: type.allCases.map(\.rawValue)).flatMap { Value(rawValue: $0) }
    }

    /// `text` if it is one of `allowed`, else an error listing them (with a suggestion for typos).
    func choice(_ text: ScalarValue, in allowed: [String]) -> String? {
        if allowed.contains(text.value) { return text.value }
        fail(
            text.node, text.path, "invalid value '\(text.raw)'; expected one of: \(allowed.joined(separator: ", "))",
            suggestion: EditDistance.nearest(to: text.value, in: allowed).map { "did you mean '\($0)'?" })
        return nil
    }

    /// A list of strings; with `spaceSeparated`, one string of space-separated words is accepted too.
    func stringList(_ fields: Fields, _ key: String, spaceSeparated: Bool = false) -> [ScalarValue]? {
        guard let node = fields[key] else { return nil }
        let path = fields.path(key)
        switch node {
        case .sequence(let sequence):
            var items: [ScalarValue] = []
            var ok = true
            for (i, item) in sequence.enumerated() {
                guard case .scalar = item else {
                    fail(item, "\(path)[\(i)]", "expected a list of strings")
                    ok = false
                    continue
                }
                if let value = scalar(item, path: "\(path)[\(i)]") { items.append(value) } else { ok = false }
            }
            return ok ? items : nil
        case .scalar where spaceSeparated:
            guard let text = scalar(node, path: path) else { return nil }
            return text.value.split(separator: " ", omittingEmptySubsequences: true).map {
                ScalarValue(raw: text.raw, value: String($0), node: node, path: path, fromSecret: text.fromSecret)
            }
        default:
            fail(node, path, spaceSeparated ? "expected a list of strings or one space-separated string" : "expected a list of strings")
            return nil
        }
    }

    /// A mapping of strings to strings, in file order.
    func stringMap(_ fields: Fields, _ key: String) -> [(key: ScalarValue, value: ScalarValue)]? {
        guard let node = fields[key] else { return nil }
        let path = fields.path(key)
        guard case .mapping = node else {
            fail(node, path, "expected a mapping of strings to strings")
            return nil
        }
        guard let map = self.fields(node, path: path, allowed: nil) else { return nil }
        var result: [(key: ScalarValue, value: ScalarValue)] = []
        for entry in map.entries {
            let entryPath = map.path(entry.key)
            guard let value = scalar(entry.value, path: entryPath, expected: "a string value") else { continue }
            let key = ScalarValue(raw: entry.key, value: entry.key, node: entry.keyNode, path: entryPath, fromSecret: false)
            result.append((key, value))
        }
        return result
    }

    /// Makes a relative file path relative to the configuration file's directory.
    func absolutePath(_ path: String) -> String {
        if path.hasPrefix("/") || directory.isEmpty { return path }
        return directory == "/" ? "/" + path : directory + "/" + path
    }
}

/// A mapping's entries, in file order, with the key path they live at.
struct Fields {
    let node: Node
    let path: String
    var entries: [(key: String, keyNode: Node, value: Node)] = []
    var index: [String: Int] = [:]

    init(node: Node, path: String) {
        self.node = node
        self.path = path
    }

    /// The value for `key`, or nil when absent or written as null (`key:`, `~`, `null`).
    subscript(key: String) -> Node? {
        guard let i = index[key] else { return nil }
        let value = entries[i].value
        if case .scalar(let scalar) = value, scalar.style == .plain,
            ["", "~", "null", "Null", "NULL"].contains(scalar.string)
        {
            return nil
        }
        return value
    }

    /// The position of `key` itself (for "missing"/"conflicting" messages).
    func keyNode(_ key: String) -> Node? { index[key].map { entries[$0].keyNode } }

    func path(_ key: String) -> String { Self.join(path, key) }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

/// A scalar as written (`raw`) and after template substitution (`value`).
struct ScalarValue {
    /// The text in the file; safe to quote in messages.
    let raw: String
    /// The resolved text; may be a secret — never put it in a message.
    let value: String
    let node: Node
    let path: String
    /// Whether a `{{secret:...}}` reference contributed to `value`.
    let fromSecret: Bool
}

extension Character {
    fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}
