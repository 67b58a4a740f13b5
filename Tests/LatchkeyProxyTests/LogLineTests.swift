import LatchkeyConfig
import Logging
import Testing

@testable import LatchkeyProxy

/// `LogLine`, the one place that knows the line format: both formats, quoting, numbers, and a line composed
/// at the end of a batch (as the access log does) scrubbed without touching the lines before it.
@Suite struct LogLineTests {
    private func compose(
        _ format: LatchkeyLogHandler.Format, scrubbing secrets: [String] = [], after earlier: [UInt8] = [],
        _ body: (inout LogLine) -> Void
    ) -> String {
        let scrubber = SecretScrubber()
        scrubber.register(secrets)
        let handler = LatchkeyLogHandler(label: "latchkey", level: .info, format: format, scrubber: scrubber)
        let out = LogBuffer()
        out.append(earlier)
        handler.appendLine(level: .info, to: out, body)
        return String(decoding: out.bytes, as: UTF8.self)
    }

    /// Drops the timestamp, which changes with the clock.
    private func withoutTime(_ line: String, format: LatchkeyLogHandler.Format) -> String {
        switch format {
        case .text: return String(line.drop { $0 != " " }.dropFirst())
        case .json: return "{" + String(line.drop { $0 != "," }.dropFirst())
        }
    }

