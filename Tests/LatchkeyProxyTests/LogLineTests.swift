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
        handler.composer.appendLine(level: .info, to: out, body)
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

    /// JSON values are copied in runs between the bytes that need escaping; every byte, alone, at either end
    /// and next to another escape, comes out as `JSONString.quote` (the escaping of every other JSON the
    /// proxy writes) has it.
    @Test func jsonValuesAreEscapedLikeJSONStringQuote() {
        var values = (0..<0x80).map { "a\(Character(Unicode.Scalar(UInt8($0))))b" }
        values += ["\"", "\"\"", "\\\n", "\u{1}x", "x\u{1f}", "plain", "", "é→\"ü\t", "/p?\u{7f}"]
        for value in values {
            let line = compose(.json) { line in
                line.message(value)
                line.field("v", value)
            }
            let quoted = JSONString.quote(value)
            #expect(line.contains(#""message":\#(quoted)"#), "message \(quoted)")
            #expect(line.hasSuffix(#","v":\#(quoted)}"# + "\n"), "field \(quoted)")
        }
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

    /// Each level is written under swift-log's own name for it, in both formats.
    @Test(arguments: LatchkeyLogHandler.Format.allCases)
    func everyLevelIsWrittenUnderItsOwnName(format: LatchkeyLogHandler.Format) {
        let handler = LatchkeyLogHandler(label: "latchkey", level: .trace, format: format, scrubber: SecretScrubber())
        for level in Logger.Level.allCases {
            let line = String(decoding: handler.line(level: level, message: "m", sortedFields: []), as: UTF8.self)
            switch format {
            case .text: #expect(line.split(separator: " ").dropFirst().first == Substring(level.rawValue))
            case .json: #expect(line.contains(#""level":"\#(level.rawValue)","#))
            }
        }
    }

    @Test(arguments: [0, 1, 7, 9, 10, 11, 99, 100, 101, 1_000, 65_535, 9_999_999_999, -1, Int.max, Int.min + 1, Int.min])
    func decimalsMatchSwiftsOwnAtEveryDigitCount(value: Int) {
        let line = compose(.text) { line in
            line.message(value)
            line.field(LogFieldKey("n"), value)
        }
        #expect(withoutTime(line, format: .text) == "info \(value) n=\(value)\n")
    }

    /// A line writes into room its buffer made at the start; wherever that room runs out (here in every
    /// byte of a number, then of a key), the line goes on in grown room with nothing lost or doubled.
    @Test func aLineGrowsPastItsRoomAtEveryPosition() {
        for padding in 440..<540 {
            let text = String(repeating: "a", count: padding)
            let line = compose(.text, after: Array("earlier\n".utf8)) { line in
                line.message(text)
                line.message(1_234_567_890)
                line.field(LogFieldKey("latchkey.duration_ms"), 12)
            }
            #expect(line.hasPrefix("earlier\n"))
            let ours = String(line.dropFirst("earlier\n".count))
            #expect(withoutTime(ours, format: .text) == "info \(text)1234567890 latchkey.duration_ms=12\n")
        }
    }

    /// The buffer grows past its capacity (a long path), keeps what came before, truncates, and gives memory
    /// back past the limit when emptied.
    @Test func logBufferGrowsTruncatesAndShrinks() {
        let buffer = LogBuffer(capacity: 64)
        buffer.append(Array("start ".utf8))
        let long = String(repeating: "x", count: 5_000)
        buffer.append(Array(long.utf8))
        buffer.append([UInt8(ascii: "!")])
        #expect(buffer.count == 6 + 5_000 + 1)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "start " + long + "!")
        buffer.truncate(to: 5)
        #expect(String(decoding: buffer.bytes, as: UTF8.self) == "start")
        buffer.removeAll(keepingCapacityUpTo: 1_024)
        #expect(buffer.count == 0 && buffer.capacity == 1_024)
        buffer.append(Array("again".utf8))
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
