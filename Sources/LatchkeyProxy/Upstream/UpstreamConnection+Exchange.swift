import LatchkeyHTTP
import LatchkeyNet

/// HTTP/1.1 as the upstream side of an exchange: framing written here (RFC 9112 §6, §7.1).
extension UpstreamConnection: ExchangeUpstream {
    func recycleResponseHeaders(_ headers: consuming HTTPHeaders) { recycleParsedHeaders(&headers) }

    func takeSpareRequestHeaders() -> HTTPHeaders { spareRequestHeaders.take() }
    func keepSpareRequestHeaders(_ headers: inout HTTPHeaders) { spareRequestHeaders.giveBack(&headers) }

    func sendRequest(
        _ head: HTTPRequestHead, framing: HTTPBodyFraming, body: [[UInt8]], end: Bool, trailers: HTTPHeaders
    ) {
        // The connection's own buffer, reused request after request (the stream takes it and gives back its
        // own emptied buffer); a large body gets an array of its own.
        let size = 1024 + body.reduce(0) { $0 + $1.count + 12 }
        var bytes: [UInt8] = []
        if size <= TCPConnection.retainedCapacity { swap(&bytes, &requestOutput) }
        bytes.reserveCapacity(size)
        HTTP1Serializer.appendRequestHead(head, to: &bytes)
        beginRequest(method: head.method)
        for chunk in body { Self.encode(chunk, framing: framing, into: &bytes) }
        if end, framing == .chunked { HTTP1Serializer.appendLastChunk(trailers: trailers, to: &bytes) }
        stream.write(taking: &bytes)
        // Kept unless it grew large (recycled to nothing); a large request left the kept buffer in place.
        if bytes.capacity > requestOutput.capacity { requestOutput = bytes }
    }

    func sendBody(_ chunk: [UInt8], framing: HTTPBodyFraming) {
        guard framing == .chunked else {
            if case .contentLength = framing { write(chunk) }
            return
        }
        var bytes: [UInt8] = []
        HTTP1Serializer.appendChunk(chunk, to: &bytes)
        write(bytes)
    }

    func sendEnd(framing: HTTPBodyFraming, trailers: HTTPHeaders) {
        guard framing == .chunked else { return }
        var bytes: [UInt8] = []
        HTTP1Serializer.appendLastChunk(trailers: trailers, to: &bytes)
        write(bytes)
    }

    private static func encode(_ chunk: [UInt8], framing: HTTPBodyFraming, into bytes: inout [UInt8]) {
        switch framing {
        case .chunked: HTTP1Serializer.appendChunk(chunk, to: &bytes)
        case .contentLength: bytes.append(contentsOf: chunk)
        case .none, .untilClose: break  // a body dropped by a redirect to GET
        }
    }

    var pendingRequestBytes: Int { stream.pendingWriteBytes }

    func setResponseReadingPaused(_ paused: Bool) { stream.setReadingPaused(paused) }

    /// RFC 9112 §9.3: HTTP/1.1 persists unless the response lists "close"; HTTP/1.0 and a body delimited by
    /// closing end with the connection.
    func allowsReuse(after head: HTTPResponseHead, framing: HTTPBodyFraming) -> Bool {
        guard head.version == .http1_1, framing != .untilClose else { return false }
        return !head.headers.hasListElement("close", in: .connection)
    }

    var failedBeforeAnyResponseByte: Bool { requestCount > 1 && !receivedBytesForCurrentRequest }

    func abandon() {
        handler = nil
        close()
    }
}
