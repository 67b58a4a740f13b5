#if canImport(Glibc)
import Glibc
#endif

/// The names and values of the header block nghttp2 is delivering, copied back to back as the fields arrive
/// and moved into the head's `HTTPHeaders` storage in one append when the block ends. Appending each name
/// and each value to that storage's array directly cost about a hundred instructions apiece (uniqueness,
/// capacity, a generic copy); here an append is a capacity check and a `memcpy`.
///
/// Bounded by what it is given: a session stops copying a block once it is over `maxHeaderListSize`.
struct HeaderBlockBytes: ~Copyable {
    private var start: UnsafeMutableRawPointer?
    private(set) var count = 0
    private var capacity = 0
    /// Kept between blocks up to this much; a larger block's room is given back when it ends.
    static let keptCapacity = 16 * 1024

    init() {}

    deinit { free(start) }

    /// Appends `bytes`; returns the offset they start at.
    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
        let offset = count
        if capacity - count < bytes.count { grow(toHold: count + bytes.count) }
        if bytes.count > 0 { memcpy(start! + offset, bytes.baseAddress!, bytes.count) }
        count += bytes.count
        return offset
    }

    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: start, count: count) }

    /// Empty for the next block.
    mutating func removeAll() {
        count = 0
        if capacity > Self.keptCapacity {
            free(start)
            start = nil
            capacity = 0
        }
    }

    private mutating func grow(toHold needed: Int) {
        let newCapacity = Swift.max(needed, capacity * 2, 1024)
        guard let grown = realloc(start, newCapacity) else { fatalError("out of memory for a header block") }
        start = grown
        capacity = newCapacity
    }
}
