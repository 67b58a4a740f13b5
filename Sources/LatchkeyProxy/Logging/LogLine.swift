import LatchkeyConfig
import Logging

/// One log line composed in place at the end of a byte buffer, in text or JSON: the only place that knows
/// the line format. `LatchkeyLogHandler` composes every line through it, and the access log appends its
/// per-request line straight into its loop's batch, without Strings per field or a metadata dictionary.
///
/// A line is the prefix (time, level, and in JSON the logger's label), the message in parts, then fields
/// in the order given (callers give them sorted by key, the order `log(event:)` uses for metadata), then
/// the end. Every value is written as a string, as swift-log's string metadata would be.
struct LogLine: ByteSink {
    private let format: LatchkeyLogHandler.Format
    /// The buffer the line is appended to (earlier lines of a batch stay in front of it). The line writes
    /// through `cursor` into room the buffer made (`LogBuffer.room(forAtLeast:)`) and hands the bytes over
    /// in `finish()`: an append is a bounds check and a copy, with no call into the buffer. Profiled, the
    /// buffer's own appends (its fields loaded and stored, a call each) cost more than the bytes they copied.
    private let buffer: LogBuffer
    private var cursor: UnsafeMutablePointer<UInt8>
    private var end: UnsafeMutablePointer<UInt8>
    private var inMessage = true

    /// The room a line asks for at its start; more when a long value needs it.
    private static let usualLength = 512

