/// One problem found in a configuration file, with its location.
///
/// `description` reads like a compiler diagnostic:
/// `proxy.conf:12:5: routes[1].pth_prefix: unknown key (did you mean 'path_prefix'?)`.
/// Messages quote what the file says (the template text), never a resolved secret or credential value.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The configuration file path as given to the loader.
    public var file: String
    /// 1-based line; 0 when the problem has no position (e.g. the file could not be read).
    public var line: Int
    /// 1-based column (Unicode scalars); 0 when unknown.
    public var column: Int
    /// Where in the document: `routes[1].path_prefix`, `connections.partner.password`; list indices are
    /// 0-based. Empty for document-level problems such as YAML syntax errors.
    public var keyPath: String
    /// What is wrong.
    public var message: String
    /// A hint, e.g. `did you mean 'path_prefix'?`; rendered in parentheses after the message.
    public var suggestion: String?

    public init(file: String, line: Int, column: Int, keyPath: String, message: String, suggestion: String? = nil) {
        self.file = file
        self.line = line
        self.column = column
        self.keyPath = keyPath
        self.message = message
        self.suggestion = suggestion
    }

    public var description: String {
        var text = line > 0 ? "\(file):\(line):\(column): " : "\(file): "
        if !keyPath.isEmpty { text += "\(keyPath): " }
        text += message
        if let suggestion { text += " (\(suggestion))" }
        return text
    }
}

/// Every problem found in a configuration file (the loader does not stop at the first one),
/// sorted by position.
public struct ConfigErrors: Error, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(errors: [ConfigError]) { self.errors = errors }

    /// One diagnostic per line.
    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
