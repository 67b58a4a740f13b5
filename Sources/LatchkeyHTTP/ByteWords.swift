/// Eight bytes at a time ("SWAR": SIMD within a register) for the checks every field of every message goes
/// through: where a name ends, is a value plain visible ASCII, and is a name one of the proxy's known names.
/// Each lane's answer is exact: a carry out of a lane happens only from a byte of 0x80 or more, and such a
/// byte already decides the answer (a name's letters end before it; a value with it takes the byte-by-byte
/// path; a name with it is no known name).
enum ByteWords {
    private static let ones: UInt64 = 0x0101_0101_0101_0101
    private static let highBits: UInt64 = 0x8080_8080_8080_8080

    /// Whether some byte of `word` is below 0x20, is 0x7F, or is 0x80 or more: anything but SP and visible
    /// ASCII. A value word without any of those needs no look byte by byte (HTAB and obs-text do).
    @inline(__always)
    static func hasNonVisibleASCII(_ word: UInt64) -> Bool {
        let below20 = (word &- ones &* 0x20) & ~word
        let delete = word ^ (ones &* 0x7F)
        let is7F = (delete &- ones) & ~delete
        return (below20 | is7F | word) & highBits != 0
    }

    /// Whether the `count` bytes at `bytes` are all SP or visible ASCII: a word at a time, the last word
    /// overlapping the one before it; below eight bytes, byte by byte. (A request-target, which holds no SP
    /// by construction, is then all visible ASCII.)
    static func isSpaceOrVisibleASCII(_ bytes: UnsafeRawPointer, count: Int) -> Bool {
        guard count >= 8 else {
            for offset in 0..<count {
                let byte = bytes.load(fromByteOffset: offset, as: UInt8.self)
                if byte < 0x20 || byte >= 0x7F { return false }
            }
            return true
        }
        var offset = 0
        while offset + 8 <= count {
            if hasNonVisibleASCII(bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)) { return false }
            offset += 8
        }
        return offset == count || !hasNonVisibleASCII(bytes.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self))
    }

    /// How many bytes at the start of `word` (memory order) are ASCII letters, digits or '-', what nearly
    /// every field name is made of: 8 when all are. A lane past a byte of 0x80 or more may be wrong (that
    /// byte's carry), but the byte itself is none of them and ends the count first.
    @inline(__always)
    static func leadingLettersDigitsHyphens(_ word: UInt64) -> Int {
        let folded = word | ones &* 0x20  // capitals made small; digits and '-' have that bit already
        let letters = (folded &+ ones &* (0x80 - 0x61)) & ~(folded &+ ones &* (0x80 - 0x7B))
        let digits = (word &+ ones &* (0x80 - 0x30)) & ~(word &+ ones &* (0x80 - 0x3A))
        let hyphens = ~((word ^ ones &* 0x2D) &+ ones &* 0x7F)  // the high bit stays clear only for '-'
        let wanted = (letters | digits | hyphens) & ~word & highBits
        return (~wanted & highBits).trailingZeroBitCount >> 3
    }

    /// `word` with its ASCII capital letters made small, every other byte as it was.
    @inline(__always)
    static func asciiLowercased(_ word: UInt64) -> UInt64 {
        let atLeastA = word &+ ones &* (0x80 - 0x41)
        let pastZ = word &+ ones &* (0x80 - 0x5B)
        let capitals = atLeastA & ~pastZ & highBits
        return word | (capitals >> 2)
    }

    /// Lowercases the ASCII capital letters of `count` bytes at `bytes` in place, every other byte as it was:
    /// a word at a time (an HTTP/2 field name from an HTTP/1.1 head, RFC 9113 §8.2.1). The last word overlaps
    /// the one before it (lowercasing twice changes nothing). From a word holding a byte of 0x80 or more,
    /// whose carry could reach its neighbour, and below eight bytes, it goes byte by byte.
    @inline(__always)
    static func lowercaseInPlace(_ bytes: UnsafeMutableRawPointer, count: Int) {
        var offset = 0
        if count >= 8 {
            while true {
                let at = Swift.min(offset, count - 8)
                let word = bytes.loadUnaligned(fromByteOffset: at, as: UInt64.self)
                if word & highBits != 0 {
                    offset = at
                    break
                }
                bytes.storeBytes(of: asciiLowercased(word), toByteOffset: at, as: UInt64.self)
                if at == count - 8 { return }
                offset += 8
            }
        }
        while offset < count {
            let byte = bytes.load(fromByteOffset: offset, as: UInt8.self)
            bytes.storeBytes(of: HTTPHeaders.asciiLowercased(byte), toByteOffset: offset, as: UInt8.self)
            offset += 1
        }
    }

    /// Whether `bytes` equals the lowercase ASCII `lowercased` (same length) ignoring ASCII case: two to
    /// three loads per side for the 2- to 19-byte names of `KnownFieldName`.
    @inline(__always)
    static func equalsLowercased(_ bytes: UnsafeRawPointer, _ lowercased: UnsafeRawPointer, count: Int) -> Bool {
        switch count {
        case 8...:
            var offset = 0
            while offset + 8 < count {
                guard equal(UInt64.self, bytes, lowercased, at: offset) else { return false }
                offset += 8
            }
            return equal(UInt64.self, bytes, lowercased, at: count - 8)
        case 4...:
            return equal(UInt32.self, bytes, lowercased, at: 0) && equal(UInt32.self, bytes, lowercased, at: count - 4)
        case 2...:
            return equal(UInt16.self, bytes, lowercased, at: 0) && equal(UInt16.self, bytes, lowercased, at: count - 2)
        case 1:
            return equal(UInt8.self, bytes, lowercased, at: 0)
        default:
            return true
        }
    }

    @inline(__always)
    private static func equal<Word: FixedWidthInteger & UnsignedInteger>(
        _: Word.Type, _ bytes: UnsafeRawPointer, _ lowercased: UnsafeRawPointer, at offset: Int
    ) -> Bool {
        let word = UInt64(bytes.loadUnaligned(fromByteOffset: offset, as: Word.self))
        let expected = UInt64(lowercased.loadUnaligned(fromByteOffset: offset, as: Word.self))
        return asciiLowercased(word) == expected
    }
}
