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
    let buffer: LogBuffer
    private var inMessage = true

    /// Starts a line at the end of `buffer`: everything up to the message.
    init(
        format: LatchkeyLogHandler.Format, label: String, level: Logger.Level, timestamp: Timestamp,
        appendingTo buffer: LogBuffer
    ) {
        self.format = format
        self.buffer = buffer
        switch format {
        case .text:
            timestamp.append(to: buffer)
            buffer.append(0x20)
            buffer.append(level.rawValue)
            buffer.append(0x20)
        case .json:
            buffer.append(#"{"time":""# as StaticString)
            timestamp.append(to: buffer)
            buffer.append(#"","level":""# as StaticString)
            buffer.append(level.rawValue)
            buffer.append(#"","logger":"# as StaticString)
            var out = buffer
            JSONString.appendQuoted(label, to: &out)
            buffer.append(#","message":""# as StaticString)
        }
    }

    /// Fields only, at the end of `buffer` (`rendered`): no prefix, no message.
    private init(format: LatchkeyLogHandler.Format, fieldsAppendingTo buffer: LogBuffer) {
        self.format = format
        self.buffer = buffer
        inMessage = false
    }

    /// The bytes `field(key, value)` writes in `format` (`PreparedLogField`).
    static func rendered(_ key: LogFieldKey, _ value: String, format: LatchkeyLogHandler.Format) -> [UInt8] {
        let buffer = LogBuffer(capacity: 64)
        var line = LogLine(format: format, fieldsAppendingTo: buffer)
        line.field(key, value)
        return Array(buffer.bytes)
    }

    /// Appends UTF-8 `text` to the message.
    mutating func message(_ text: UnsafeBufferPointer<UInt8>) {
        precondition(inMessage, "message parts come before the fields")
        appendPart(text, escaped: format == .json)
    }

    /// Appends `text` to the message.
    mutating func message(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ message($0) }) { return done }
        Array(text.utf8).withUnsafeBufferPointer { message($0) }
    }

    /// Appends `value` in decimal to the message.
    mutating func message(_ value: Int) {
        precondition(inMessage, "message parts come before the fields")
        Self.appendDecimal(value, to: buffer)
    }

    /// A field `key` = `value` (text: ` key=value`, quoted when the value needs it; JSON: `,"key":"value"`).
    mutating func field(_ key: String, _ value: UnsafeBufferPointer<UInt8>) {
        let quoted = beginField(key, quoted: Self.needsQuotes(value))
        appendPart(value, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field with a string value.
    mutating func field(_ key: String, _ value: String) {
        // Through the contiguous bytes: the quoting check over a `String.UTF8View` cost more than the rest.
        if let done: Void = value.utf8.withContiguousStorageIfAvailable({ field(key, $0) }) { return done }
        Array(value.utf8).withUnsafeBufferPointer { field(key, $0) }
    }

    /// A field under a prepared key (the access log's).
    mutating func field(_ key: LogFieldKey, _ value: UnsafeBufferPointer<UInt8>) {
        let quoted = beginField(key, quoted: Self.needsQuotes(value))
        appendPart(value, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field under a prepared key with a string value.
    mutating func field(_ key: LogFieldKey, _ value: String) {
        if let done: Void = value.utf8.withContiguousStorageIfAvailable({ field(key, $0) }) { return done }
        Array(value.utf8).withUnsafeBufferPointer { field(key, $0) }
    }

    /// A prepared field: its bytes for this format, copied.
    mutating func field(_ prepared: PreparedLogField) {
        endMessage()
        buffer.append(format == .text ? prepared.text : prepared.json)
    }

    /// A field whose value is three strings joined (`scheme`, `://`, `authority`), without joining them first.
    mutating func field(_ key: LogFieldKey, _ first: String, _ second: String, _ third: String) {
        let quoted = beginField(
            key,
            quoted: (first.isEmpty && second.isEmpty && third.isEmpty)
                || Self.needsQuotes(first) || Self.needsQuotes(second) || Self.needsQuotes(third))
        appendPart(first, escaped: quoted)
        appendPart(second, escaped: quoted)
        appendPart(third, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field with a decimal value (never quoted in text; a JSON string, like every value).
    mutating func field(_ key: LogFieldKey, _ value: Int) {
        let quoted = beginField(key, quoted: false)
        Self.appendDecimal(value, to: buffer)
        endField(quoted: quoted)
    }

    /// ` key=` (text) or `,"key":` (JSON), then the opening quote when the value is quoted: always in JSON,
    /// in text when `textNeedsQuotes`. Returns whether it is.
    private mutating func beginField(_ key: String, quoted textNeedsQuotes: Bool) -> Bool {
        endMessage()
        switch format {
        case .text:
            buffer.append(0x20)
            buffer.append(key)
            buffer.append(UInt8(ascii: "="))
        case .json:
            buffer.append(UInt8(ascii: ","))
            var out = buffer
            JSONString.appendQuoted(key, to: &out)
            buffer.append(UInt8(ascii: ":"))
        }
        return openValue(textNeedsQuotes: textNeedsQuotes)
    }

    /// `beginField` with the key's bytes made beforehand: one copy.
    private mutating func beginField(_ key: LogFieldKey, quoted textNeedsQuotes: Bool) -> Bool {
        endMessage()
        buffer.append(format == .text ? key.text : key.json)
        return openValue(textNeedsQuotes: textNeedsQuotes)
    }

    /// The opening quote when the value is quoted: always in JSON, in text when `textNeedsQuotes`.
    private func openValue(textNeedsQuotes: Bool) -> Bool {
        let quoted = format == .json || textNeedsQuotes
        if quoted { buffer.append(UInt8(ascii: "\"")) }
        return quoted
    }

    private func appendPart(_ part: UnsafeBufferPointer<UInt8>, escaped: Bool) {
        if escaped {
            var out = buffer
            JSONString.appendEscaped(part, to: &out)
        } else {
            buffer.append(part)
        }
    }

    private func appendPart(_ part: String, escaped: Bool) {
        if let done: Void = part.utf8.withContiguousStorageIfAvailable({ appendPart($0, escaped: escaped) }) {
            return done
        }
        Array(part.utf8).withUnsafeBufferPointer { appendPart($0, escaped: escaped) }
    }

    private func endField(quoted: Bool) {
        if quoted { buffer.append(UInt8(ascii: "\"")) }
    }

    /// Ends the line (newline included).
    mutating func finish() {
        endMessage()
        if format == .json { buffer.append(UInt8(ascii: "}")) }
        buffer.append(0x0A)
    }

    private mutating func endMessage() {
        guard inMessage else { return }
        inMessage = false
        if format == .json { buffer.append(UInt8(ascii: "\"")) }
    }

    /// Text values are quoted when empty or when they hold a space, control character, `"` or `=`, so that
    /// `key=value` pairs split unambiguously.
    private static func needsQuotes(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        value.isEmpty || value.contains(where: needsQuoting)
    }

    /// Whether a non-empty part of a joined value holds a byte that needs quotes.
    private static func needsQuotes(_ part: String) -> Bool {
        part.utf8.withContiguousStorageIfAvailable { $0.contains(where: needsQuoting) }
            ?? part.utf8.contains(where: needsQuoting)
    }

    @inline(__always)
    private static func needsQuoting(_ byte: UInt8) -> Bool { byte <= 0x20 || byte == 0x22 || byte == 0x3D || byte == 0x7F }

    /// `value` in decimal, without a `String` in between.
    static func appendDecimal(_ value: Int, to out: LogBuffer) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        out.appendDecimal(value.magnitude)
    }
}
