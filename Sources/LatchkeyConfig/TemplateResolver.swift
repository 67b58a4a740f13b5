/// Where a named secret (`secrets.NAME`) comes from.
enum SecretSource: Sendable {
    /// `{env: VAR}`
    case environment(String)
    /// `{file: PATH}` (already made absolute); trailing CR/LF is stripped when read.
    case file(String)
    /// `{value: literal}`: demo only.
    case literal(String)
}

/// Substitutes `{{secret:NAME}}` and `${VAR}` in configuration strings.
///
/// Both may appear anywhere in a value, any number of times. At load time secrets come from `loaded`
/// (read once); `resolveFresh` re-reads them, which is what `ReloadableSecret` uses to pick up rotated
/// secret files. Problems are reported by name (secret, variable, file), never by value.
struct TemplateResolver: Sendable {
    struct Resolution {
        /// nil when any reference could not be resolved.
        var value: String?
        var problems: [String] = []
        var usedSecret = false
    }

    var secrets: [String: SecretSource]
    /// Values read at load time; a defined secret missing here failed to load (already reported).
    var loaded: [String: String] = [:]
    let environment: [String: String]
    let fileReader: @Sendable (String) throws -> String
    /// `check --skip-secrets`: environment variables and secret files are not read; each stands for
    /// `placeholder` (a literal `{value:}` secret is still itself).
    var usesPlaceholders = false
    /// What an unread secret or variable resolves to: non-empty and header-safe, so that checks of
    /// structure (required, non-empty, no CR/LF) pass.
    static let placeholder = "latchkey-check-placeholder"

    init(secrets: [String: SecretSource], environment: [String: String], fileReader: @escaping @Sendable (String) throws -> String) {
        self.secrets = secrets
        self.environment = environment
        self.fileReader = fileReader
    }

    /// Resolves with the secrets read at load time.
    func resolve(_ template: String) -> Resolution { substitute(template) { loaded[$0] } }

    /// Resolves re-reading secret files and variables now; nil on any problem.
    func resolveFresh(_ template: String) -> String? {
        substitute(template) { name in secrets[name].flatMap { try? read($0).get() } }.value
    }

    /// Reads one secret from its source. The failure text names the source, never a value.
    func read(_ source: SecretSource) -> Result<String, SecretReadFailure> {
        switch source {
        case .literal(let value):
            return .success(value)
        case .environment where usesPlaceholders, .file where usesPlaceholders:
            return .success(Self.placeholder)
        case .environment(let name):
            guard let value = environment[name] else {
                return .failure(SecretReadFailure(message: "environment variable '\(name)' is not set"))
            }
            return .success(value)
        case .file(let path):
            do {
                var text = try fileReader(path)
                while let last = text.unicodeScalars.last, last == "\n" || last == "\r" {
                    text.unicodeScalars.removeLast()
                }
                return .success(text)
            } catch let error as FileReadError {
                return .failure(SecretReadFailure(message: "file '\(path)' cannot be read: \(error.reason)"))
            } catch {
                return .failure(SecretReadFailure(message: "file '\(path)' cannot be read"))
            }
        }
    }

    private func substitute(_ template: String, secret: (String) -> String?) -> Resolution {
        var result = Resolution()
        var output = ""
        var rest = Substring(template)
        var failed = false
        while true {
            let variable = rest.firstRange(of: "${")
            let secretStart = secretReferenceStart(in: rest)
            if let s = secretStart, variable.map({ s.lowerBound < $0.lowerBound }) ?? true {
                output += rest[..<s.lowerBound]
                rest = rest[s.upperBound...]
                takeSecret(&rest, &output, &result, &failed, secret)
            } else if let v = variable {
                output += rest[..<v.lowerBound]
                rest = rest[v.upperBound...]
                takeVariable(&rest, &output, &result, &failed)
            } else {
                break
            }
        }
        output += rest
        result.value = failed ? nil : output
        return result
    }

    /// Consumes `NAME}` after `${`.
    private func takeVariable(_ rest: inout Substring, _ output: inout String, _ result: inout Resolution, _ failed: inout Bool) {
        guard let close = rest.firstIndex(of: "}") else {
            result.problems.append("unterminated '${' (write ${NAME})")
            failed = true
            rest = ""
            return
        }
        let name = String(rest[..<close])
        rest = rest[rest.index(after: close)...]
        guard Self.isVariableName(name) else {
            result.problems.append("invalid environment variable reference '${\(name)}'")
            failed = true
            return
        }
        if let value = environment[name] {
            output += value
        } else if usesPlaceholders {
            output += Self.placeholder
        } else {
            result.problems.append("environment variable '\(name)' is not set")
            failed = true
        }
    }

    /// The range of `{{secret:` (spaces allowed after `{{`), if any.
    private func secretReferenceStart(in text: Substring) -> Range<Substring.Index>? {
        var search = text[...]
        while let open = search.firstRange(of: "{{") {
            var i = open.upperBound
            while i < text.endIndex, text[i] == " " { i = text.index(after: i) }
            if text[i...].hasPrefix("secret:") {
                return open.lowerBound..<text.index(i, offsetBy: 7)
            }
            search = text[open.upperBound...]
        }
        return nil
    }

    /// Consumes `NAME}}` after `{{secret:`.
    private func takeSecret(
        _ rest: inout Substring, _ output: inout String, _ result: inout Resolution, _ failed: inout Bool,
        _ secret: (String) -> String?
    ) {
        guard let close = rest.firstRange(of: "}}") else {
            result.problems.append("unterminated '{{secret:' (write {{secret:NAME}})")
            failed = true
            rest = ""
            return
        }
        let name = rest[..<close.lowerBound].trimmingCharacters(in: " ")
        rest = rest[close.upperBound...]
        result.usedSecret = true
        guard secrets[name] != nil else {
            let defined = secrets.keys.sorted()
            var message = "undefined secret '\(name)'"
            if let nearest = EditDistance.nearest(to: name, in: defined) {
                message += " (did you mean '\(nearest)'?)"
            } else if defined.isEmpty {
                message += " (no secrets are defined under 'secrets:')"
            }
            result.problems.append(message)
            failed = true
            return
        }
        if let value = secret(name) { output += value } else { failed = true }  // its failure is reported at its definition
    }

    static func isVariableName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || isASCIILetter(first) else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || isASCIILetter($0) || ("0"..."9").contains($0) }
    }

    private static func isASCIILetter(_ c: Unicode.Scalar) -> Bool { ("a"..."z").contains(c) || ("A"..."Z").contains(c) }
}

/// Why a secret could not be read; names the source only.
struct SecretReadFailure: Error {
    let message: String
}

/// The default file reader's error: a short reason without file contents.
struct FileReadError: Error, CustomStringConvertible {
    let reason: String
    var description: String { reason }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Character) -> String {
        var s = self
        while s.first == set { s.removeFirst() }
        while s.last == set { s.removeLast() }
        return String(s)
    }
}
