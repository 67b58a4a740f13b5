import CHiredis

/// hiredis's RESP decoder (`redisReader`), fed with bytes Latchkey read itself: a pure codec, no socket.
///
/// Owns its `redisReader` (freed in `deinit`). Not thread-safe: used on its connection's loop only.
final class RedisReplyReader {
    private let reader: UnsafeMutablePointer<redisReader>
    /// Replies larger than this are refused (a stored token record is a few KiB).
    static let maximumBufferedBytes = 1 << 20
    private var buffered = 0

    init() {
        // redisReaderCreate only fails on allocation failure, where Swift would trap anyway.
        reader = redisReaderCreate()!
    }

    deinit { redisReaderFree(reader) }

    /// Appends bytes read from the connection.
    func feed(_ bytes: [UInt8]) throws(RedisError) {
        buffered += bytes.count
        if buffered > Self.maximumBufferedBytes { throw RedisError(.protocolError, "reply larger than 1 MiB") }
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.baseAddress!.withMemoryRebound(to: CChar.self, capacity: buffer.count) {
                redisReaderFeed(reader, $0, buffer.count)
            }
        }
        if status != REDIS_OK { throw readerError() }
    }

    /// The next complete reply, or nil when more bytes are needed.
    func next() throws(RedisError) -> RedisReply? {
        var object: UnsafeMutableRawPointer?
        guard redisReaderGetReply(reader, &object) == REDIS_OK else { throw readerError() }
        guard let object else { return nil }
        defer { freeReplyObject(object) }
        buffered = 0  // an upper bound is all that matters: reset once a reply is complete
        return Self.copy(object.assumingMemoryBound(to: redisReply.self))
    }

    private func readerError() -> RedisError {
        let message = withUnsafeBytes(of: reader.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        return RedisError(.protocolError, message.isEmpty ? "malformed reply" : message)
    }

    private static func copy(_ reply: UnsafeMutablePointer<redisReply>) -> RedisReply {
        let value = reply.pointee
        func bytes() -> [UInt8] {
            guard let str = value.str else { return [] }
            return Array(UnsafeRawBufferPointer(start: str, count: value.len))
        }
        switch value.type {
        case REDIS_REPLY_STRING: return .bulk(bytes())
        case REDIS_REPLY_STATUS: return .status(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_ERROR: return .error(String(decoding: bytes(), as: UTF8.self))
        case REDIS_REPLY_INTEGER: return .integer(value.integer)
        case REDIS_REPLY_ARRAY:
            return .array((0..<value.elements).map { copy(value.element[$0]!) })
        default: return .null
        }
    }
}