    /// Starts a line at the end of `buffer`: everything up to the message. Until `finish()`, nothing else
    /// may append to `buffer`.
    /// - Parameter quotedLabel: the logger's label as a JSON string, quotes included (`LogLineComposer`
    ///   makes it once).
    init(
        format: LatchkeyLogHandler.Format, quotedLabel: UnsafeBufferPointer<UInt8>, level: Logger.Level,
        timestamp: Timestamp, appendingTo buffer: LogBuffer
    ) {
        self.format = format
        self.buffer = buffer
        (cursor, end) = buffer.room(forAtLeast: Self.usualLength)
        switch format {
        case .text:
            timestamp.append(to: &self)
            append(0x20)
            append(Self.name(of: level))
            append(0x20)
        case .json:
            append(#"{"time":""# as StaticString)
            timestamp.append(to: &self)
            append(#"","level":""# as StaticString)
            append(Self.name(of: level))
            append(#"","logger":"# as StaticString)
            append(quotedLabel)
            append(#","message":""# as StaticString)
        }
    }

    /// `level.rawValue` without making a String.
    private static func name(of level: Logger.Level) -> StaticString {
        switch level {
        case .trace: "trace"
        case .debug: "debug"
        case .info: "info"
        case .notice: "notice"
        case .warning: "warning"
        case .error: "error"
        case .critical: "critical"
        }
    }

    /// Fields only, at the end of `buffer` (`rendered`): no prefix, no message.
    private init(format: LatchkeyLogHandler.Format, fieldsAppendingTo buffer: LogBuffer) {
        self.format = format
        self.buffer = buffer
        (cursor, end) = buffer.room(forAtLeast: 64)
        inMessage = false
    }

    /// The bytes `field(key, value)` writes in `format` (`PreparedLogField`).
    static func rendered(_ key: LogFieldKey, _ value: String, format: LatchkeyLogHandler.Format) -> [UInt8] {
        let buffer = LogBuffer(capacity: 64)
        var line = LogLine(format: format, fieldsAppendingTo: buffer)
        line.field(key, value)
        buffer.commit(upTo: line.cursor)
        return Array(buffer.bytes)
    }

    // MARK: Bytes (also what `JSONString` and `Timestamp` write through, as a `ByteSink`)

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        if cursor == end { makeRoom(for: 1) }
        cursor.initialize(to: byte)
        cursor += 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress else { return }
        if end - cursor < bytes.count { makeRoom(for: bytes.count) }
        cursor.update(from: source, count: bytes.count)
        cursor += bytes.count
    }

    @inline(__always)
    private mutating func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The String forms here and below each spell out the same two lines (the bytes in place, or a copy of
    /// a string that is not contiguous) rather than call one helper taking a closure: through the helper the
    /// optimiser stopped inlining the access log's fields, 280 instructions a line.
    private mutating func append(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ append($0) }) { return done }
        Array(text.utf8).withUnsafeBufferPointer { append($0) }
    }

    /// The written bytes go to the buffer, which grows; writing goes on in its new room.
    @inline(never)
    private mutating func makeRoom(for count: Int) {
        buffer.commit(upTo: cursor)
        (cursor, end) = buffer.room(forAtLeast: max(count, Self.usualLength))
    }

    /// Appends UTF-8 `text` to the message.
    @inline(__always)
    mutating func message(_ text: UnsafeBufferPointer<UInt8>) {
        precondition(inMessage, "message parts come before the fields")
        appendPart(text, escaped: format == .json)
    }

    /// Appends `text` to the message.
    @inline(__always)
    mutating func message(_ text: String) {
        if let done: Void = text.utf8.withContiguousStorageIfAvailable({ message($0) }) { return done }
        Array(text.utf8).withUnsafeBufferPointer { message($0) }
    }

    /// Appends `value` in decimal to the message.
    @inline(__always)
    mutating func message(_ value: Int) {
        precondition(inMessage, "message parts come before the fields")
        appendDecimal(value)
    }

    /// Appends fixed `text` to the message.
    @inline(__always)
    mutating func message(_ text: StaticString) {
        message(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
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
    @inline(__always)
    mutating func field(_ key: LogFieldKey, _ value: UnsafeBufferPointer<UInt8>) {
        let quoted = beginField(key, quoted: Self.needsQuotes(value))
        appendPart(value, escaped: quoted)
        endField(quoted: quoted)
    }

    /// A field under a prepared key with a string value.
    @inline(__always)
    mutating func field(_ key: LogFieldKey, _ value: String) {
        if let done: Void = value.utf8.withContiguousStorageIfAvailable({ field(key, $0) }) { return done }
        Array(value.utf8).withUnsafeBufferPointer { field(key, $0) }
    }

    /// A prepared field: its bytes for this format, copied.
    @inline(__always)
    mutating func field(_ prepared: PreparedLogField) {
        endMessage()
        append(format == .text ? prepared.text : prepared.json)
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
    @inline(__always)
    mutating func field(_ key: LogFieldKey, _ value: Int) {
        let quoted = beginField(key, quoted: false)
        appendDecimal(value)
        endField(quoted: quoted)
    }

    /// ` key=` (text) or `,"key":` (JSON), then the opening quote when the value is quoted: always in JSON,
    /// in text when `textNeedsQuotes`. Returns whether it is.
    private mutating func beginField(_ key: String, quoted textNeedsQuotes: Bool) -> Bool {
        endMessage()
        switch format {
        case .text:
            append(0x20)
            append(key)
            append(UInt8(ascii: "="))
        case .json:
            append(UInt8(ascii: ","))
            JSONString.appendQuoted(key, to: &self)
            append(UInt8(ascii: ":"))
        }
        return openValue(textNeedsQuotes: textNeedsQuotes)
    }

    /// `beginField` with the key's bytes made beforehand: one copy.
    @inline(__always)
    private mutating func beginField(_ key: LogFieldKey, quoted textNeedsQuotes: Bool) -> Bool {
        endMessage()
        append(format == .text ? key.text : key.json)
        return openValue(textNeedsQuotes: textNeedsQuotes)
    }

    /// The opening quote when the value is quoted: always in JSON, in text when `textNeedsQuotes`.
    @inline(__always)
    private mutating func openValue(textNeedsQuotes: Bool) -> Bool {
        let quoted = format == .json || textNeedsQuotes
        if quoted { append(UInt8(ascii: "\"")) }
        return quoted
    }

    /// `part` inside a JSON string: runs of bytes JSON takes as they are copied whole, the others escaped
    /// by `JSONString` (byte by byte, every value cost a JSON line about eight instructions a byte). Out of
    /// line: the access log's composition inlines the small steps of each field, not this loop.
    @inline(never)
    private mutating func appendEscaped(_ part: UnsafeBufferPointer<UInt8>) {
        guard let bytes = part.baseAddress else { return }
        var runStart = 0
        var index = 0
        while index < part.count {
            if Self.needsEscaping(bytes[index]) {
                append(UnsafeBufferPointer(start: bytes + runStart, count: index - runStart))
                JSONString.appendEscaped(CollectionOfOne(bytes[index]), to: &self)
                runStart = index + 1
            }
            index += 1
        }
        append(UnsafeBufferPointer(start: bytes + runStart, count: part.count - runStart))
    }

    /// The bytes `JSONString.appendEscaped` changes: `"`, `\` and control characters.
    @inline(__always)
    private static func needsEscaping(_ byte: UInt8) -> Bool { byte < 0x20 || byte == 0x22 || byte == 0x5C }

    @inline(__always)
    private mutating func appendPart(_ part: UnsafeBufferPointer<UInt8>, escaped: Bool) {
        if escaped {
            appendEscaped(part)
        } else {
            append(part)
        }
    }

    private mutating func appendPart(_ part: String, escaped: Bool) {
        if let done: Void = part.utf8.withContiguousStorageIfAvailable({ appendPart($0, escaped: escaped) }) {
            return done
        }
        Array(part.utf8).withUnsafeBufferPointer { appendPart($0, escaped: escaped) }
    }

    @inline(__always)
    private mutating func endField(quoted: Bool) {
        if quoted { append(UInt8(ascii: "\"")) }
    }

    /// Ends the line (newline included) and hands its bytes to the buffer.
    mutating func finish() {
        endMessage()
        if format == .json { append(UInt8(ascii: "}")) }
        append(0x0A)
        buffer.commit(upTo: cursor)
    }

    @inline(__always)
    private mutating func endMessage() {
        guard inMessage else { return }
        inMessage = false
        if format == .json { append(UInt8(ascii: "\"")) }
    }

    /// Text values are quoted when empty or when they hold a space, control character, `"` or `=`, so that
    /// `key=value` pairs split unambiguously.
    private static func needsQuotes(_ value: UnsafeBufferPointer<UInt8>) -> Bool {
        value.isEmpty || holdsByteNeedingQuotes(value)
    }

    /// Whether a non-empty part of a joined value holds a byte that needs quotes.
    private static func needsQuotes(_ part: String) -> Bool {
        part.utf8.withContiguousStorageIfAvailable(holdsByteNeedingQuotes) ?? part.utf8.contains(where: needsQuoting)
    }

    /// A plain loop: `contains(where:)` called its predicate out of line, some fifteen instructions a byte.
    private static func holdsByteNeedingQuotes(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        for byte in bytes where needsQuoting(byte) { return true }
        return false
    }

    @inline(__always)
    private static func needsQuoting(_ byte: UInt8) -> Bool { byte <= 0x20 || byte == 0x22 || byte == 0x3D || byte == 0x7F }

    /// `value` in decimal, without a `String` in between: its digits counted by comparison, then written last
    /// to first (a division by the constant 10 compiles to a multiplication; dividing by a running power of
    /// ten would not).
    @inline(__always)
    mutating func appendDecimal(_ value: Int) {
        if value < 0 { append(UInt8(ascii: "-")) }
        let magnitude = value.magnitude
        var digits = 1
        var power: UInt = 10
        while digits < 20, magnitude >= power {  // UInt.max has 20 digits; 10^20 would overflow
            digits += 1
            power = power &* 10
        }
        if end - cursor < digits { makeRoom(for: digits) }
        var rest = magnitude
        var index = digits
        repeat {
            index -= 1
            cursor[index] = UInt8(truncatingIfNeeded: 0x30 &+ rest % 10)
            rest /= 10
        } while rest > 0
        cursor += digits
    }
}
