/// A bounded map that forgets its least recently used entry when full. All operations are O(1).
///
/// A value type with no locking: its owner serializes access (`InterceptionAuthority` holds it in a
/// `Mutex`). Entries live in one array used as a doubly linked list, most recent at `head`; once
/// full, a new entry takes over the slot of the one it evicts.
struct LRUCache<Key: Hashable, Value> {
    private struct Node {
        var key: Key
        var value: Value
        var newer: Int  // toward head; -1 at the head
        var older: Int  // toward tail; -1 at the tail
    }

    /// The most entries kept (at least 1).
    let capacity: Int
    private var slots: [Key: Int] = [:]
    private var nodes: [Node] = []
    private var head = -1
    private var tail = -1

    /// An empty cache holding at most `capacity` entries (raised to 1 if smaller).
    init(capacity: Int) {
        self.capacity = max(1, capacity)
        slots.reserveCapacity(min(self.capacity, 4096))
    }

    /// How many entries are held.
    var count: Int { nodes.count }

    /// The value for `key`, which becomes the most recently used; `nil` when absent.
    mutating func value(forKey key: Key) -> Value? {
        guard let slot = slots[key] else { return nil }
        moveToHead(slot)
        return nodes[slot].value
    }

    /// Stores `value` as the most recently used entry (replacing one for the same key). Returns the
    /// key evicted to make room, if any.
    @discardableResult
    mutating func insert(_ value: Value, forKey key: Key) -> Key? {
        if let slot = slots[key] {
            nodes[slot].value = value
            moveToHead(slot)
            return nil
        }
        if nodes.count < capacity {
            nodes.append(Node(key: key, value: value, newer: -1, older: -1))
            link(nodes.count - 1)
            return nil
        }
        let slot = tail
        let evicted = nodes[slot].key
        unlink(slot)
        slots[evicted] = nil
        nodes[slot] = Node(key: key, value: value, newer: -1, older: -1)
        link(slot)
        return evicted
    }

    /// Keys from most to least recently used (for tests and diagnostics; O(n)).
    var keysByRecency: [Key] {
        var keys: [Key] = []
        var slot = head
        while slot != -1 {
            keys.append(nodes[slot].key)
            slot = nodes[slot].older
        }
        return keys
    }

    private mutating func moveToHead(_ slot: Int) {
        guard slot != head else { return }
        unlink(slot)
        link(slot)
    }

    /// Puts the node at `slot` (unlinked) at the head and indexes it.
    private mutating func link(_ slot: Int) {
        nodes[slot].newer = -1
        nodes[slot].older = head
        if head != -1 { nodes[head].newer = slot }
        head = slot
        if tail == -1 { tail = slot }
        slots[nodes[slot].key] = slot
    }

    private mutating func unlink(_ slot: Int) {
        let newer = nodes[slot].newer
        let older = nodes[slot].older
        if newer != -1 { nodes[newer].older = older } else { head = older }
        if older != -1 { nodes[older].newer = newer } else { tail = newer }
    }
}
