#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// What every fuzz target (LatchkeyHTTPFuzz, LatchkeyConfigFuzz, LatchkeyInterceptFuzz) shares: the invariant
// check, and replaying saved inputs without libFuzzer. Each target keeps only its `fuzzOne` and the two entry
// points, which must live in the executable (`@_cdecl` for libFuzzer, `@main` for replay).

/// Stops the run when a fuzz invariant breaks; libFuzzer then saves the input that broke it.
public func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        print("FUZZ CHECK FAILED: \(message())")
        fatalError("fuzz invariant broken")
    }
}

/// Runs `fuzzOne` on the contents of each file in `paths` (crash reproduction: `swift build --product
/// TARGET && .build/debug/TARGET FILE`). Exits with status 2 when a file cannot be read.
public func replayFuzzInputs(_ paths: some Sequence<String>, _ fuzzOne: (UnsafeRawBufferPointer) -> Void) {
    for path in paths {
        guard let file = fopen(path, "rb") else {
            print("cannot open \(path)")
            exit(2)
        }
        var input: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            input += buffer[..<count]
        }
        fclose(file)
        input.withUnsafeBytes { fuzzOne($0) }
        print("ok \(path) (\(input.count) bytes)")
    }
}