    @Test func textLineQuotesOnlyValuesThatNeedIt() {
        let line = compose(.text) { line in
            line.message("GET example.com/a 200")
            line.field(LogFieldKey("a.int"), -42)
            line.field("b.empty", "")
            line.field("c.space", "a b")
            line.field("d.equals", "k=v")
            line.field("e.plain", "/v1/items")
            line.field(LogFieldKey("f.joined"), "https", "://", "api.example:8443")
            line.field("g.quote", #"say "hi""#)
        }
        #expect(
            withoutTime(line, format: .text)
                == #"info GET example.com/a 200 a.int=-42 b.empty="" c.space="a b" d.equals="k=v" e.plain=/v1/items f.joined=https://api.example:8443 g.quote="say \"hi\"""# + "\n")
    }

    @Test func jsonLineEscapesMessageAndWritesEveryValueAsAString() {
        let line = compose(.json) { line in
            line.message("GET ")
            line.message("/a\"b\n")
            line.message(" ")
            line.message(200)
            line.field(LogFieldKey.accessLine.status, 200)
            line.field(LogFieldKey.accessLine.upstream, "http", "://", "h:1")
            line.field("latchkey.path", "/\u{1}")
        }
        #expect(
            withoutTime(line, format: .json)
                == #"{"level":"info","logger":"latchkey","message":"GET /a\"b\n 200","latchkey.status":"200","latchkey.upstream":"http://h:1","latchkey.path":"/\u0001"}"# + "\n")
    }

    @Test func aLineAppendedToABatchIsScrubbedAndTheEarlierLinesAreLeftAlone() {
        let earlier = Array("earlier line mentions tok-12345 as plain text\n".utf8)
        let out = compose(.text, scrubbing: ["tok-12345"], after: earlier) { line in
            line.message("GET /tok-12345 200")
            line.field("latchkey.path", "/tok-12345")
        }
        #expect(out.hasPrefix("earlier line mentions tok-12345 as plain text\n"), "only the new line is scrubbed")
        let added = out.dropFirst(earlier.count)
        #expect(!added.contains("tok-12345"))
        #expect(added.hasSuffix("info GET /[redacted] 200 latchkey.path=/[redacted]\n"))
    }

    /// A prepared key (the access log's) writes exactly what the same key as a String writes, in both formats.
    @Test(arguments: [LatchkeyLogHandler.Format.text, .json])
    func aPreparedKeyWritesWhatItsNameWould(format: LatchkeyLogHandler.Format) {
        let values = ["/v1/items", "", "a b", #"say "hi""#, "tab\there"]
        let prepared = compose(format) { line in
            line.message("m")
            for value in values { line.field(LogFieldKey.accessLine.path, value) }
        }
        let named = compose(format) { line in
            line.message("m")
            for value in values { line.field(LogKey.path, value) }
        }
        #expect(withoutTime(prepared, format: format) == withoutTime(named, format: format))
        #expect(prepared.contains(format == .text ? " latchkey.path=/v1/items" : #","latchkey.path":"/v1/items""#))
    }

    /// A prepared field (a route's, made when the route is built) writes exactly what the same field
    /// written per line writes, in both formats: plain, empty, quoted and escaped values, right after the
    /// message and between other fields.
    @Test(arguments: [LatchkeyLogHandler.Format.text, .json])
    func aPreparedFieldWritesWhatTheFieldWould(format: LatchkeyLogHandler.Format) {
        let values = ["partner-api", "", "a b", #"say "hi""#, "k=v", "tab\there", "caf\u{e9}"]
        let prepared = compose(format) { line in
            line.message("m")
            for value in values {
                line.field(PreparedLogField(LogFieldKey.accessLine.route, value))
                line.field(LogFieldKey.accessLine.status, 200)
            }
        }
        let written = compose(format) { line in
            line.message("m")
            for value in values {
                line.field(LogFieldKey.accessLine.route, value)
                line.field(LogFieldKey.accessLine.status, 200)
            }
        }
        #expect(withoutTime(prepared, format: format) == withoutTime(written, format: format))
        #expect(prepared.contains(format == .text ? " latchkey.route=partner-api " : #","latchkey.route":"partner-api""#))
    }

    /// For loggers that take metadata, a prepared field is its key and value.
    @Test func aPreparedFieldIsMetadataToOtherLoggers() {
        var line = MetadataLine()
        line.field(PreparedLogField(LogFieldKey.accessLine.connection, "partner"))
        #expect(line.metadata[LogKey.connection] == .string("partner"))
    }

    @Test(arguments: [UInt(0), 1, 9, 10, 11, 99, 100, 101, 65_535, 9_999_999_999, 10_000_000_000_000_000_000, UInt.max])
    func unsignedDecimalsMatchSwiftsOwnAtEveryDigitCount(value: UInt) {
        let out = LogBuffer(capacity: 64)
        out.append("x")
        out.appendDecimal(value)
        #expect(String(decoding: out.bytes, as: UTF8.self) == "x" + String(value))
    }

    @Test(arguments: [0, 7, 10, 99, 1_000, -1, Int.max, Int.min + 1, Int.min])
    func decimalsMatchSwiftsOwn(value: Int) {
        let out = LogBuffer()
        LogLine.appendDecimal(value, to: out)
        #expect(String(decoding: out.bytes, as: UTF8.self) == String(value))
    }

    /// The buffer grows past its capacity (a long path), keeps what came before, truncates, and gives memory
    /// back past the limit when emptied.
    @Test func logBufferGrowsTruncatesAndShrinks() {
        let buffer = LogBuffer(capacity: 64)
        buffer.append("start ")
        let long = String(repeating: "x", count: 5_000)
        buffer.append(long)
        buffer.append(UInt8(ascii: "!"))
        #expect(buffer.count == 6 + 5_000 + 1)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "start " + long + "!")
        buffer.truncate(to: 5)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "start")
        buffer.removeAll(keepingCapacityUpTo: 1_024)
        #expect(buffer.count == 0 && buffer.capacity == 1_024)
        buffer.append("again")
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "again")
    }

    /// A line longer than the batch's buffer (a long path) is written whole and scrubbed.
    @Test func aLongLineIsWholeAndScrubbed() {
        let path = "/" + String(repeating: "a", count: 9_000) + "/tok-12345"
        let out = compose(.text, scrubbing: ["tok-12345"]) { line in
            line.message("GET ")
            line.message(path)
            line.field("latchkey.path", path)
        }
        let redacted = "/" + String(repeating: "a", count: 9_000) + "/[redacted]"
        #expect(withoutTime(out, format: .text) == "info GET \(redacted) latchkey.path=\(redacted)\n")
    }
}
