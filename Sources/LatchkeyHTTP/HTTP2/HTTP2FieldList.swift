import CNGHTTP2
import Glibc

/// A header block laid out for nghttp2's `nghttp2_nv` array: pseudo-header fields first, names lowercased
/// (RFC 9113 §8.2.1), all bytes in one buffer. nghttp2 copies the fields while a submit call runs, so the
/// pointers live only inside `withNameValues`.
///
/// The list lives for one submit call, on every HTTP/2 head the proxy sends: it owns two plain buffers sized
/// for the head at once (noncopyable, so they are freed exactly once), and copies bytes with `memcpy`. Built
/// on `Array`s, appending cost about 250 instructions per field (uniqueness and capacity checks, the generic
/// copy path), more than nghttp2's own encoding of it.
struct HTTP2FieldList: ~Copyable {
    private struct Entry {
        var nameStart: Int
        var nameCount: Int
        var valueStart: Int
        var valueCount: Int
    }

    private var bytes: UnsafeMutablePointer<UInt8>
    private var byteCount = 0
    private var byteCapacity: Int
    private var entries: UnsafeMutablePointer<Entry>
    private var entryCount = 0
    private var entryCapacity: Int

    /// Room for `capacity` bytes in `fields` fields; either grows when a head needs more.
    ///
    /// The buffers come from `malloc` itself: `UnsafeMutablePointer.allocate` asks the Swift runtime for
    /// default alignment, which on Linux it serves with `posix_memalign`, about three times `malloc`'s cost,
    /// for two buffers on every HTTP/2 head. Both element types are trivial, so `realloc` grows them.
    init(capacity: Int, fields: Int) {
        byteCapacity = max(capacity, 64)
        bytes = Self.allocate(UInt8.self, count: byteCapacity)
        entryCapacity = max(fields, 8)
        entries = Self.allocate(Entry.self, count: entryCapacity)
    }

    deinit {
        free(bytes)
        free(entries)
    }

