import Foundation
import Yams

/// Loads and validates the YAML configuration (see `proxy.conf.example` and docs/configuration.md).
///
/// Every problem in the file is collected and thrown together as `ConfigErrors`, each with file, line,
/// column and key path. Secrets (`{{secret:NAME}}`) and environment variables (`${VAR}`) are resolved
/// in every string value; messages name secrets, variables and files but never contain their values.
public enum ConfigLoader {
    /// Reads the file at `path` and parses it (see `parse`), then registers its secret values with
    /// `scrubber`, the process's, so that they are scrubbed from every output from then on.
    public static func load(
        path: String, scrubber: SecretScrubber, environment: [String: String] = ProcessInfo.processInfo.environment,
        readsSecrets: Bool = true
    ) throws(ConfigErrors) -> ProxyConfiguration {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            let reason = (error as? FileReadError)?.reason ?? "unreadable"
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: 0, column: 0, keyPath: "", message: "cannot read configuration file: \(reason)")
            ])
        }
        let configuration = try parse(yaml: text, path: path, environment: environment, readsSecrets: readsSecrets)
        configuration.registerSecrets(with: scrubber)
        return configuration
    }

    /// Parses configuration text.
    ///
    /// - Parameters:
    ///   - path: the file name used in messages; relative secret and TLS file paths are resolved against
    ///     its directory.
    ///   - environment: variables for `${VAR}` and `{env: VAR}` secrets.
    ///   - fileReader: reads secret files and checks TLS files (tests inject one). It is kept by
    ///     `ReloadableSecret`s to re-read rotated secret files, so it must be safe to call from any thread.
    ///   - readsSecrets: false to validate structure and references only (`check --skip-secrets`, for CI
    ///     where the secrets are absent): no secret file or variable is read, each resolves to
    ///     `TemplateResolver.placeholder`, and checks of key, certificate and state-key content are skipped.
    ///     Such a configuration is for reporting only, never for serving.
    public static func parse(
        yaml: String, path: String, environment: [String: String], readsSecrets: Bool = true,
        fileReader: @escaping @Sendable (String) throws -> String = ConfigLoader.readFile
    ) throws(ConfigErrors) -> ProxyConfiguration {
        let root = try compose(yaml, path: path)
        let decoder = ConfigDecoder(
            file: path, environment: environment, readsSecrets: readsSecrets, fileReader: fileReader)
        let configuration = decoder.decodeDocument(root)
        guard decoder.errors.isEmpty else {
            throw ConfigErrors(errors: decoder.errors.enumerated().sorted { a, b in
                (a.element.line, a.element.column, a.offset) < (b.element.line, b.element.column, b.offset)
            }.map(\.element))
        }
        return configuration
    }

    /// The default file reader: the whole file as UTF-8. Its errors give a short reason
    /// ("no such file", "permission denied", ...) and never file contents.
    @Sendable public static func readFile(_ path: String) throws -> String {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FileReadError(reason: "no such file")
        }
        if isDirectory.boolValue { throw FileReadError(reason: "is a directory") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FileReadError(reason: "permission denied")
        }
        guard let text = String(data: data, encoding: .utf8) else { throw FileReadError(reason: "not UTF-8 text") }
        return text
    }

    /// The YAML tree of `yaml`, after `YAMLStructureGuard` has checked its size, depth and alias expansion
    /// (the only way text reaches Yams: its composer recurses once per level).
    static func compose(_ yaml: String, path: String) throws(ConfigErrors) -> Node? {
        if let violation = YAMLStructureGuard.check(yaml) {
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: violation.line, column: violation.column, keyPath: "", message: violation.message)
            ])
        }
        do {
            // `Resolver.basic`: the decoder reads every scalar as its text (`ConfigDecoder.scalar`), so Yams'
            // implicit typing (bool, int, null, timestamp...) has nothing to do here, and its default resolver
            // compiles seven NSRegularExpressions through ICU on first use: 1.7 MiB more resident memory in a
            // dynamically linked build, for the life of the process.
            return try Yams.compose(yaml: yaml, Resolver.basic)
        } catch let error as YamlError {
            throw ConfigErrors(errors: [syntaxError(error, file: path, text: yaml)])
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: 0, column: 0, keyPath: "", message: "invalid YAML")
            ])
        }
    }

    /// The parser's error, led by `YAMLSyntaxHint`'s plain-words fix when it recognises the mistake.
    private static func syntaxError(_ error: YamlError, file: String, text: String) -> ConfigError {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            let detail = "\(context.map { "\($0.text) " } ?? "")\(problem)"
            let message =
                YAMLSyntaxHint.hint(problem: detail, text: text, line: mark.line, column: mark.column)
                .map { "\($0) (YAML: \(detail))" } ?? "invalid YAML: \(detail)"
            return ConfigError(file: file, line: mark.line, column: mark.column, keyPath: "", message: message)
        case .reader(let problem, _, _, _):
            return ConfigError(file: file, line: 0, column: 0, keyPath: "", message: "invalid YAML: \(problem)")
        default:
            return ConfigError(file: file, line: 0, column: 0, keyPath: "", message: "invalid YAML")
        }
    }
}

extension ConfigLoader {
    /// Only the `admin:` address of a config file (nil for `admin: off`), read without resolving secrets or
    /// validating the rest: `latchkey connect` and `disconnect` need nothing else, and an operator's shell
    /// does not have the service's secrets.
    public static func adminAddress(path: String) throws(ConfigErrors) -> ListenAddress? {
        let text: String
        do {
            text = try readFile(path)
        } catch {
            let reason = (error as? FileReadError)?.reason ?? "unreadable"
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: 0, column: 0, keyPath: "", message: "cannot read configuration file: \(reason)")
            ])
        }
        let node = try compose(text, path: path)
        guard let value = node?.mapping?["admin"] else { return ListenAddress(host: "127.0.0.1", port: 9901) }
        let mark = value.mark
        guard let string = value.string else {
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: mark?.line ?? 0, column: mark?.column ?? 0, keyPath: "admin", message: "expected host:port or 'off'")
            ])
        }
        if string == "off" { return nil }
        do throws(ValueProblem) {
            return try ListenAddress.parse(string)
        } catch {
            throw ConfigErrors(errors: [
                ConfigError(file: path, line: mark?.line ?? 0, column: mark?.column ?? 0, keyPath: "admin", message: error.message)
            ])
        }
    }
}
