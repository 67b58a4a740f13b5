/// An ordered list of header fields that keeps duplicates and the original order and case.
///
/// A proxy must forward fields as it received them (RFC 9110 §5.3: order of same-named fields is
/// significant), so this is a list, not a dictionary. Name comparisons are ASCII case-insensitive.
///
/// Storage is one byte buffer holding every name and value, plus a span (offsets and lengths) per field:
/// a parsed head is two allocations however many fields it has, names are compared as bytes, and the
/// serializer copies bytes straight out. A parsed head's buffer holds its field lines as they came, line
/// ends included (the parser copies a read's whole lines in one piece); the spans skip what is not name or
/// value. `String`s exist only when a caller asks for one (`first`, `values`, iteration), which the
/// forwarding path avoids. Removing a field drops its span; the bytes stay until the headers go, which is
/// at most one message's worth.
public struct HTTPHeaders: Sequence, Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// One field line, as `String`s (a copy: mutating it does not change the headers).
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// Where one field's name and value lie in `bytes`, and which name it is when the proxy knows it.
    struct Span: Sendable, BitwiseCopyable {
        var nameStart: UInt32
        var nameCount: UInt32
        var valueStart: UInt32
        var valueCount: UInt32
        /// Recognised once, when the field is added; lookups by a known name compare this alone.
        var known: KnownFieldName
    }

    var bytes = TrivialArray<UInt8>()
    var spans = TrivialArray<Span>()

    public init() {}
    public init(_ pairs: [(String, String)]) {
        for (name, value) in pairs { add(name: name, value: value) }
    }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    /// Room for a head of `fieldCount` fields totalling about `byteCount` bytes.
    public mutating func reserveCapacity(fields fieldCount: Int, bytes byteCount: Int) {
        spans.reserveCapacity(fieldCount)
        bytes.reserveCapacity(byteCount)
    }

    public var count: Int { spans.count }

    /// Removes every field and keeps the storage (where nothing else shares it), for a later head to reuse
    /// (`SpareHeaderStorage`). Storage grown past four times a usual head's size is let go instead.
    mutating func removeAllKeepingUsualCapacity() {
        let keep = bytes.capacity <= Self.usualBytes * 4 && spans.capacity <= Self.usualFields * 4
        bytes.removeAll(keepingCapacity: keep)
        spans.removeAll(keepingCapacity: keep)
    }

    /// Whether storage for a usual head is allocated already.
    var hasUsualCapacity: Bool { bytes.capacity >= Self.usualBytes && spans.capacity >= Self.usualFields }

    /// A usual head: how much a new header list reserves at its first field.
    static let usualFields = 16
    static let usualBytes = 512

    /// The fields in wire order, as `String`s.
    public var fields: [Field] { indices.map { Field(name: name(at: $0), value: value(at: $0)) } }

    public func makeIterator() -> some IteratorProtocol<Field> {
        indices.lazy.map { Field(name: name(at: $0), value: value(at: $0)) }.makeIterator()
    }

    var indices: Range<Int> { 0..<spans.count }

    // MARK: Reading

    /// The name of field `index` as it arrived (original case).
    public func name(at index: Int) -> String {
        let span = spans[index]
        return String(decoding: bytes[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)], as: UTF8.self)
    }

    /// The value of field `index`.
    public func value(at index: Int) -> String {
        let span = spans[index]
        return String(decoding: bytes[Int(span.valueStart)..<Int(span.valueStart + span.valueCount)], as: UTF8.self)
    }

    /// The values of every field named `name`, in order.
    public func values(for name: String) -> [String] {
        let known = KnownFieldName(name)
        return indices.filter { matches($0, name, known) }.map { value(at: $0) }
    }

    /// The first value of a field named `name`.
    public func first(_ name: String) -> String? {
        firstIndex(of: name).map { value(at: $0) }
    }

    /// Whether any field is named `name`.
    public func contains(_ name: String) -> Bool { firstIndex(of: name) != nil }

    /// The index of the first field named `name`.
    public func firstIndex(of name: String) -> Int? {
        let known = KnownFieldName(name)
        if known != .other { return firstIndex(of: known) }
        return indices.first { matches($0, name, known) }
    }

    /// The index of the first field with the known name `known`.
    public func firstIndex(of known: KnownFieldName) -> Int? {
        spans.firstIndex { $0.known == known }
    }

    /// The first value of the field `known` names. The lookups by a name the proxy knows take the
    /// `KnownFieldName`: one byte compared per field, no name to recognise first.
    public func first(_ known: KnownFieldName) -> String? {
        firstIndex(of: known).map { value(at: $0) }
    }

    /// Whether any field has the known name `known`.
    public func contains(_ known: KnownFieldName) -> Bool { firstIndex(of: known) != nil }

    /// The comma-separated list elements across every `name` field, trimmed, empty ones dropped
    /// (RFC 9110 §5.6.1), e.g. the tokens of `Connection` or `Transfer-Encoding`.
    public func listElements(for name: String) -> [Substring] {
        values(for: name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingOWS() }
            .filter { !$0.isEmpty }
    }

    /// Whether the list in the `name` fields has an element equal to `token` (ASCII case-insensitive),
    /// e.g. `Connection: close`. Compares bytes; allocates nothing.
    public func hasListElement(_ token: String, in name: String) -> Bool {
        let known = KnownFieldName(name)
        return hasListElement(token, where: { matches($0, name, known) })
    }

    /// `hasListElement(_:in:)` for a known name, e.g. `hasListElement("close", in: .connection)`.
    public func hasListElement(_ token: String, in known: KnownFieldName) -> Bool {
        hasListElement(token, where: { spans[$0].known == known })
    }

    @inline(__always)
    private func hasListElement(_ token: String, where isListField: (Int) -> Bool) -> Bool {
        var found = false
        forEachListElement(where: isListField) { element in
            found = Self.equalsIgnoringCase(element, token)
            return !found
        }
        return found
    }

    /// Calls `body` with each trimmed, non-empty list element of the `known` fields until it returns false.
    func forEachListElement(in known: KnownFieldName, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        forEachListElement(where: { spans[$0].known == known }, body)
    }

    @inline(__always)
    private func forEachListElement(where isListField: (Int) -> Bool, _ body: (UnsafeBufferPointer<UInt8>) -> Bool) {
        bytes.withUnsafeBufferPointer { storage in
            for index in indices where isListField(index) {
                let span = spans[index]
                var start = Int(span.valueStart)
                let end = start + Int(span.valueCount)
                while start <= end {
                    var stop = start
                    while stop < end, storage[stop] != UInt8(ascii: ",") { stop += 1 }
                    var first = start, last = stop
                    while first < last, HTTPField.isWhitespace(storage[first]) { first += 1 }
                    while last > first, HTTPField.isWhitespace(storage[last - 1]) { last -= 1 }
                    if last > first, !body(UnsafeBufferPointer(rebasing: storage[first..<last])) { return }
                    start = stop + 1
                }
            }
        }
    }

    /// Calls `body` with each field's name and value bytes, in order.
    public func forEachField(_ body: (UnsafeBufferPointer<UInt8>, UnsafeBufferPointer<UInt8>) -> Void) {
        bytes.withUnsafeBufferPointer { storage in
            for span in spans {
                body(
                    UnsafeBufferPointer(rebasing: storage[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]),
                    UnsafeBufferPointer(rebasing: storage[Int(span.valueStart)..<Int(span.valueStart + span.valueCount)]))
            }
        }
    }

    /// The first `Host` field parsed as an authority (`Authority.parse`: canonical host, port or `defaultPort`),
    /// read in place; nil when there is none or it is malformed.
    public func hostAuthority(defaultPort: Int) -> (host: String, port: Int)? {
        guard let index = firstIndex(of: .host) else { return nil }
        let span = spans[index]
        let range = Int(span.valueStart)..<Int(span.valueStart + span.valueCount)
        return bytes.withUnsafeBufferPointer {
            Authority.parseBytes(UnsafeBufferPointer(rebasing: $0[range]), defaultPort: defaultPort)
        }
    }

    /// Calls `body` with the value bytes of field `index`.
    func withValueBytes<T, Failure: Error>(
        at index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws(Failure) -> T
    ) throws(Failure) -> T {
        let span = spans[index]
        let range = Int(span.valueStart)..<Int(span.valueStart + span.valueCount)
        // withUnsafeBufferPointer does not carry typed throws through: hand the error out by hand.
        let result: Result<T, Failure> = bytes.withUnsafeBufferPointer { storage in
            do throws(Failure) {
                return .success(try body(UnsafeBufferPointer(rebasing: storage[range])))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Whether field `index` is named `name` (ASCII case-insensitive).
    public func nameMatches(_ index: Int, _ name: String) -> Bool {
        matches(index, name, KnownFieldName(name))
    }

    /// `nameMatches` with the name's identity worked out once by the caller, for a loop over the fields.
    @inline(__always)
    func matches(_ index: Int, _ name: String, _ known: KnownFieldName) -> Bool {
        let span = spans[index]
        // A known name matches exactly the fields recognised as it; an unknown one never matches those.
        if known != .other || span.known != .other { return span.known == known }
        guard Int(span.nameCount) == name.utf8.count else { return false }
        return bytes.withUnsafeBufferPointer { storage in
            Self.equalsIgnoringCase(
                UnsafeBufferPointer(rebasing: storage[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]), name)
        }
    }

    /// ASCII case-insensitive comparison of bytes with bytes.
    static func equalsIgnoringCase(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard a.count == b.count else { return false }
        for index in 0..<a.count where asciiLowercased(a[index]) != asciiLowercased(b[index]) { return false }
        return true
    }

    /// ASCII case-insensitive comparison of bytes with a string.
    public static func equalsIgnoringCase(_ bytes: UnsafeBufferPointer<UInt8>, _ text: String) -> Bool {
        let utf8 = text.utf8
        guard bytes.count == utf8.count else { return false }
        if let result = utf8.withContiguousStorageIfAvailable({ equalsIgnoringCase(bytes, $0) }) { return result }
        var index = 0
        for byte in utf8 {
            if asciiLowercased(bytes[index]) != asciiLowercased(byte) { return false }
            index += 1
        }
        return true
    }

    @inline(__always)
    static func asciiLowercased(_ byte: UInt8) -> UInt8 {
        byte &- 0x41 < 26 ? byte | 0x20 : byte
    }

    // MARK: Changing

    /// Appends a field, keeping any existing ones of the same name.
    public mutating func add(name: String, value: String) {
        var name = name, value = value
        name.withUTF8 { name in
            value.withUTF8 { value in add(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value)) }
        }
    }

    /// A field whose bytes are made once and added to many heads (this proxy's `Via`, an upstream's `Host`):
    /// one copy into the storage, its name recognised beforehand. Stored as `Name: value` CRLF, the way a
    /// parsed line is, so the serializer writes it in one piece with its neighbours. Adding the same field from
    /// two `String`s cost about twice as much per request.
    public struct PreparedField: Sendable {
        /// `Name: value` CRLF.
        let line: [UInt8]
        let nameCount: Int
        let known: KnownFieldName

        /// `name` and `value` must be a valid field name and value (the caller's constants and checked values).
        public init(name: String, value: String) {
            line = Array(name.utf8) + [UInt8(ascii: ":"), 0x20] + Array(value.utf8) + [0x0D, 0x0A]
            nameCount = name.utf8.count
            known = KnownFieldName(name)
        }

        public var name: String { String(decoding: line[..<nameCount], as: UTF8.self) }
        public var value: String { String(decoding: line[(nameCount + 2)..<(line.count - 2)], as: UTF8.self) }
    }

    /// Appends a prepared field, keeping any existing ones of the same name.
    public mutating func add(_ field: PreparedField) {
        let start = bytes.count
        bytes.append(contentsOf: field.line)
        spans.append(Self.span(of: field, at: start))
    }

    /// Replaces every field named like `field` with it, at the first one's place (see `replaceOrAdd(name:value:)`).
    public mutating func replaceOrAdd(_ field: PreparedField) {
        guard let index = firstIndex(like: field, from: 0) else {
            add(field)
            return
        }
        let start = bytes.count
        bytes.append(contentsOf: field.line)
        spans[index] = Self.span(of: field, at: start)
        guard firstIndex(like: field, from: index + 1) != nil else { return }
        var position = spans.count - 1
        while position > index {
            if isNamed(position, like: field) { spans.remove(at: position) }
            position -= 1
        }
    }

    /// The first field from `start` on named like `field`. A known name (this proxy's `Host` and credential
    /// fields nearly always) is found by its identity alone, a plain loop over the spans: every forwarded
    /// request replaces two fields.
    private func firstIndex(like field: PreparedField, from start: Int) -> Int? {
        let known = field.known
        if known != .other {
            return spans.withUnsafeBufferPointer { spans in
                var index = start
                while index < spans.count {
                    if spans[index].known == known { return index }
                    index += 1
                }
                return nil
            }
        }
        var index = start
        while index < count {
            if isNamed(index, like: field) { return index }
            index += 1
        }
        return nil
    }

    /// Whether field `index` has `field`'s name (ASCII case-insensitive).
    private func isNamed(_ index: Int, like field: PreparedField) -> Bool {
        let span = spans[index]
        guard field.known == .other else { return span.known == field.known }
        guard span.known == .other, Int(span.nameCount) == field.nameCount else { return false }
        return bytes.withUnsafeBufferPointer { stored in
            field.line.withUnsafeBufferPointer { line in
                Self.equalsIgnoringCase(
                    UnsafeBufferPointer(rebasing: stored[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]),
                    UnsafeBufferPointer(rebasing: line[0..<field.nameCount]))
            }
        }
    }

    private static func span(of field: PreparedField, at start: Int) -> Span {
        Span(
            nameStart: UInt32(start), nameCount: UInt32(field.nameCount), valueStart: UInt32(start + field.nameCount + 2),
            valueCount: UInt32(field.line.count - field.nameCount - 4), known: field.known)
    }

    /// Appends a field whose value is `number` in plain decimal (`Content-Length`), written straight into
    /// the storage rather than through a `String`, as `Name: digits` CRLF (see `PreparedField`). `known` is
    /// `name`'s identity, given rather than recognised again on every call.
    mutating func add(name: StaticString, known: KnownFieldName, decimal number: Int) {
        precondition(number >= 0, "a negative field number")
        precondition(name.utf8CodeUnitCount <= 40, "a decimal field's name is one of ours, and short")
        // The whole line in one buffer on the stack (name, ": ", up to Int.max's 19 digits, CRLF), then one
        // append: two appends and recognising the name cost about twice as much, on every forwarded response.
        var line: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &line) { buffer in
            let nameCount = name.utf8CodeUnitCount
            buffer.baseAddress!.copyMemory(from: name.utf8Start, byteCount: nameCount)
            buffer[nameCount] = UInt8(ascii: ":")
            buffer[nameCount + 1] = 0x20
            var digits = 0
            var rest = number
            repeat {  // least significant first, reversed below
                buffer[nameCount + 2 + digits] = UInt8(ascii: "0") + UInt8(rest % 10)
                digits += 1
                rest /= 10
            } while rest > 0
            var low = nameCount + 2, high = nameCount + 1 + digits
            while low < high {
                buffer.swapAt(low, high)
                low += 1
                high -= 1
            }
            buffer[nameCount + 2 + digits] = 0x0D
            buffer[nameCount + 3 + digits] = 0x0A
            let start = bytes.count
            bytes.append(
                contentsOf: UnsafeRawBufferPointer(rebasing: buffer[..<(nameCount + 4 + digits)])
                    .assumingMemoryBound(to: UInt8.self))
            spans.append(
                Span(
                    nameStart: UInt32(start), nameCount: UInt32(nameCount), valueStart: UInt32(start + nameCount + 2),
                    valueCount: UInt32(digits), known: known))
        }
    }

    /// `text`'s UTF-8 appended as one copy (appending a `String.UTF8View` goes a byte at a time).
    @inline(__always)
    static func appendUTF8(_ text: String, to bytes: inout TrivialArray<UInt8>) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    /// Appends a parsed field line (the parser's path: the bytes were validated there): the name starts the
    /// line and the value ends at `value.upperBound`. The line up to there is copied once, separator and all,
    /// so a field that arrived as `Name: value` is also written out again in one piece (`HTTP1Serializer`).
    mutating func add(fieldLine line: UnsafeRawBufferPointer, name: Range<Int>, value: Range<Int>) {
        let start = bytes.count
        bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: line[0..<value.upperBound]).assumingMemoryBound(to: UInt8.self))
        let known = bytes.withUnsafeBufferPointer { stored in
            KnownFieldName(UnsafeBufferPointer(rebasing: stored[start + name.lowerBound..<start + name.upperBound]))
        }
        spans.append(
            Span(
                nameStart: UInt32(start + name.lowerBound), nameCount: UInt32(name.count),
                valueStart: UInt32(start + value.lowerBound), valueCount: UInt32(value.count), known: known))
    }

    /// Appends a parsed field line whose bytes are, or are about to be, in the storage already: the parser's
    /// path for a run of whole lines, which copies their bytes once (`appendLines`) rather than line by line.
    /// `offset` is where the line's first byte lies in `bytes`.
    mutating func add(lineAt offset: Int, name: Range<Int>, value: Range<Int>, known: KnownFieldName) {
        spans.append(
            Span(
                nameStart: UInt32(offset + name.lowerBound), nameCount: UInt32(name.count),
                valueStart: UInt32(offset + value.lowerBound), valueCount: UInt32(value.count), known: known))
    }

    /// Appends the raw bytes of the field lines `add(lineAt:...)` described, line ends and all.
    mutating func appendLines(_ raw: UnsafeRawBufferPointer) {
        bytes.append(contentsOf: raw.assumingMemoryBound(to: UInt8.self))
    }

    /// Appends a field from raw bytes (the bytes were validated by the caller).
    mutating func add(name: UnsafeRawBufferPointer, value: UnsafeRawBufferPointer) {
        // Typed views, so that the appends are copies of memory rather than loops over raw bytes.
        let name = name.assumingMemoryBound(to: UInt8.self)
        let value = value.assumingMemoryBound(to: UInt8.self)
        // Headers built from a parsed head are exactly full: grow once with room to spare, not once per field.
        let needed = bytes.count + name.count + value.count
        if bytes.capacity < needed { bytes.reserveCapacity(Swift.max(needed + 256, bytes.capacity * 2)) }
        let nameStart = bytes.count
        bytes.append(contentsOf: name)
        let valueStart = bytes.count
        bytes.append(contentsOf: value)
        spans.append(
            Span(
                nameStart: UInt32(nameStart), nameCount: UInt32(name.count), valueStart: UInt32(valueStart),
                valueCount: UInt32(value.count), known: KnownFieldName(name)))
    }

    /// Appends field `index` of `other`, bytes to bytes.
    mutating func append(field index: Int, of other: HTTPHeaders) {
        let span = other.spans[index]
        other.bytes.withUnsafeBytes { stored in
            add(
                name: UnsafeRawBufferPointer(rebasing: stored[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]),
                value: UnsafeRawBufferPointer(rebasing: stored[Int(span.valueStart)..<Int(span.valueStart + span.valueCount)]))
        }
    }

    /// Replaces every field named `name` with one field holding `value`, at the first one's place.
    public mutating func replaceOrAdd(name: String, value: String) {
        let known = KnownFieldName(name)
        guard let index = known != .other ? firstIndex(of: known) : indices.first(where: { matches($0, name, known) })
        else {
            add(name: name, value: value)
            return
        }
        let valueStart = bytes.count
        Self.appendUTF8(value, to: &bytes)
        spans[index].valueStart = UInt32(valueStart)
        spans[index].valueCount = UInt32(bytes.count - valueStart)
        var position = spans.count - 1
        while position > index {
            if matches(position, name, known) { spans.remove(at: position) }
            position -= 1
        }
    }

    /// Removes every field named `name` (any case); returns how many were removed.
    @discardableResult
    public mutating func remove(name: String) -> Int {
        let before = spans.count
        let known = KnownFieldName(name)
        if known != .other {
            spans.removeAll { $0.known == known }
        } else {
            removeFields { Self.equalsIgnoringCase($0, name) }
        }
        return before - spans.count
    }

    /// Removes every field whose name bytes satisfy `predicate`. Allocates nothing.
    public mutating func removeFields(named predicate: (UnsafeBufferPointer<UInt8>) -> Bool) {
        let storage = bytes
        storage.withUnsafeBufferPointer { buffer in
            spans.removeAll { span in
                predicate(UnsafeBufferPointer(rebasing: buffer[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]))
            }
        }
    }

    /// Removes every field satisfying `predicate` (which sees `String`s: not for the forwarding path).
    public mutating func removeAll(where predicate: (Field) -> Bool) {
        var index = spans.count - 1
        while index >= 0 {
            if predicate(Field(name: name(at: index), value: value(at: index))) { spans.remove(at: index) }
            index -= 1
        }
    }

    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for index in lhs.indices {
            let a = lhs.spans[index], b = rhs.spans[index]
            guard lhs.bytes[Int(a.nameStart)..<Int(a.nameStart + a.nameCount)]
                .elementsEqual(rhs.bytes[Int(b.nameStart)..<Int(b.nameStart + b.nameCount)]),
                lhs.bytes[Int(a.valueStart)..<Int(a.valueStart + a.valueCount)]
                    .elementsEqual(rhs.bytes[Int(b.valueStart)..<Int(b.valueStart + b.valueCount)])
            else { return false }
        }
        return true
    }
}

extension String {
    /// ASCII case-insensitive comparison, as header names and tokens require.
    @inlinable
    public func asciiCaseInsensitiveEquals(_ other: String) -> Bool {
        let a = utf8, b = other.utf8
        guard a.count == b.count else { return false }
        for (x, y) in zip(a, b) where x != y {
            let lx = (x >= 65 && x <= 90) ? x | 0x20 : x
            let ly = (y >= 65 && y <= 90) ? y | 0x20 : y
            if lx != ly { return false }
        }
        return true
    }
}

extension Substring {
    /// Trims optional white space (SP / HTAB) from both ends, RFC 9110 §5.6.3.
    public func trimmingOWS() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" { s = s.dropLast() }
        return s
    }
}
