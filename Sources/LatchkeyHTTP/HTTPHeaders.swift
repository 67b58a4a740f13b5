/// An ordered list of header fields that keeps duplicates and the original order and case.
///
/// A proxy must forward fields as it received them (RFC 9110 §5.3: order of same-named fields is
/// significant), so this is a list, not a dictionary. Name comparisons are ASCII case-insensitive.
public struct HTTPHeaders: Sequence, Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// One field line.
    public struct Field: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in wire order.
    public private(set) var fields: [Field] = []

    public init() {}
    public init(_ pairs: [(String, String)]) {
        fields = pairs.map { Field(name: $0.0, value: $0.1) }
    }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }

    public var count: Int { fields.count }
    public func makeIterator() -> IndexingIterator<[Field]> { fields.makeIterator() }

    /// Appends a field, keeping any existing ones of the same name.
    public mutating func add(name: String, value: String) { fields.append(Field(name: name, value: value)) }

    /// Replaces every field named `name` with one field holding `value`, at the first one's place.
    public mutating func replaceOrAdd(name: String, value: String) {
        guard let index = fields.firstIndex(where: { $0.name.asciiCaseInsensitiveEquals(name) }) else {
            add(name: name, value: value)
            return
        }
        fields[index].value = value
        var position = fields.count - 1
        while position > index {
            if fields[position].name.asciiCaseInsensitiveEquals(name) { fields.remove(at: position) }
            position -= 1
        }
    }

    /// Removes every field named `name` (any case); returns how many were removed.
    @discardableResult
    public mutating func remove(name: String) -> Int {
        let before = fields.count
        fields.removeAll { $0.name.asciiCaseInsensitiveEquals(name) }
        return before - fields.count
    }

    /// Removes every field whose name satisfies `predicate`.
    public mutating func removeAll(where predicate: (Field) -> Bool) { fields.removeAll(where: predicate) }

    /// The values of every field named `name`, in order.
    public func values(for name: String) -> [String] {
        fields.lazy.filter { $0.name.asciiCaseInsensitiveEquals(name) }.map(\.value)
    }

    /// The first value of a field named `name`.
    public func first(_ name: String) -> String? {
        fields.first { $0.name.asciiCaseInsensitiveEquals(name) }?.value
    }

    /// Whether any field is named `name`.
    public func contains(_ name: String) -> Bool { first(name) != nil }

    /// The comma-separated list elements across every `name` field, trimmed, empty ones dropped
    /// (RFC 9110 §5.6.1), e.g. the tokens of `Connection` or `Transfer-Encoding`.
    public func listElements(for name: String) -> [Substring] {
        values(for: name).flatMap { $0.split(separator: ",") }
            .map { $0.trimmingOWS() }
            .filter { !$0.isEmpty }
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
