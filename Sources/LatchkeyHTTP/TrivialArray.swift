/// A growable, copy-on-write array of bitwise-copyable elements: the storage of `HTTPHeaders`' bytes and spans.
///
/// Why not `Array`: its appends from a buffer, `removeAll(keepingCapacity:)` and `removeAll(where:)` go through
/// generic paths that cost 40 to 100 instructions a call even specialized (a sequence's iterator, a
/// replace-subrange), and a forwarded head makes dozens of those calls. Here an append is a capacity check and
/// a `memcpy`, emptying sets the count to zero, and the elements need no destruction (`BitwiseCopyable`). One
/// allocation holds the count, the capacity and the elements; an empty array allocates nothing.
///
/// `@_eagerMove`, as `Array` is: a copy's lifetime ends at its last use rather than at the end of its scope.
/// Without it a head bound by a `switch` and passed on stayed referenced until the case ended, so the rewrite
/// that changes it in place found its storage shared and copied it (three allocations per proxied request).
@_eagerMove
struct TrivialArray<Element: BitwiseCopyable>: RandomAccessCollection, MutableCollection, @unchecked Sendable {
    // Sendable: the storage is only ever written through a uniquely referenced value (copy on write), as
    // Array's is; `Element` types used here are Sendable values.

    struct Header {
        var count: Int
        var capacity: Int
    }

    final class Storage: ManagedBuffer<Header, Element> {}

    private var storage: Storage?

    init() {}

    init(_ elements: some Sequence<Element>) {
        append(contentsOf: elements)
    }

    // MARK: Reading

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    @inline(__always)
    var count: Int { storage?.header.count ?? 0 }

    var isEmpty: Bool { count == 0 }

    var capacity: Int { storage?.header.capacity ?? 0 }

    /// The storage's identity, for tests that check a change kept its storage.
    var storageIdentity: ObjectIdentifier? { storage.map(ObjectIdentifier.init) }

    @inline(__always)
    subscript(position: Int) -> Element {
        get {
            precondition(position >= 0 && position < count, "TrivialArray index out of range")
            return storage.unsafelyUnwrapped.withUnsafeMutablePointerToElements { $0[position] }
        }
        set {
            precondition(position >= 0 && position < count, "TrivialArray index out of range")
            makeUnique()
            storage.unsafelyUnwrapped.withUnsafeMutablePointerToElements { $0[position] = newValue }
        }
    }

    /// Iterates over the elements in place, holding the storage rather than a copy of the array.
    struct Iterator: IteratorProtocol {
        private let storage: Storage?
        private let elements: UnsafePointer<Element>?
        private let count: Int
        private var position = 0

        fileprivate init(_ storage: Storage?) {
            self.storage = storage
            elements = storage.map { storage in storage.withUnsafeMutablePointerToElements { UnsafePointer($0) } }
            count = storage?.header.count ?? 0
        }

        @inline(__always)
        mutating func next() -> Element? {
            guard position < count else { return nil }
            defer { position += 1 }
            return elements.unsafelyUnwrapped[position]
        }
    }

    @inline(__always)
    func makeIterator() -> Iterator { Iterator(storage) }

    @inline(__always)
    func firstIndex(where predicate: (Element) throws -> Bool) rethrows -> Int? {
        try withUnsafeBufferPointer { elements in try elements.firstIndex(where: predicate) }
    }

    @inline(__always)
    func contains(where predicate: (Element) throws -> Bool) rethrows -> Bool {
        try firstIndex(where: predicate) != nil
    }

    @inline(__always)
    func withUnsafeBufferPointer<R, E: Error>(_ body: (UnsafeBufferPointer<Element>) throws(E) -> R) throws(E) -> R {
        guard storage != nil else { return try body(UnsafeBufferPointer(start: nil, count: 0)) }
        // The storage outlives the call: `self` holds it, and nothing can replace it while `self` is borrowed.
        let elements = storage.unsafelyUnwrapped.withUnsafeMutablePointerToElements { UnsafePointer($0) }
        return try body(UnsafeBufferPointer(start: elements, count: storage.unsafelyUnwrapped.header.count))
    }

