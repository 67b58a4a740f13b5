import Foundation
import Testing

@testable import LatchkeyConfig

/// Fixture files (Fixtures/ is copied into the test bundle).
enum Fixture {
    static func path(_ name: String) -> String {
        guard let path = Bundle.module.path(forResource: name, ofType: nil, inDirectory: "Fixtures") else {
            fatalError("missing fixture \(name)")
        }
        return path
    }

    /// proxy.conf.example at the repository root.
    static var examplePath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("proxy.conf.example").path
    }
}

/// Parses inline YAML with an in-memory file system; `files` maps paths to contents.
func parse(
    _ yaml: String, environment: [String: String] = [:], files: [String: String] = [:]
) throws(ConfigErrors) -> ProxyConfiguration {
    try ConfigLoader.parse(yaml: yaml, path: "proxy.conf", environment: environment) { path in
        guard let text = files[path] else { throw FileReadError(reason: "no such file") }
        return text
    }
}

/// The errors for a configuration expected to be invalid (empty when it unexpectedly loads).
func errors(_ yaml: String, environment: [String: String] = [:], files: [String: String] = [:]) -> [ConfigError] {
    do {
        _ = try parse(yaml, environment: environment, files: files)
        return []
    } catch {
        return error.errors
    }
}

/// Expects exactly one error, at the given place, whose message contains `message`.
func expectSingleError(
    _ yaml: String, environment: [String: String] = [:], files: [String: String] = [:],
    line: Int, column: Int, keyPath: String, message: String, sourceLocation: SourceLocation = #_sourceLocation
) {
    let found = errors(yaml, environment: environment, files: files)
    #expect(found.count == 1, "\(found)", sourceLocation: sourceLocation)
    guard let error = found.first else { return }
    #expect(error.file == "proxy.conf", sourceLocation: sourceLocation)
    #expect(error.line == line, "\(error)", sourceLocation: sourceLocation)
    #expect(error.column == column, "\(error)", sourceLocation: sourceLocation)
    #expect(error.keyPath == keyPath, "\(error)", sourceLocation: sourceLocation)
    #expect(error.message.contains(message), "\(error)", sourceLocation: sourceLocation)
}
