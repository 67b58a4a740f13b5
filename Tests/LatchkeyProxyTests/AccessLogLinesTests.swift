import Foundation
import LatchkeyConfig
import LatchkeyNet
import Logging
import Testing

@testable import LatchkeyProxy

/// The access log's batched path: lines as the handler writes them, many to a `write`.
@Suite struct AccessLogLinesTests {
    @Test(arguments: EventLoopBackend.allCases) func linesLeaveTogetherAndReadAsTheHandlerWritesThem(
        backend: EventLoopBackend
    ) throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let scrubber = SecretScrubber()
        scrubber.register(["s3cret-in-path"])
        let handler = LatchkeyLogHandler(label: "latchkey", level: .info, format: .text, scrubber: scrubber, fileDescriptor: fds[1])
        let loop = EventLoop(label: "access-log", backend: backend)
        let lines = try #require(AccessLogLines(logger: Logger(label: "latchkey") { _ in handler }, loops: [loop]))
        #expect(lines.writesInfo)
        loop.runAndWait {
            for index in 0..<3 {
                lines.info(on: loop) { line in
                    line.message("GET /s3cret-in-path/")
                    line.message(index)
                    line.message(" 200")
                    line.field("latchkey.path", "/a b")
                    line.field(LogFieldKey.accessLine.status, 200)
                }
            }
        }
        // The batch goes out `flushDelay` after its first line: wait for the bytes, then close to read to the end.
        var first = [UInt8](repeating: 0, count: 4096)
        let count = read(fds[0], &first, first.count)
        close(fds[1])
        var rest = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        rest.insert(contentsOf: first[0..<max(0, count)], at: 0)
        let out = String(decoding: rest, as: UTF8.self).split(separator: "\n")
        #expect(out.count == 3)
        for (index, line) in out.enumerated() {
            #expect(line.hasSuffix(" info GET /[redacted]/\(index) 200 latchkey.path=\"/a b\" latchkey.status=200"))
        }
        if backend == .epoll {
            #expect(count == rest.count, "the batch's lines leave with one write")
        }
    }

    /// With a delay too long to matter, a batch leaves only when it passes `flushBytes` or when told to
    /// (a graceful stop): nothing is written before, everything after.
    @Test func aBatchLeavesWhenFullOrWhenFlushed() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        defer { close(fds[0]) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        let handler = LatchkeyLogHandler(
            label: "latchkey", level: .info, format: .text, scrubber: SecretScrubber(), fileDescriptor: fds[1])
        let loop = EventLoop(label: "access-log-flush", backend: .epoll)
        let lines = try #require(
            AccessLogLines(logger: Logger(label: "latchkey") { _ in handler }, loops: [loop], flushDelay: .seconds(3_600)))
        func log(_ count: Int, path: String) {
            loop.runAndWait {
                for _ in 0..<count { lines.info(on: loop) { line in line.message("GET \(path) 200") } }
            }
        }
        func drain() -> String {
            var bytes = [UInt8](repeating: 0, count: 1 << 20)
            let count = read(fds[0], &bytes, bytes.count)
            return count > 0 ? String(decoding: bytes[0..<count], as: UTF8.self) : ""
        }

        log(3, path: "/held")
        #expect(drain() == "", "three lines wait for more")
        let flushed = DispatchSemaphore(value: 0)
        lines.flush { flushed.signal() }
        flushed.wait()
        #expect(drain().split(separator: "\n").count == 3)

        // Lines of a little over 1,000 bytes: the batch leaves once it passes the threshold, and the four
        // lines after it wait.
        let padding = String(repeating: "p", count: 1_000)
        let threshold = AccessLogLines.flushBytes
        log(threshold / 1_000 + 4, path: "/\(padding)")
        let written = drain().split(separator: "\n")
        #expect(written.count >= threshold / 1_100 && written.count < threshold / 1_000 + 4,
                "the lines up to the threshold, the rest still held")
        close(fds[1])
    }

    /// A stop must not hang on a loop that never gets to its batch: `flush(then:)` completes after
    /// `flushWait` anyway.
    @Test func aStuckLoopDoesNotHoldUpTheStop() throws {
        let handler = LatchkeyLogHandler(
            label: "latchkey", level: .info, format: .text, scrubber: SecretScrubber(), fileDescriptor: 2)
        let loop = EventLoop(label: "access-log-stuck", backend: .epoll)
        let lines = try #require(AccessLogLines(logger: Logger(label: "latchkey") { _ in handler }, loops: [loop]))
        let release = DispatchSemaphore(value: 0)
        loop.execute { release.wait() }  // the loop is busy until the test lets it go
        let completed = DispatchSemaphore(value: 0)
        lines.flush { completed.signal() }
        #expect(completed.wait(timeout: .now() + 10) == .success, "completed within flushWait, not never")
        release.signal()
    }

    @Test func anotherHandlerOrHandlerMetadataKeepsTheLoggerPath() {
        let loop = EventLoop(label: "access-log-fallback", backend: .dispatch)
        #expect(AccessLogLines(logger: Logger(label: "x") { _ in SwiftLogNoOpLogHandler() }, loops: [loop]) == nil)
        var logger = Logger(label: "x") { _ in
            LatchkeyLogHandler(label: "x", level: .info, format: .json, scrubber: SecretScrubber(), fileDescriptor: 2)
        }
        logger[metadataKey: "k"] = "v"
        #expect(AccessLogLines(logger: logger, loops: [loop]) == nil)
    }
}
