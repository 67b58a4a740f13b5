/// Writes HTTP/1.1 heads and chunks (RFC 9112). The caller is responsible for valid field
/// names and values (`HTTPField`); heads produced by the parsers always are.
///
/// A head is written in two passes over the same code (`HeadOutput`): one counts its bytes, the other copies
/// them into one scratch buffer, which joins the caller's buffer in a single append. Appending piece by piece
/// cost about 90 instructions per piece (Array's generic append path), a few thousand per head (callgrind).
public enum HTTP1Serializer {
    /// `method SP target SP version CRLF`, the fields, then CRLF.
    public static func appendRequestHead(_ head: HTTPRequestHead, to buffer: inout [UInt8]) {
        var counter = ByteCounter()
        writeRequestHead(head, to: &counter)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: counter.count) { scratch in
            var copier = ByteCopier(scratch)
            writeRequestHead(head, to: &copier)
            buffer.append(contentsOf: copier.written)
        }
    }

    /// `version SP status SP reason CRLF` (the SP is written even for an empty reason), the
    /// fields, then CRLF.
    public static func appendResponseHead(_ head: HTTPResponseHead, to buffer: inout [UInt8]) {
        var counter = ByteCounter()
        writeResponseHead(head, to: &counter)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: counter.count) { scratch in
            var copier = ByteCopier(scratch)
            writeResponseHead(head, to: &copier)
            buffer.append(contentsOf: copier.written)
        }
    }

    /// One chunk: hex size CRLF data CRLF. Empty data writes nothing (an empty chunk would end
    /// the body).
    public static func appendChunk(_ bytes: some Collection<UInt8>, to buffer: inout [UInt8]) {
        guard !bytes.isEmpty else { return }
        buffer.append(contentsOf: String(bytes.count, radix: 16).utf8)
        buffer.append(contentsOf: [0x0D, 0x0A])
        buffer.append(contentsOf: bytes)
        buffer.append(contentsOf: [0x0D, 0x0A])
    }

    /// The last chunk and an empty trailer section: `0 CRLF CRLF`.
    public static func appendLastChunk(to buffer: inout [UInt8]) {
        buffer.append(contentsOf: [0x30, 0x0D, 0x0A, 0x0D, 0x0A])
    }

    /// The last chunk and the trailer section (RFC 9112 §7.1.2): `0 CRLF`, the fields, CRLF. The caller
    /// has removed fields that must not be sent in trailers.
    public static func appendLastChunk(trailers: HTTPHeaders, to buffer: inout [UInt8]) {
        guard trailers.count > 0 else { return appendLastChunk(to: &buffer) }
        buffer.append(contentsOf: [0x30, 0x0D, 0x0A])
        var counter = ByteCounter()
        counter.putFields(trailers)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: counter.count) { scratch in
            var copier = ByteCopier(scratch)
            copier.putFields(trailers)
            buffer.append(contentsOf: copier.written)
        }
    }

    // MARK: Heads, written to a counter or a copier

    private static func writeRequestHead(_ head: HTTPRequestHead, to output: inout some HeadOutput) {
        output.put(head.method)
        output.put(0x20)
        output.put(head.target)
        output.put(0x20)
        writeVersion(head.version, to: &output)
        output.putLineEnd()
        output.putFields(head.headers)
    }

    private static func writeResponseHead(_ head: HTTPResponseHead, to output: inout some HeadOutput) {
        writeVersion(head.version, to: &output)
        output.put(0x20)
        let status = min(max(head.status, 0), 999)
        output.put(UInt8(0x30 + status / 100))
        output.put(UInt8(0x30 + status / 10 % 10))
        output.put(UInt8(0x30 + status % 10))
        output.put(0x20)
        output.put(head.reason)
        output.putLineEnd()
        output.putFields(head.headers)
    }

    private static func writeVersion(_ version: HTTPVersion, to output: inout some HeadOutput) {
        // HTTP-version is "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3), as every parsed version is: written
        // without a String.
        guard (0...9).contains(version.major), (0...9).contains(version.minor) else {
            output.put(version.description)
            return
        }
        output.put("HTTP/" as StaticString)
        output.put(0x30 + UInt8(version.major))
        output.put(UInt8(ascii: "."))
        output.put(0x30 + UInt8(version.minor))
    }

    /// Each field as `name: value CRLF`, then CRLF.
    ///
    /// Fields stored exactly as they go out (a parsed `Name: value` line with its CRLF), one right after
    /// another, are written as one piece: a parsed head keeps its lines that way, so most of a forwarded head
    /// is a few copies rather than three pieces per field (0.4k fewer instructions per proxied request).
    fileprivate static func writeFields(_ headers: HTTPHeaders, to output: inout ByteCopier) {
        headers.bytes.withUnsafeBufferPointer { stored in
            var run = 0..<0  // stored lines waiting to go out in one piece
            for span in headers.spans {
                let nameStart = Int(span.nameStart), nameEnd = nameStart + Int(span.nameCount)
                let valueStart = Int(span.valueStart), valueEnd = valueStart + Int(span.valueCount)
                assert(
                    HTTPField.isValidName(UnsafeBufferPointer(rebasing: stored[nameStart..<nameEnd]))
                        && stored[valueStart..<valueEnd].allSatisfy(HTTPField.isValueByte), "invalid field")
                let storedAsSent =
                    valueStart == nameEnd + 2 && stored[nameEnd] == UInt8(ascii: ":") && stored[nameEnd + 1] == 0x20
                if storedAsSent, valueEnd + 2 <= stored.count, stored[valueEnd] == 0x0D, stored[valueEnd + 1] == 0x0A {
                    if run.isEmpty || run.upperBound != nameStart {
                        if !run.isEmpty { output.put(UnsafeBufferPointer(rebasing: stored[run])) }
                        run = nameStart..<nameStart
                    }
                    run = run.lowerBound..<valueEnd + 2
                    continue
                }
                if !run.isEmpty {
                    output.put(UnsafeBufferPointer(rebasing: stored[run]))
                    run = 0..<0
                }
                if storedAsSent {
                    output.put(UnsafeBufferPointer(rebasing: stored[nameStart..<valueEnd]))
                } else {
                    output.put(UnsafeBufferPointer(rebasing: stored[nameStart..<nameEnd]))
                    output.put(UInt8(ascii: ":"))
                    output.put(0x20)
                    output.put(UnsafeBufferPointer(rebasing: stored[valueStart..<valueEnd]))
                }
                output.putLineEnd()
            }
            if !run.isEmpty { output.put(UnsafeBufferPointer(rebasing: stored[run])) }
        }
        output.putLineEnd()
    }
}