    private static func allocate<T>(_ type: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        guard let raw = malloc(count * MemoryLayout<T>.stride) else { fatalError("out of memory") }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    private static func grow<T>(_ pointer: UnsafeMutablePointer<T>, to count: Int) -> UnsafeMutablePointer<T> {
        guard let raw = realloc(pointer, count * MemoryLayout<T>.stride) else { fatalError("out of memory") }
        return raw.bindMemory(to: T.self, capacity: count)
    }

    // MARK: Building

    /// Empties the list for the next block, keeping its buffers (a session reuses one list for every head it
    /// sends: two `malloc`s and two `free`s per head less). Buffers a large head grew go back to the sizes
    /// a session starts with.
    mutating func removeAll() {
        byteCount = 0
        entryCount = 0
        if byteCapacity > Self.keptBytes {
            bytes = Self.grow(bytes, to: Self.initialBytes)
            byteCapacity = Self.initialBytes
        }
        if entryCapacity > Self.keptFields {
            entries = Self.grow(entries, to: Self.initialFields)
            entryCapacity = Self.initialFields
        }
    }

    /// What a session's reused list starts with, and the most it keeps between heads.
    static let initialBytes = 1024, initialFields = 32
    private static let keptBytes = 8 * 1024, keptFields = 128

    /// Room for `extraBytes` more bytes in `extraFields` more fields, grown once.
    private mutating func reserve(bytes extraBytes: Int, fields extraFields: Int) {
        if byteCount + extraBytes > byteCapacity {
            byteCapacity = byteCount + extraBytes
            bytes = Self.grow(bytes, to: byteCapacity)
        }
        if entryCount + extraFields > entryCapacity {
            entryCapacity = entryCount + extraFields
            entries = Self.grow(entries, to: entryCapacity)
        }
    }

    private mutating func append(_ source: UnsafeRawBufferPointer) {
        guard let base = source.baseAddress, !source.isEmpty else { return }
        if byteCount + source.count > byteCapacity {
            let grown = max(byteCapacity * 2, byteCount + source.count)
            bytes = Self.grow(bytes, to: grown)
            byteCapacity = grown
        }
        (bytes + byteCount).initialize(from: base.assumingMemoryBound(to: UInt8.self), count: source.count)
        byteCount += source.count
    }

    private mutating func appendEntry(nameStart: Int, valueStart: Int) {
        if entryCount == entryCapacity {
            let grown = entryCapacity * 2
            entries = Self.grow(entries, to: grown)
            entryCapacity = grown
        }
        (entries + entryCount).initialize(
            to: Entry(
                nameStart: nameStart, nameCount: valueStart - nameStart, valueStart: valueStart,
                valueCount: byteCount - valueStart))
        entryCount += 1
    }

    /// A field whose name is already lowercase.
    private mutating func add(name: StaticString, _ value: UnsafeRawBufferPointer) {
        let nameStart = byteCount
        append(UnsafeRawBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        let valueStart = byteCount
        append(value)
        appendEntry(nameStart: nameStart, valueStart: valueStart)
    }

    mutating func add(pseudo name: StaticString, _ value: String) {
        // Read in place (no copy of the string to make it contiguous: parsed and literal strings are).
        if let done: Void = value.utf8.withContiguousStorageIfAvailable({ add(name: name, UnsafeRawBufferPointer($0)) }) {
            return done
        }
        var value = value
        value.withUTF8 { add(name: name, UnsafeRawBufferPointer($0)) }
    }

    /// `:status` as its three digits (RFC 9113 §8.3.2; `HTTPResponseHead` keeps statuses in 100...999).
    mutating func add(status: Int) {
        guard (100...999).contains(status) else {
            add(pseudo: ":status", String(status))
            return
        }
        let digits = (
            UInt8(ascii: "0") + UInt8(status / 100), UInt8(ascii: "0") + UInt8(status / 10 % 10),
            UInt8(ascii: "0") + UInt8(status % 10)
        )
        withUnsafeBytes(of: digits) { add(name: ":status", $0) }
    }

    /// Every field of `headers` as it is, names lowercased (RFC 9113 §8.2.1): the caller made them fit HTTP/2
    /// (`HTTP2RequestHead` holds no connection-specific field; trailers were cleaned by the caller). The
    /// session sends what it is given.
    mutating func add(_ headers: HTTPHeaders) {
        headers.forEachField { name, value in add(lowercasing: name, value) }
    }

    /// The regular fields of an HTTP/1.1-shaped head as HTTP/2 carries them, names lowercased. The
    /// connection-specific ones stay behind (§8.2.2: the hop-by-hop fields and those `Connection` names, by
    /// the rule of `HTTPHeaders.forwarded`), and so do the `dropping` ones (a request's `Host`, which travels
    /// as `:authority`). A request adds `te: trailers` itself (`addTETrailers`).
    mutating func add(forwardedFieldsOf headers: HTTPHeaders, dropping: KnownFieldNames = []) {
        headers.forEachForwardedField(dropping: dropping) { name, value in add(lowercasing: name, value) }
    }

    private mutating func add(lowercasing name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) {
        let nameStart = byteCount
        append(UnsafeRawBufferPointer(name))
        ByteWords.lowercaseInPlace(bytes + nameStart, count: name.count)
        let valueStart = byteCount
        append(UnsafeRawBufferPointer(value))
        appendEntry(nameStart: nameStart, valueStart: valueStart)
    }

    /// `te: trailers` when the request's `TE` lists `trailers`: the one `TE` an HTTP/2 request may carry
    /// (RFC 9113 §8.2.2; gRPC sends it), which `add(forwardedFieldsOf:)` dropped with the other
    /// connection-specific fields.
    private mutating func addTETrailers(from headers: HTTPHeaders) {
        guard headers.wantsTrailers else { return }
        let value: StaticString = "trailers"
        add(name: "te", UnsafeRawBufferPointer(start: value.utf8Start, count: value.utf8CodeUnitCount))
    }

    // MARK: Handing over

    /// Calls `body` with the block as `nghttp2_nv`s (on the stack: a head's few dozen fields fit).
    mutating func withNameValues<R>(_ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        withUnsafeTemporaryAllocation(of: nghttp2_nv.self, capacity: entryCount) { nameValues in
            for index in 0..<entryCount {
                let entry = entries[index]
                (nameValues.baseAddress! + index).initialize(
                    to: nghttp2_nv(
                        name: bytes + entry.nameStart, value: bytes + entry.valueStart, namelen: entry.nameCount,
                        valuelen: entry.valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue)))
            }
            return body(UnsafePointer(nameValues.baseAddress), entryCount)
        }
    }

    // MARK: Blocks

    /// Makes this list a request head's block: `:method`, `:scheme`, `:authority`, `:path` (`:protocol`),
    /// then the fields.
    mutating func setRequest(_ head: HTTP2RequestHead) {
        removeAll()
        reserve(bytes: head.headers.bytes.count + 128, fields: head.headers.count + 6)
        add(pseudo: ":method", head.method)
        if let scheme = head.scheme { add(pseudo: ":scheme", scheme) }
        if let authority = head.authority { add(pseudo: ":authority", authority) }
        if let path = head.path { add(pseudo: ":path", path) }
        if let value = head.protocol { add(pseudo: ":protocol", value) }
        add(head.headers)
    }

    /// Makes this list the block of `HTTP2RequestHead(head, scheme:authority:)`, made from the HTTP/1.1-shaped
    /// head at once (one copy of its fields, where the translated head copied them once more).
    mutating func setRequest(translating head: HTTPRequestHead, scheme: String, authority: String) {
        removeAll()
        reserve(
            bytes: head.headers.bytes.count + head.target.utf8.count + authority.utf8.count + 64,
            fields: head.headers.count + 5)
        let isConnect = head.method == "CONNECT"
        add(pseudo: ":method", head.method)
        if !isConnect { add(pseudo: ":scheme", scheme) }
        add(pseudo: ":authority", authority)
        if !isConnect { add(pseudo: ":path", head.target) }
        add(forwardedFieldsOf: head.headers, dropping: HTTP2RequestHead.fieldsInPseudoHeaders)
        addTETrailers(from: head.headers)
    }

    /// Makes this list a response head's block: `:status`, then the fields without the connection-specific
    /// ones.
    mutating func setResponse(_ head: HTTPResponseHead) {
        removeAll()
        reserve(bytes: head.headers.bytes.count + 16, fields: head.headers.count + 1)
        add(status: head.status)
        add(forwardedFieldsOf: head.headers)
    }

    /// Makes this list a trailer block: the fields as they are (the caller removed what may not be a trailer).
    mutating func setTrailers(_ fields: HTTPHeaders) {
        removeAll()
        reserve(bytes: fields.bytes.count, fields: fields.count)
        add(fields)
    }
}