    func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try withUnsafeBufferPointer { (elements) throws(E) -> R in try body(UnsafeRawBufferPointer(elements)) }
    }

    @inline(__always)
    func withContiguousStorageIfAvailable<R>(_ body: (UnsafeBufferPointer<Element>) throws -> R) rethrows -> R? {
        try withUnsafeBufferPointer { elements in try body(elements) }
    }

    // MARK: Writing

    /// Room for at least `minimumCapacity` elements, in storage only this value holds.
    mutating func reserveCapacity(_ minimumCapacity: Int) {
        let shared = storage != nil && !isUniquelyReferenced()
        if minimumCapacity > capacity || shared { reallocate(capacity: Swift.max(minimumCapacity, count)) }
    }

    mutating func append(_ element: Element) {
        let end = endOfRoom(for: 1)
        end.initialize(to: element)
        storage.unsafelyUnwrapped.header.count += 1
    }

    mutating func append(contentsOf elements: UnsafeBufferPointer<Element>) {
        guard let source = elements.baseAddress, elements.count > 0 else { return }
        let end = endOfRoom(for: elements.count)
        end.update(from: source, count: elements.count)
        storage.unsafelyUnwrapped.header.count += elements.count
    }

    @inline(__always)
    mutating func append(contentsOf elements: [Element]) {
        elements.withUnsafeBufferPointer { append(contentsOf: $0) }
    }

    mutating func append(contentsOf elements: some Sequence<Element>) {
        let appended: Void? = elements.withContiguousStorageIfAvailable { append(contentsOf: $0) }
        if appended == nil {
            for element in elements { append(element) }
        }
    }

    /// Empties the array; `keepingCapacity` keeps its storage when no other value shares it.
    @inline(__always)
    mutating func removeAll(keepingCapacity: Bool = false) {
        if keepingCapacity, isUniquelyReferenced() {
            storage.unsafelyUnwrapped.header.count = 0
        } else {
            storage = nil
        }
    }

    mutating func remove(at position: Int) {
        precondition(position >= 0 && position < count, "TrivialArray index out of range")
        makeUnique()
        let storage = storage.unsafelyUnwrapped
        let count = storage.header.count
        storage.withUnsafeMutablePointerToElements { elements in
            (elements + position).update(from: elements + position + 1, count: count - position - 1)
        }
        storage.header.count = count - 1
    }

    /// Removes the elements `shouldBeRemoved` picks, keeping the others in order. Touches nothing (and copies
    /// no shared storage) when it picks none.
    @inline(__always)
    mutating func removeAll(where shouldBeRemoved: (Element) throws -> Bool) rethrows {
        guard let first = try firstIndex(where: shouldBeRemoved) else { return }
        makeUnique()
        let storage = storage.unsafelyUnwrapped
        let count = storage.header.count
        let kept = try storage.withUnsafeMutablePointerToElements { elements in
            var kept = first
            for index in (first + 1)..<count where try !shouldBeRemoved(elements[index]) {
                elements[kept] = elements[index]
                kept += 1
            }
            return kept
        }
        storage.header.count = kept
    }

    // MARK: Storage

    @inline(__always)
    private mutating func isUniquelyReferenced() -> Bool {
        storage != nil && isKnownUniquelyReferenced(&storage)
    }

    @inline(__always)
    private mutating func makeUnique() {
        if !isUniquelyReferenced() { reallocate(capacity: capacity) }
    }

    /// Where `extra` more elements go, in storage only this value holds that has room for them.
    private mutating func endOfRoom(for extra: Int) -> UnsafeMutablePointer<Element> {
        if !isUniquelyReferenced() || storage.unsafelyUnwrapped.header.capacity - storage.unsafelyUnwrapped.header.count < extra {
            reallocate(capacity: Swift.max(count + extra, capacity * 2, 16))
        }
        let storage = storage.unsafelyUnwrapped
        return storage.withUnsafeMutablePointerToElements { $0 + storage.header.count }
    }

    /// New storage for `capacity` elements holding this value's elements.
    @inline(never)
    private mutating func reallocate(capacity: Int) {
        let count = self.count
        let created = Storage.create(minimumCapacity: capacity) { _ in Header(count: count, capacity: capacity) }
        let fresh = unsafeDowncast(created, to: Storage.self)
        if let old = storage, count > 0 {
            fresh.withUnsafeMutablePointerToElements { target in
                old.withUnsafeMutablePointerToElements { source in target.initialize(from: source, count: count) }
            }
        }
        storage = fresh
    }
}

extension TrivialArray: Equatable where Element: Equatable {
    static func == (lhs: TrivialArray, rhs: TrivialArray) -> Bool { lhs.elementsEqual(rhs) }
}

extension TrivialArray: CustomStringConvertible {
    var description: String { Array(self).description }
}
