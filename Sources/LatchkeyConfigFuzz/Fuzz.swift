// libFuzzer harness for the YAML configuration loader (issue 9). Built by scripts/fuzz with -DFUZZING and
// -sanitize=fuzzer (libFuzzer supplies main). A plain `swift build` compiles it without FUZZING, as a small
// executable that replays input files through the same checks.
import LatchkeyConfig
import LatchkeyFuzzSupport

/// A value of an environment variable the input may reference (`${FUZZ_SECRET}`, `{env: FUZZ_SECRET}`):
/// no config error may quote it unless the input itself spells it out.
let secretValue = "fz-secret-Q9x7"
let environment = ["FUZZ_SECRET": secretValue, "FUZZ_PORT": "3128", "FUZZ_HOST": "api.example"]

/// Runs one input: the loader must return a configuration or errors — never trap, overflow the stack or
/// hang — and neither errors nor the summary of a loaded configuration may contain the secret value.
func fuzzOne(_ data: UnsafeRawBufferPointer) {
    let text = String(decoding: data, as: UTF8.self)
    let spelledOut = text.contains(secretValue)
    do {
        let configuration = try ConfigLoader.parse(yaml: text, path: "fuzz.conf", environment: environment) { _ in
            secretValue + "-from-file"  // every secret or TLS file "exists"
        }
        let summary = ConfigSummary.render(configuration)
        check(spelledOut || !summary.contains(secretValue), "summary shows a secret:\n\(summary)")
        for warning in configuration.warnings {
            check(spelledOut || !warning.contains(secretValue), "warning shows a secret: \(warning)")
        }
    } catch {
        check(!error.errors.isEmpty, "ConfigErrors without an error")
        for problem in error.errors {
            check(!problem.message.isEmpty, "an error without a message")
            check(spelledOut || !"\(problem)".contains(secretValue), "config error shows a secret: \(problem)")
        }
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    fuzzOne(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}
#else
/// Without libFuzzer: replays the files named on the command line (crash reproduction).
@main
struct ReplayMain {
    static func main() { replayFuzzInputs(CommandLine.arguments.dropFirst(), fuzzOne) }
}
#endif
