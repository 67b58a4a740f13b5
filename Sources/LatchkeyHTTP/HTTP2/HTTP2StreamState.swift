/// What an `HTTP2Session` keeps for one open stream: the header block being received, and the body this side
/// queued but nghttp2 has not framed yet (it pulls through the data provider as flow control allows).
final class HTTP2StreamState {
    // MARK: Receiving

    /// The header block under way (each HEADERS frame, including trailers, starts a new one).
    var block = HTTPHeaders()
    var blockBytes = 0
    var method: String?
    var scheme: String?
    var authority: String?
    var path: String?
    var `protocol`: String?
    var status: Int?
    /// The block went over `maxHeaderListSize`: the stream is being reset, the rest of it is ignored.
    var blockTooLarge = false
    /// The request (server role) or final response (client role) head arrived: a later HEADERS is trailers.
    var receivedHead = false

    /// `spares`: the session's storage handed back by earlier heads (`HTTP2Session.recycle`).
    func beginBlock(reusing spares: inout SpareHeaderStoragePool) {
        block = HTTPHeaders()
        spares.provide(to: &block)
        blockBytes = 0
        method = nil
        scheme = nil
        authority = nil
        path = nil
        `protocol` = nil
        status = nil
    }

    // MARK: Sending

    /// Body chunks queued, the first possibly partly framed already (`sentOffset` into it).
    var outbound: [[UInt8]] = []
    var sentOffset = 0
    var outboundBytes = 0
    /// `endStream` was called: after the queue, the stream ends (with `trailers` when not empty).
    var outboundEnded = false
    var trailers = HTTPHeaders()
    /// The data provider reported "nothing yet" (NGHTTP2_ERR_DEFERRED): resume it when data or the end comes.
    var deferred = false

    /// Copies up to `capacity` queued bytes to `destination`; returns how many.
    func copyOutbound(to destination: UnsafeMutablePointer<UInt8>, capacity: Int) -> Int {
        var copied = 0
        while copied < capacity, !outbound.isEmpty {
            let count = outbound[0].withUnsafeBufferPointer { chunk in
                let count = min(capacity - copied, chunk.count - sentOffset)
                (destination + copied).update(from: chunk.baseAddress! + sentOffset, count: count)
                return count
            }
            copied += count
            sentOffset += count
            if sentOffset == outbound[0].count {
                outbound.removeFirst()
                sentOffset = 0
            }
        }
        outboundBytes -= copied
        return copied
    }
}
