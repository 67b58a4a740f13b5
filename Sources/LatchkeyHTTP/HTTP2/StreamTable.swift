/// The open streams of one HTTP/2 connection by id: what a `[Int32: Value]` did, for a key that is nearly a
/// counter. The streams open at once are a window of consecutive odd (or even) ids, so `id / 2` modulo the
/// table's size places each in its own slot, with no hashing: a `Dictionary` spent about 80 instructions
/// hashing each of the dozen lookups a request makes through a session and its two adapters. Open
/// addressing with linear probing; removal shifts the following entries back, so no tombstones build up.
/// Value semantics like the dictionary it replaces: a copy iterated while the original changes is unaffected.
public struct StreamTable<Value>: Sequence {
    // Inlinable throughout: the table is used from other modules (the proxy's connections), where an
    // unspecialised generic cost more than the hashing it saves.
    @usableFromInline var keys: [Int32]  // 0: an empty slot (stream 0 is the connection itself, never a key)
    @usableFromInline var slots: [Value?]
    @usableFromInline var stored: Int
    /// The farthest any entry was placed from its home slot: an upper bound (it only grows, until the table
    /// is rebuilt). Removal looks no further than this past the hole: nothing beyond can belong before it.
    /// Streams open at once have consecutive ids, each in its own home, so this stays 0 and a removal
    /// looks at nothing, where it walked the whole run of open streams after the hole.
    @usableFromInline var longestProbe: Int
    @inlinable public var count: Int { stored }

    @inlinable
    public init() {
        stored = 0
        longestProbe = 0
        keys = [Int32](repeating: 0, count: 8)
        slots = [Value?](repeating: nil, count: 8)
    }

    @inlinable
    public var isEmpty: Bool { count == 0 }

    @inlinable
    var mask: Int { keys.count - 1 }

    @inlinable @inline(__always)
    func home(_ id: Int32) -> Int { Int(UInt32(bitPattern: id) >> 1) & mask }

    /// The slot holding `id`, or nil.
    @inlinable @inline(__always)
    func slot(of id: Int32) -> Int? {
        var index = home(id)
        while true {
            let key = keys[index]
            if key == 0 { return nil }  // first: id 0 (the connection) is never found, not even in an empty slot
            if key == id { return index }
            index = (index + 1) & mask
        }
    }

    @inlinable
    public subscript(id: Int32) -> Value? {
        get { slot(of: id).flatMap { slots[$0] } }
        set {
            guard let newValue else {
                removeValue(forKey: id)
                return
            }
            precondition(id != 0, "stream 0 is the connection")
            if let index = slot(of: id) {
                slots[index] = newValue
                return
            }
            if (count + 1) * 2 > keys.count { grow() }
            let start = home(id)
            var index = start
            while keys[index] != 0 { index = (index + 1) & mask }
            keys[index] = id
            slots[index] = newValue
            stored += 1
            longestProbe = Swift.max(longestProbe, (index - start) & mask)
        }
    }

    @inlinable @discardableResult
    public mutating func removeValue(forKey id: Int32) -> Value? {
        guard var hole = slot(of: id) else { return nil }
        let removed = slots[hole]
        keys[hole] = 0
        slots[hole] = nil
        stored -= 1
        // Backward-shift: an entry further along the probe run moves into the hole when the hole lies
        // between its home and where it sits, so every key stays reachable from its home without tombstones.
        // Such an entry sits at most `longestProbe` past its home, so at most that far past the hole.
        var index = (hole + 1) & mask
        while keys[index] != 0, (index - hole) & mask <= longestProbe {
            let home = home(keys[index])
            let distanceToHole = (hole - home) & mask
            let distanceToIndex = (index - home) & mask
            if distanceToHole < distanceToIndex {
                keys[hole] = keys[index]
                slots[hole] = slots[index]
                keys[index] = 0
                slots[index] = nil
                hole = index
            }
            index = (index + 1) & mask
        }
        return removed
    }

    @inlinable
    public mutating func removeAll() { self = StreamTable() }

    /// The values, in no particular order.
    @inlinable
    public var values: [Value] {
        var values: [Value] = []
        values.reserveCapacity(count)
        for index in keys.indices where keys[index] != 0 {
            if let value = slots[index] { values.append(value) }
        }
        return values
    }

    @usableFromInline
    mutating func grow() {
        let old = self
        keys = [Int32](repeating: 0, count: old.keys.count * 2)
        slots = [Value?](repeating: nil, count: old.keys.count * 2)
        stored = 0
        longestProbe = 0
        for (id, value) in old { self[id] = value }
    }

    @inlinable
    public func makeIterator() -> Iterator { Iterator(keys: keys, slots: slots) }

    /// Walks a snapshot of the table (the arrays are shared, not copied, unless the table changes meanwhile).
    public struct Iterator: IteratorProtocol {
        @usableFromInline let keys: [Int32]
        @usableFromInline let slots: [Value?]
        @usableFromInline var index = 0

        @inlinable
        init(keys: [Int32], slots: [Value?]) {
            self.keys = keys
            self.slots = slots
        }

        @inlinable
        public mutating func next() -> (key: Int32, value: Value)? {
            while index < keys.count {
                defer { index += 1 }
                if keys[index] != 0, let value = slots[index] { return (keys[index], value) }
            }
            return nil
        }
    }
}
