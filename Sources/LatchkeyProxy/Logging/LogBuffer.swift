import LatchkeyConfig

#if canImport(Glibc)
    import Glibc
#endif

/// Bytes written through a pointer, for log lines: a line is some forty small appends, and
/// `Array.append(contentsOf:)` costs about a hundred instructions each (uniqueness, capacity, a generic
/// copy); here an append is a capacity check and a `memcpy`. One per loop holds the access log's batch
/// (`LoopLogBuffer`); other lines use one for the line alone. Not thread-safe: one owner at a time.
final class LogBuffer: ByteSink {
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
    func append(_ byte: UInt8) {
        if count == capacity { grow(toFit: count + 1) }
        base[count] = byte
        count += 1
    }

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

    /// `text`'s UTF-8, one copy of memory when the string is contiguous (nearly always).
    func append(_ text: String) {
        if text.utf8.withContiguousStorageIfAvailable({ append($0) }) == nil {
            append(Array(text.utf8))
        }
    }

    func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `value` in decimal: its digits counted by comparison, then written last to first (a division by the
    /// constant 10 compiles to a multiplication; dividing by a running power of ten would not).
    func appendDecimal(_ value: UInt) {
        var digits = 1
        var power: UInt = 10
        while digits < 20, value >= power {  // UInt.max has 20 digits; 10^20 would overflow
            digits += 1
            power = power &* 10
        }
        if count + digits > capacity { grow(toFit: count + digits) }
        var rest = value
        var index = count + digits
        repeat {
            index -= 1
            base[index] = UInt8(truncatingIfNeeded: 0x30 &+ rest % 10)
            rest /= 10
        } while rest > 0
        count += digits
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
