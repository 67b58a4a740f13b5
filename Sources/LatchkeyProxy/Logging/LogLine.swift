import LatchkeyConfig
import Logging

/// One log line composed in place at the end of a byte buffer, in text or JSON: the only place that knows
/// the line format. `LatchkeyLogHandler` composes every line through it, and the access log appends its
/// per-request line straight into its loop's batch, without Strings per field or a metadata dictionary.
///
/// A line is the prefix (time, level, and in JSON the logger's label), the message in parts, then fields
/// in the order given (callers give them sorted by key, the order `log(event:)` uses for metadata), then
/// the end. Every value is written as a string, as swift-log's string metadata would be.
struct LogLine {
    private let format: LatchkeyLogHandler.Format
    /// The buffer the line is appended to (earlier lines of a batch stay in front of it).
    var bytes: [UInt8]
    private var inMessage = true

    /// Starts a line at the end of `bytes`: everything up to the message.
    init(
        format: LatchkeyLogHandler.Format, label: String, level: Logger.Level, timestamp: Timestamp,
        appendingTo bytes: consuming [UInt8]
    ) {
        self.format = format
        self.bytes = bytes
        switch format {
        case .text:
            timestamp.append(to: &self.bytes)
            self.bytes.append(0x20)
            Self.appendUTF8(level.rawValue, to: &self.bytes)
            self.bytes.append(0x20)
        case .json:
            self.bytes.append(contentsOf: #"{"time":""#.utf8)
            timestamp.append(to: &self.bytes)
            self.bytes.append(contentsOf: #"","level":""#.utf8)
            Self.appendUTF8(level.rawValue, to: &self.bytes)
            self.bytes.append(contentsOf: #"","logger":"#.utf8)
            JSONString.appendQuoted(label, to: &self.bytes)
            self.bytes.append(contentsOf: #","message":""#.utf8)
        }
    }

    /// Appends UTF-8 `text` to the message.
    mutating func message(_ text: some Collection<UInt8>) {
        precondition(inMessage, "message parts come before the fields")
        switch format {
        case .text: bytes.append(contentsOf: text)
        case .json: JSONString.appendEscaped(text, to: &bytes)
        }
    }

    /// Appends `text` to the message.
    mutating func message(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ message($0) }) { return done }
        message(Array(text.utf8))
    }

    /// Appends `value` in decimal to the message.
    mutating func message(_ value: Int) {
        precondition(inMessage, "message parts come before the fields")
        Self.appendDecimal(value, to: &bytes)
    }

    /// A field `key` = `value` (text: ` key=value`, quoted when the value needs it; JSON: `,"key":"value"`).
    mutating func field(_ key: String, _ value: some Collection<UInt8>) {
        let quoted = beginField(key, quoted: Self.needsQuotes(value))
        appendPart(value, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field whose value is three strings joined (`scheme`, `://`, `authority`), without joining them first.
    mutating func field(_ key: String, _ first: String, _ second: String, _ third: String) {
        let quoted = beginField(
            key,
            quoted: (first.isEmpty && second.isEmpty && third.isEmpty)
                || Self.needsQuotes(first) || Self.needsQuotes(second) || Self.needsQuotes(third))
        appendPart(first, escaped: quoted)
        appendPart(second, escaped: quoted)
        appendPart(third, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field with a string value.
    mutating func field(_ key: String, _ value: String) {
        // Through the contiguous bytes: the quoting check over a `String.UTF8View` cost more than the rest.
        if let done: Void = value.utf8.withContiguousStorageIfAvailable({ field(key, $0) }) { return done }
        field(key, Array(value.utf8))
    }

    /// A field with a decimal value (never quoted in text; a JSON string, like every value).
    mutating func field(_ key: String, _ value: Int) {
        let quoted = beginField(key, quoted: false)
        Self.appendDecimal(value, to: &bytes)
        endField(quoted: quoted)
    }

    /// ` key=` (text) or `,"key":` (JSON), then the opening quote when the value is quoted: always in JSON,
    /// in text when `textNeedsQuotes`. Returns whether it is.
    private mutating func beginField(_ key: String, quoted textNeedsQuotes: Bool) -> Bool {
        endMessage()
        let quoted: Bool
        switch format {
        case .text:
            bytes.append(0x20)
            Self.appendUTF8(key, to: &bytes)
            bytes.append(UInt8(ascii: "="))
            quoted = textNeedsQuotes
        case .json:
            bytes.append(UInt8(ascii: ","))
            JSONString.appendQuoted(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            quoted = true
        }
        if quoted { bytes.append(UInt8(ascii: "\"")) }
        return quoted
    }

    private mutating func appendPart(_ part: some Collection<UInt8>, escaped: Bool) {
        if escaped { JSONString.appendEscaped(part, to: &bytes) } else { bytes.append(contentsOf: part) }
    }

    private mutating func appendPart(_ part: String, escaped: Bool) {
        if let done: Void = part.utf8.withContiguousStorageIfAvailable({ appendPart($0, escaped: escaped) }) {
            return done
        }
        appendPart(Array(part.utf8), escaped: escaped)
    }

    private mutating func endField(quoted: Bool) {
        if quoted { bytes.append(UInt8(ascii: "\"")) }
    }

    /// Ends the line (newline included) and gives the buffer back.
    consuming func finish() -> [UInt8] {
        endMessage()
        if format == .json { bytes.append(UInt8(ascii: "}")) }
        bytes.append(0x0A)
        return bytes
    }

    private mutating func endMessage() {
        guard inMessage else { return }
        inMessage = false
        if format == .json { bytes.append(UInt8(ascii: "\"")) }
    }

    /// Text values are quoted when empty or when they hold a space, control character, `"` or `=`, so that
    /// `key=value` pairs split unambiguously.
    private static func needsQuotes(_ value: some Collection<UInt8>) -> Bool {
        value.isEmpty || value.contains(where: needsQuoting)
    }

    /// Whether a non-empty part of a joined value holds a byte that needs quotes.
    private static func needsQuotes(_ part: String) -> Bool {
        part.utf8.withContiguousStorageIfAvailable { $0.contains(where: needsQuoting) }
            ?? part.utf8.contains(where: needsQuoting)
    }

    @inline(__always)
    private static func needsQuoting(_ byte: UInt8) -> Bool { byte <= 0x20 || byte == 0x22 || byte == 0x3D || byte == 0x7F }

    /// `text`'s UTF-8 appended as one copy of memory (appending a `String.UTF8View` goes byte by byte).
    @inline(__always)
    private static func appendUTF8(_ text: String, to out: inout [UInt8]) {
        if text.utf8.withContiguousStorageIfAvailable({ out.append(contentsOf: $0) }) == nil {
            out.append(contentsOf: text.utf8)
        }
    }

    /// `value` in decimal, without a `String` in between.
    static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        if value < 0 {
            out.append(UInt8(ascii: "-"))
            appendDecimal(UInt(value.magnitude), to: &out)
        } else {
            appendDecimal(UInt(value), to: &out)
        }
    }

    private static func appendDecimal(_ value: UInt, to out: inout [UInt8]) {
        var divisor: UInt = 1
        while divisor <= value / 10 { divisor *= 10 }
        repeat {
            out.append(UInt8(truncatingIfNeeded: 0x30 + value / divisor % 10))
            divisor /= 10
        } while divisor > 0
    }
}
