import Foundation
import LatchkeyConfig
import Logging
import Testing

@testable import LatchkeyProxy

@Suite struct LogHandlerTests {
    /// Logs one line through a handler writing into a pipe and returns what came out.
    func capture(
        _ format: LatchkeyLogHandler.Format, scrubber: SecretScrubber = SecretScrubber(), _ body: (Logger) -> Void
    ) throws -> String {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        var logger = Logger(label: "test") { label in
            LatchkeyLogHandler(label: label, level: .info, format: format, scrubber: scrubber, fileDescriptor: fds[1])
        }
        logger[metadataKey: "latchkey.route"] = "r 1"
        body(logger)
        close(fds[1])
        let data = FileHandle(fileDescriptor: fds[0], closeOnDealloc: true).readDataToEndOfFile()
        return String(decoding: data, as: UTF8.self)
    }

    @Test func jsonLinesAreObjectsWithTheMetadata() throws {
        let out = try capture(.json) { $0.info("GET \"x\"", metadata: ["latchkey.status": "200"]) }
        let lines = out.split(separator: "\n")
        #expect(lines.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: String])
        #expect(object["level"] == "info")
        #expect(object["logger"] == "test")
        #expect(object["message"] == "GET \"x\"")
        #expect(object["latchkey.route"] == "r 1")
        #expect(object["latchkey.status"] == "200")
        #expect(object["time"]?.hasSuffix("Z") == true)
    }

    @Test func textLinesQuoteValuesWithSpacesAndSkipLowerLevels() throws {
        let out = try capture(.text) { logger in
            logger.debug("hidden")
            logger.info("shown", metadata: ["latchkey.status": "200"])
        }
        #expect(!out.contains("hidden"))
        #expect(out.contains(" info shown "))
        #expect(out.contains("latchkey.route=\"r 1\""))
        #expect(out.contains("latchkey.status=200"))
        #expect(out.hasSuffix("\n"))
    }

    /// Issue 11: the handler scrubs with the scrubber it was given (the process's), not a global one.
    @Test func linesAreScrubbedWithTheInjectedScrubber() throws {
        let scrubber = SecretScrubber()
        scrubber.register(["hunter2-secret"])
        let scrubbed = try capture(.text, scrubber: scrubber) { $0.info("provider said hunter2-secret") }
        #expect(scrubbed.contains("provider said [redacted]") && !scrubbed.contains("hunter2"))
        let other = try capture(.text) { $0.info("provider said hunter2-secret") }
        #expect(other.contains("hunter2-secret"))
    }
}
