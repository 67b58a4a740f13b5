import Foundation
import Testing

@testable import LatchkeyMetrics

/// The metrics suites (`swift test --filter MetricsTests`); each `Metrics*Tests.swift` file adds one.
@Suite enum MetricsTests {
    /// Whether `python3` on PATH can import the reference parser (`prometheus_client`).
    static let prometheusParserAvailable: Bool = (try? runPython("import prometheus_client", input: ""))?.status == 0

    /// Parses `exposition` with `prometheus_client.parser.text_string_to_metric_families` and returns one
    /// line per family (`family <name> <type>`) and per sample (`sample <name> <k=v,...> <value>`, labels
    /// sorted by name), so tests compare what the real parser understood.
    static func parseWithPrometheusClient(_ exposition: String) throws -> [String] {
        let script = """
            import sys
            from prometheus_client.parser import text_string_to_metric_families
            for family in text_string_to_metric_families(sys.stdin.read()):
                print("family", family.name, family.type)
                for s in family.samples:
                    labels = ",".join(k + "=" + repr(v) for k, v in sorted(s.labels.items()))
                    print("sample", s.name, labels, repr(float(s.value)))
            """
        let result = try runPython(script, input: exposition)
        #expect(result.status == 0, "parser failed: \(result.output)")
        return result.output.split(separator: "\n").map(String.init)
    }

    private static func runPython(_ script: String, input: String) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stdout
        try process.run()
        stdin.fileHandleForWriting.write(Data(input.utf8))
        try stdin.fileHandleForWriting.close()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}
