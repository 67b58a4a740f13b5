/// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). Lines arrive without CRLF and
/// already free of CR and NUL.
enum HTTP1FieldLine {
    /// The name's and the trimmed value's ranges in `line`, once both are valid.
    @inline(__always)
    static func parse(_ line: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> (name: Range<Int>, value: Range<Int>) {
        if HTTPField.isWhitespace(line[0]) {
            throw HTTP1ParseError(
                .obsoleteLineFolding, "a field line starts with whitespace (obs-fold): \(HTTP1ParseError.quote(line))")
        }
        var colon = 0
        let bytes = line.assumingMemoryBound(to: UInt8.self)
        // Eight bytes at a time over the letters, digits and hyphens nearly every name is made of; the byte
        // loop decides the byte that ended the run (the colon, or another token byte) and goes on from there.
        while colon + 8 <= bytes.count {
            let run = ByteWords.leadingLettersDigitsHyphens(line.loadUnaligned(fromByteOffset: colon, as: UInt64.self))
            colon += run
            if run < 8 { break }
        }
        while colon < bytes.count && HTTPField.isTokenByte(bytes[colon]) { colon += 1 }
        guard colon < line.count, line[colon] == UInt8(ascii: ":") else {
            var next = colon
            while next < line.count && HTTPField.isWhitespace(line[next]) { next += 1 }
            if next > colon, next < line.count, line[next] == UInt8(ascii: ":") {
                throw HTTP1ParseError(
                    .whitespaceBeforeColon, "whitespace between field name and colon: \(HTTP1ParseError.quote(line))")
            }
            throw HTTP1ParseError(.invalidHeaderName, "invalid field name: \(HTTP1ParseError.quote(line))")
        }
        guard colon > 0 else {
            throw HTTP1ParseError(.invalidHeaderName, "empty field name: \(HTTP1ParseError.quote(line))")
        }
        var start = colon + 1
        var end = line.count
        while start < end && HTTPField.isWhitespace(line[start]) { start += 1 }
        while end > start && HTTPField.isWhitespace(line[end - 1]) { end -= 1 }
        let valueBytes = line[start..<end]
        var ascii = true
        // Every byte of every field value passes here: eight at a time while they are SP or visible ASCII
        // (nearly every value), then byte by byte from the first word holding anything else. A value of eight
        // bytes or more ends with the word of its last eight (overlapping the one before), not a byte loop.
        var checked = start
        while checked + 8 <= end,
            !ByteWords.hasNonVisibleASCII(line.loadUnaligned(fromByteOffset: checked, as: UInt64.self))
        {
            checked += 8
        }
        if checked < end, checked + 8 > end, end - start >= 8,  // only a short tail left, all before it clean
            !ByteWords.hasNonVisibleASCII(line.loadUnaligned(fromByteOffset: end - 8, as: UInt64.self))
        {
            checked = end
        }
        let value = UnsafeBufferPointer(rebasing: line.assumingMemoryBound(to: UInt8.self)[checked..<end])
        for byte in value {
            if byte >= 0x80 {
                ascii = false
            } else if !HTTPField.isValueByte(byte) {
                throw HTTP1ParseError(
                    .invalidHeaderValue, "a field value contains a control byte: \(HTTP1ParseError.quote(line))")
            }
        }
        // obs-text is kept only when it is valid UTF-8: a field's value is handed out as a String, which
        // cannot carry other bytes unchanged, and a proxy must not silently rewrite what it forwards.
        if !ascii, String(validating: valueBytes, as: UTF8.self) == nil {
            throw HTTP1ParseError(
                .invalidHeaderValue, "a field value is not valid UTF-8: \(HTTP1ParseError.quote(line))")
        }
        return (0..<colon, start..<end)
    }
}
