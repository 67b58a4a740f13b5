import CNGHTTP2

/// A header block laid out for nghttp2's `nghttp2_nv` array: pseudo-header fields first, names lowercased
/// (RFC 9113 §8.2.1), all bytes in one buffer so that one allocation serves the whole block. nghttp2 copies
/// the fields while a submit call runs, so the pointers live only inside `withNameValues`.
struct HTTP2FieldList {
    private var storage: [UInt8] = []
    private var entries: [(nameStart: Int, nameCount: Int, valueStart: Int, valueCount: Int)] = []

    /// Room for `capacity` bytes in `fields` fields (grown from empty, the list was reallocated per field).
    init(capacity: Int = 512, fields: Int = 16) {
        storage.reserveCapacity(capacity)
        entries.reserveCapacity(fields)
    }

    mutating func add(pseudo name: StaticString, _ value: String) {
        let nameStart = storage.count
        storage.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        let valueStart = storage.count
        HTTPHeaders.appendUTF8(value, to: &storage)
        entries.append((nameStart, valueStart - nameStart, valueStart, storage.count - valueStart))
    }

    /// Every field of `headers`, names lowercased.
    mutating func add(_ headers: HTTPHeaders) {
        storage.reserveCapacity(storage.count + headers.bytes.count)
        headers.forEachField { name, value in
            let nameStart = storage.count
            // Copied, then lowercased in place: appending byte by byte checked capacity for each.
            storage.append(contentsOf: name)
            storage.withUnsafeMutableBufferPointer { bytes in
                for index in nameStart..<bytes.count { bytes[index] = HTTPHeaders.asciiLowercased(bytes[index]) }
            }
            let valueStart = storage.count
            storage.append(contentsOf: value)
            entries.append((nameStart, name.count, valueStart, value.count))
        }
    }

    /// Calls `body` with the block as `nghttp2_nv`s.
    mutating func withNameValues<R>(_ body: (UnsafePointer<nghttp2_nv>?, Int) -> R) -> R {
        let entries = self.entries
        return storage.withUnsafeMutableBufferPointer { bytes in
            let base = bytes.baseAddress ?? UnsafeMutablePointer<UInt8>(bitPattern: 1)!
            let nameValues = entries.map { entry in
                nghttp2_nv(
                    name: base + entry.nameStart, value: base + entry.valueStart, namelen: entry.nameCount,
                    valuelen: entry.valueCount, flags: UInt8(NGHTTP2_NV_FLAG_NONE.rawValue))
            }
            return nameValues.withUnsafeBufferPointer { body($0.baseAddress, $0.count) }
        }
    }

    /// A request head's block: `:method`, `:scheme`, `:authority`, `:path` (`:protocol`), then the fields.
    static func request(_ head: HTTP2RequestHead) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: head.headers.bytes.count + 128, fields: head.headers.count + 5)
        list.add(pseudo: ":method", head.method)
        if let scheme = head.scheme { list.add(pseudo: ":scheme", scheme) }
        if let authority = head.authority { list.add(pseudo: ":authority", authority) }
        if let path = head.path { list.add(pseudo: ":path", path) }
        if let value = head.protocol { list.add(pseudo: ":protocol", value) }
        list.add(head.headers)
        return list
    }

    /// A response head's block: `:status`, then the fields without the connection-specific ones.
    static func response(_ head: HTTPResponseHead) -> HTTP2FieldList {
        let fields = head.http2Fields
        var list = HTTP2FieldList(capacity: fields.bytes.count + 32, fields: fields.count + 1)
        list.add(pseudo: ":status", String(head.status))
        list.add(fields)
        return list
    }

    /// A trailer block: the fields as they are (the caller removed what may not be a trailer).
    static func trailers(_ fields: HTTPHeaders) -> HTTP2FieldList {
        var list = HTTP2FieldList(capacity: fields.bytes.count, fields: fields.count)
        list.add(fields)
        return list
    }
}
