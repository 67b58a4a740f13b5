/// chunk-size [ chunk-ext ] (RFC 9112 §7.1, §7.1.1). Extensions are validated and ignored.
enum HTTP1ChunkSizeLine {
    /// Returns the chunk size. The line arrives without CRLF, free of CR and NUL.
    static func parse(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> Int {
        var index = 0
        var size = 0
        while index < line.count, let digit = hexValue(line[index]) {
            guard size <= (Int.max - 15) / 16 else {
                throw HTTP1ParseError(.invalidChunkSize, "chunk size overflows: \(HTTP1ParseError.quote(line))")
            }
            size = size * 16 + digit
            index += 1
        }
        guard index > 0 else {
            throw HTTP1ParseError(.invalidChunkSize, "chunk size is not hexadecimal: \(HTTP1ParseError.quote(line))")
        }
        guard index == line.count || isValidExtensions(line[index...]) else {
            throw HTTP1ParseError(
                .invalidChunkExtension, "junk after the chunk size: \(HTTP1ParseError.quote(line))")
        }
        return size
    }

    /// *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ), at least one.
    private static func isValidExtensions(_ bytes: Slice<UnsafeRawBufferPointer>) -> Bool {
        var index = bytes.startIndex
        let end = bytes.endIndex
        func skipWhitespace() { while index < end && HTTPField.isWhitespace(bytes[index]) { index += 1 } }
        func skipToken() -> Bool {
            let start = index
            while index < end && HTTPField.isTokenByte(bytes[index]) { index += 1 }
            return index > start
        }
        while index < end {
            skipWhitespace()
            guard index < end, bytes[index] == UInt8(ascii: ";") else { return false }
            index += 1
            skipWhitespace()
            guard skipToken() else { return false }
            skipWhitespace()
            guard index < end, bytes[index] == UInt8(ascii: "=") else { continue }
            index += 1
            skipWhitespace()
            if index < end && bytes[index] == UInt8(ascii: "\"") {
                index += 1
                var closed = false
                while index < end {
                    let byte = bytes[index]
                    index += 1
                    if byte == UInt8(ascii: "\"") {
                        closed = true
                        break
                    }
                    if byte == UInt8(ascii: "\\") {
                        guard index < end, HTTPField.isValueByte(bytes[index]) else { return false }
                        index += 1
                    } else if !HTTPField.isValueByte(byte) {
                        return false
                    }
                }
                guard closed else { return false }
            } else if !skipToken() {
                return false
            }
        }
        return true
    }

    @inline(__always)
    private static func hexValue(_ byte: UInt8) -> Int? {
        switch byte {
        case 0x30...0x39: Int(byte - 0x30)
        case 0x41...0x46: Int(byte - 0x41 + 10)
        case 0x61...0x66: Int(byte - 0x61 + 10)
        default: nil
        }
    }
}
