import Foundation
import LatchkeyConfig
import LatchkeyNet
import Logging
import Testing

@testable import LatchkeyProxy

/// The access log's batched path: lines as the handler writes them, one `write` per loop turn.
@Suite struct AccessLogLinesTests {
    @Test(arguments: EventLoopBackend.allCases) func linesOfOneTurnLeaveTogetherAndReadAsTheHandlerWritesThem(
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
                    line.field("latchkey.status", 200)
                }
            }
        }
        // The turn ends after runAndWait's work returns: wait for the bytes, then close to read to the end.
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
            #expect(count == rest.count, "the epoll loop writes one turn's lines with one write")
        }
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
