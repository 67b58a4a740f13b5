#if canImport(Glibc)
    import Glibc
#endif

/// Bytes in memory of their own, for log lines: a line is some forty small appends, and
/// `Array.append(contentsOf:)` costs about a hundred instructions each (uniqueness, capacity, a generic
/// copy). A line is written into room the buffer makes at its end (`room(forAtLeast:)`, `LogLine`). One
/// per loop holds the access log's batch (`LoopLogBuffer`); other lines use one for the line alone. Not
/// thread-safe: one owner at a time.
final class LogBuffer {
    private var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private(set) var capacity: Int

    init(capacity: Int = 1024) {
        self.capacity = max(capacity, 64)
        guard let memory = malloc(self.capacity) else { fatalError("out of memory for a log buffer") }
        base = memory.assumingMemoryBound(to: UInt8.self)
    }

    deinit { free(base) }

    /// The bytes written so far, valid until the next change.
    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: count) }

    @inline(__always)
    func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        if count + bytes.count > capacity { grow(toFit: count + bytes.count) }
        memcpy(base + count, source, bytes.count)
        count += bytes.count
    }

    func append(_ bytes: [UInt8]) {
        bytes.withUnsafeBufferPointer { append($0) }
    }

    /// Room for at least `minimum` more bytes after the last: where it starts and where it ends. A writer
    /// (`LogLine`) fills it through the pointer and says where it stopped with `commit(upTo:)`; nothing else
    /// may append meanwhile, and the pointers are void once anything else changes the buffer.
    func room(forAtLeast minimum: Int) -> (start: UnsafeMutablePointer<UInt8>, end: UnsafeMutablePointer<UInt8>) {
        if count + minimum > capacity { grow(toFit: count + minimum) }
        return (base + count, base + capacity)
    }

    /// Ends what a writer wrote into `room(forAtLeast:)`: the bytes before `end` are the buffer's.
    func commit(upTo end: UnsafeMutablePointer<UInt8>) {
        let newCount = end - base
        precondition(newCount >= count && newCount <= capacity, "a log line committed outside its room")
        count = newCount
    }

    /// Drops everything after the first `newCount` bytes.
    func truncate(to newCount: Int) {
        precondition(newCount >= 0 && newCount <= count, "truncating a log buffer past its end")
        count = newCount
    }

    /// Empties the buffer; memory beyond `keepingCapacityUpTo` bytes goes back (a burst of long lines does
    /// not stay resident).
    func removeAll(keepingCapacityUpTo limit: Int) {
        count = 0
        guard capacity > limit, let smaller = realloc(base, limit) else { return }
        base = smaller.assumingMemoryBound(to: UInt8.self)
        capacity = limit
    }

    private func grow(toFit needed: Int) {
        let newCapacity = max(needed, capacity * 2)
        guard let grown = realloc(base, newCapacity) else { fatalError("out of memory for a log buffer") }
        base = grown.assumingMemoryBound(to: UInt8.self)
        capacity = newCapacity
    }
}

extension UnsafeBufferPointer<UInt8> {
    /// A copy of `bytes` in memory of its own, for bytes a log line copies often (prepared keys and fields,
    /// a quoted label): reading an array out of a class or a struct retains it, a pointer does not. The
    /// owner frees it with `deallocate()`, or never for process-long keys.
    static func allocatedCopy(of bytes: [UInt8]) -> UnsafeBufferPointer<UInt8> {
        let memory = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = memory.initialize(from: bytes)
        return UnsafeBufferPointer(memory)
    }
}