/// Where a head's bytes go: counted first, then copied (`HTTP1Serializer`). Two concrete types behind a
/// protocol rather than one type with a mode: each pass is specialized and has no branch per byte (one type
/// with an optional scratch buffer measured 0.8k more instructions per proxied request).
protocol HeadOutput {
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>)
    mutating func put(_ byte: UInt8)
    /// Each field as `name: value CRLF`, then CRLF.
    mutating func putFields(_ headers: HTTPHeaders)
}

extension HeadOutput {
    mutating func put(_ text: String) {
        // A native string's bytes in place; `withUTF8` needs a mutable copy (a retain and a release each time).
        if text.utf8.withContiguousStorageIfAvailable({ put($0) }) != nil { return }
        var text = text
        text.withUTF8 { put($0) }
    }

    mutating func put(_ text: StaticString) {
        put(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func putLineEnd() {
        put(0x0D)
        put(0x0A)
    }
}

/// The first pass: how many bytes the head takes.
struct ByteCounter: HeadOutput {
    var count = 0
    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) { count += bytes.count }
    mutating func put(_ byte: UInt8) { count += 1 }

    /// The fields' size from their spans alone: however a field is stored, it goes out as name, ": ",
    /// value and CRLF.
    mutating func putFields(_ headers: HTTPHeaders) {
        for span in headers.spans { count += Int(span.nameCount) + Int(span.valueCount) + 4 }
        count += 2
    }
}

/// The second pass: the bytes, copied into scratch memory the first pass sized.
struct ByteCopier: HeadOutput {
    private let scratch: UnsafeMutableBufferPointer<UInt8>
    private var offset = 0

    init(_ scratch: UnsafeMutableBufferPointer<UInt8>) { self.scratch = scratch }

    var written: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(rebasing: scratch[0..<offset]) }

    mutating func put(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let source = bytes.baseAddress, !bytes.isEmpty else { return }
        precondition(offset + bytes.count <= scratch.count, "a head changed between counting and copying")
        (scratch.baseAddress! + offset).update(from: source, count: bytes.count)
        offset += bytes.count
    }

    mutating func put(_ byte: UInt8) {
        precondition(offset < scratch.count, "a head changed between counting and copying")
        (scratch.baseAddress! + offset).pointee = byte
        offset += 1
    }

    mutating func putFields(_ headers: HTTPHeaders) { HTTP1Serializer.writeFields(headers, to: &self) }
}
