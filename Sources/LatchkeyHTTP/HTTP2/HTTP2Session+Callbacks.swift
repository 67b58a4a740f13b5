import CNGHTTP2

#if canImport(Glibc)
import Glibc
#endif

/// nghttp2's callbacks: capture-less C functions that find their `HTTP2Session` through `user_data` and turn
/// what nghttp2 parsed into `HTTP2Event`s (collected during one `receive` or `send`).
extension HTTP2Session {
    static func install(_ callbacks: OpaquePointer) {
        nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            return HTTP2Session.withOwner(userData) { $0.beginHeaders(frame.pointee) }
        }
        nghttp2_session_callbacks_set_on_header_callback(callbacks) { _, frame, name, nameLength, value, valueLength, _, userData in
            guard let frame, let name, let value, let userData else { return 0 }
            return HTTP2Session.withOwner(userData) {
                $0.header(
                    stream: frame.pointee.hd.stream_id, name: UnsafeBufferPointer(start: name, count: nameLength),
                    value: UnsafeBufferPointer(start: value, count: valueLength))
            }
        }
        nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            HTTP2Session.withOwner(userData) { $0.frameReceived(frame.pointee) }
            return 0
        }
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks) { _, _, stream, data, length, userData in
            guard let data, let userData, length > 0 else { return 0 }
            HTTP2Session.withOwner(userData) {
                $0.collected.append(.data(stream: stream, Array(UnsafeBufferPointer(start: data, count: length))))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_stream_close_callback(callbacks) { _, stream, errorCode, userData in
            guard let userData else { return 0 }
            HTTP2Session.withOwner(userData) { session in
                if session.blockUnderWay?.stream == stream { session.endBlockUnderWay() }
                session.streams[stream] = nil
                if !session.stopsAfterEnd.isEmpty { session.stopsAfterEnd.remove(stream) }
                session.collected.append(.streamClosed(stream: stream, HTTP2ErrorCode(rawValue: errorCode)))
            }
            return 0
        }
        nghttp2_session_callbacks_set_on_frame_send_callback(callbacks) { _, frame, userData in
            guard let frame, let userData else { return 0 }
            // Called for every frame sent: only ends of streams, GOAWAY and RST_STREAM concern the session.
            let type = UInt32(frame.pointee.hd.type)
            let endsStream = frame.pointee.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
            guard endsStream || type == NGHTTP2_GOAWAY.rawValue || type == NGHTTP2_RST_STREAM.rawValue else { return 0 }
            HTTP2Session.withOwner(userData) { session in
                if endsStream, !session.stopsAfterEnd.isEmpty { session.sentEnd(stream: frame.pointee.hd.stream_id) }
                switch type {
                case NGHTTP2_GOAWAY.rawValue:
                    session.sentGoAway = HTTP2ErrorCode(rawValue: frame.pointee.goaway.error_code)
                case NGHTTP2_RST_STREAM.rawValue:
                    session.sentReset(
                        stream: frame.pointee.hd.stream_id, code: HTTP2ErrorCode(rawValue: frame.pointee.rst_stream.error_code))
                default:
                    break
                }
            }
            return 0
        }
    }

    /// The body side of a submitted head: nghttp2 pulls the stream's queued bytes through it.
    static var dataProvider: nghttp2_data_provider {
        var provider = nghttp2_data_provider()
        provider.read_callback = { _, stream, buffer, length, flags, _, userData in
            guard let buffer, let flags, let userData else { return Int(NGHTTP2_ERR_CALLBACK_FAILURE.rawValue) }
            return HTTP2Session.withOwner(userData) {
                $0.readData(stream: stream, into: buffer, capacity: length, flags: flags)
            }
        }
        return provider
    }

    /// The session a callback is for, borrowed rather than retained: nghttp2 calls back only from inside a
    /// `receive` or `send` of that session, which holds it alive (a retain and release per header field
    /// otherwise, measured).
    @inline(__always)
    fileprivate static func withOwner<Result>(
        _ userData: UnsafeMutableRawPointer, _ body: (HTTP2Session) -> Result
    ) -> Result {
        Unmanaged<HTTP2Session>.fromOpaque(userData)._withUnsafeGuaranteedRef(body)
    }

    // MARK: Receiving heads

    private func beginHeaders(_ frame: nghttp2_frame) -> Int32 {
        guard frame.hd.type == UInt8(NGHTTP2_HEADERS.rawValue) else { return 0 }
        if blockUnderWay != nil { endBlockUnderWay() }  // never expected: blocks end before the next begins
        let stream = frame.hd.stream_id
        let state: HTTP2StreamState?
        if role == .server, frame.headers.cat == NGHTTP2_HCAT_REQUEST {
            state = HTTP2StreamState()
            streams[stream] = state
        } else {
            state = streams[stream]
        }
        state?.beginBlock(reusing: &spareBlocks)
        blockUnderWay = state.map { (stream, Unmanaged.passUnretained($0)) }
        return 0
    }

    /// The state of `stream` while its header block arrives (see `blockUnderWay`).
    private func receivingState(_ stream: Int32) -> HTTP2StreamState? {
        if let block = blockUnderWay, block.stream == stream { return block.state.takeUnretainedValue() }
        return streams[stream]
    }

    /// The block under way is complete (or its stream closed): its regular fields' bytes move into the head's
    /// storage, where `header` already pointed their spans.
    func endBlockUnderWay() {
        if let block = blockUnderWay, blockFieldBytes.count > 0 {
            block.state._withUnsafeGuaranteedRef { $0.block.appendLines(blockFieldBytes.bytes) }
        }
        blockFieldBytes.removeAll()
        blockUnderWay = nil
    }

    private func header(stream: Int32, name: UnsafeBufferPointer<UInt8>, value: UnsafeBufferPointer<UInt8>) -> Int32 {
        if let block = blockUnderWay, block.stream == stream {
            return block.state._withUnsafeGuaranteedRef {
                header(stream: stream, state: $0, underWay: true, name: name, value: value)
            }
        }
        guard let state = streams[stream] else { return 0 }
        return header(stream: stream, state: state, underWay: false, name: name, value: value)
    }

    /// `underWay`: `state` is the block under way's, whose regular fields' bytes gather in `blockFieldBytes`.
    @inline(__always)
    private func header(
        stream: Int32, state: HTTP2StreamState, underWay: Bool, name: UnsafeBufferPointer<UInt8>,
        value: UnsafeBufferPointer<UInt8>
    ) -> Int32 {
        guard !state.blockTooLarge else { return 0 }
        // RFC 9113 §6.5.2: each field counts its name, its value and 32 bytes of overhead.
        state.blockBytes += name.count + value.count + 32
        guard state.blockBytes <= Int(settings.maxHeaderListSize) else {
            state.blockTooLarge = true
            collected.append(.headersTooLarge(stream: stream))
            // nghttp2 resets the stream and keeps decoding the block, so the HPACK state stays in step.
            return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue
        }
        guard name.first == UInt8(ascii: ":") else {
            guard underWay else {
                state.block.add(name: UnsafeRawBufferPointer(name), value: UnsafeRawBufferPointer(value))
                return 0
            }
            // Spans now, bytes when the block ends: the storage does not change until then, so the bytes land
            // at its current end plus their offset in `blockFieldBytes`.
            let nameOffset = blockFieldBytes.append(name)
            _ = blockFieldBytes.append(value)
            state.block.add(
                lineAt: state.block.bytes.count + nameOffset, name: 0..<name.count,
                value: name.count..<(name.count + value.count), known: KnownFieldName(name))
            return 0
        }
        // nghttp2 has checked the pseudo-header fields: known names, once each, before the regular fields.
        // Each is told by its bytes; only a request's values become Strings, and `:status` (three digits,
        // checked by nghttp2 too) is read as a number.
        if Self.isPseudo(name, ":status") {
            var status = 0
            for byte in value {
                let digit = byte &- UInt8(ascii: "0")
                guard digit < 10 else { return 0 }  // no status: the head is not delivered
                status = status * 10 + Int(digit)
            }
            if value.count == 3 { state.status = status }
        } else if Self.isPseudo(name, ":method") {
            state.method = String(decoding: value, as: UTF8.self)
        } else if Self.isPseudo(name, ":scheme") {
            state.scheme = String(decoding: value, as: UTF8.self)
        } else if Self.isPseudo(name, ":authority") {
            state.authority = String(decoding: value, as: UTF8.self)
        } else if Self.isPseudo(name, ":path") {
            state.path = String(decoding: value, as: UTF8.self)
        } else if Self.isPseudo(name, ":protocol") {
            state.protocol = String(decoding: value, as: UTF8.self)
        }
        return 0
    }

    /// Whether `name` is the pseudo-header field `known` (nghttp2 delivers them lowercase, as sent).
    @inline(__always)
    private static func isPseudo(_ name: UnsafeBufferPointer<UInt8>, _ known: StaticString) -> Bool {
        name.count == known.utf8CodeUnitCount && memcmp(name.baseAddress!, known.utf8Start, name.count) == 0
    }

    private func frameReceived(_ frame: nghttp2_frame) {
        let stream = frame.hd.stream_id
        let endStream = frame.hd.flags & UInt8(NGHTTP2_FLAG_END_STREAM.rawValue) != 0
        switch UInt32(frame.hd.type) {
        case NGHTTP2_HEADERS.rawValue:
            let received = receivingState(stream)
            if blockUnderWay != nil { endBlockUnderWay() }
            guard let state = received, !state.blockTooLarge else { return }
            headersReceived(stream: stream, state: state, endStream: endStream)
        case NGHTTP2_DATA.rawValue:
            if endStream, streams[stream] != nil { collected.append(.end(stream: stream)) }
        case NGHTTP2_RST_STREAM.rawValue:
            peerReset(stream: stream)
        case NGHTTP2_GOAWAY.rawValue:
            let goaway = frame.goaway
            let debug =
                goaway.opaque_data_len > 0 && goaway.opaque_data != nil
                ? String(decoding: UnsafeBufferPointer(start: goaway.opaque_data, count: min(goaway.opaque_data_len, 256)), as: UTF8.self)
                : ""
            collected.append(
                .goAway(lastStreamID: goaway.last_stream_id, HTTP2ErrorCode(rawValue: goaway.error_code), debug: debug))
        case NGHTTP2_SETTINGS.rawValue:
            guard frame.hd.flags & UInt8(NGHTTP2_FLAG_ACK.rawValue) == 0 else { return }
            collected.append(
                .remoteSettings(
                    maxConcurrentStreams: remoteMaxConcurrentStreams,
                    enableConnectProtocol: nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1))
        default:
            break
        }
    }

    /// A stream the peer opened and then reset itself costs the server work for nothing; a burst of them is
    /// the rapid-reset attack (CVE-2023-44487), answered by ending the connection. nghttp2's own guard is
    /// not used: it says INTERNAL_ERROR, and ENHANCE_YOUR_CALM is what tells the peer why.
    private func peerReset(stream: Int32) { spendResetAllowance(stream: stream) }

    /// This side reset a stream. When the code blames the peer (a frame it got wrong: a DATA beyond its
    /// content-length, a zero WINDOW_UPDATE, ...), nghttp2 reset it in answer, and the peer made it happen
    /// as surely as if it had reset the stream itself: "MadeYouReset" (CVE-2025-8671) is the rapid-reset
    /// attack done that way, so such resets spend the same allowance. The proxy's own resets (CANCEL,
    /// INTERNAL_ERROR when an upstream failed, NO_ERROR after a complete response) blame nobody.
    func sentReset(stream: Int32, code: HTTP2ErrorCode) {
        switch code {
        case .protocolError, .flowControlError, .streamClosed, .frameSizeError, .refusedStream, .compressionError:
            spendResetAllowance(stream: stream)
        default:
            break
        }
    }

    private func spendResetAllowance(stream: Int32) {
        guard role == .server, stream % 2 == 1, sentGoAway == nil else { return }
        guard !resetAllowance.take(now: .now) else { return }
        goAway(code: .enhanceYourCalm, debug: "too many streams reset")
        nghttp2_session_terminate_session(session, HTTP2ErrorCode.enhanceYourCalm.rawValue)
    }

    private func headersReceived(stream: Int32, state: HTTP2StreamState, endStream: Bool) {
        // The block moves into the event (a copy would retain its buffers); the stream's next block starts empty.
        var block = HTTPHeaders()
        swap(&block, &state.block)
        if state.receivedHead {
            // nghttp2 admits a later header block only as trailers, which end the stream.
            collected.append(.trailers(stream: stream, block))
            return
        }
        switch role {
        case .server:
            state.receivedHead = true
            let head = HTTP2RequestHead(
                method: state.method ?? "", scheme: state.scheme, authority: state.authority, path: state.path,
                protocol: state.protocol, headers: block)
            collected.append(.request(stream: stream, head, endStream: endStream))
        case .client:
            guard let status = state.status else { return }
            let head = HTTPResponseHead(
                version: .http2, status: status, reason: HTTPReasonPhrase.phrase(for: status), headers: block)
            if status < 200 {
                collected.append(.interimResponse(stream: stream, head))
            } else {
                state.receivedHead = true
                collected.append(.response(stream: stream, head, endStream: endStream))
            }
        }
    }

    // MARK: Sending bodies

    private func readData(
        stream: Int32, into buffer: UnsafeMutablePointer<UInt8>, capacity: Int, flags: UnsafeMutablePointer<UInt32>
    ) -> Int {
        guard let state = streams[stream] else { return Int(NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE.rawValue) }
        let hadBytes = state.outboundBytes > 0
        let copied = state.copyOutbound(to: buffer, capacity: capacity)
        if hadBytes, state.outboundBytes == 0 { collected.append(.dataDrained(stream: stream)) }
        guard state.outboundBytes == 0 else { return copied }
        guard state.outboundEnded else {
            if copied > 0 { return copied }
            state.deferred = true
            return Int(NGHTTP2_ERR_DEFERRED.rawValue)
        }
        flags.pointee |= NGHTTP2_DATA_FLAG_EOF.rawValue
        if state.trailers.count > 0 {
            block.setTrailers(state.trailers)
            let rv = block.withNameValues { nameValues, count in
                nghttp2_submit_trailer(session, stream, nameValues, count)
            }
            if rv == 0 { flags.pointee |= NGHTTP2_DATA_FLAG_NO_END_STREAM.rawValue }
        }
        return copied
    }
}
