import CLatchkeyShims
import CNGHTTP2

/// One HTTP/2 connection's protocol state, over nghttp2 in memory mode: bytes in, events out; submissions in,
/// bytes out. It never touches a socket, so the same session serves TCP, TLS and the fuzzer, and the adapter
/// that owns it decides when to read and write.
///
/// nghttp2 validates the messaging itself (RFC 9113 §8: pseudo-header fields, forbidden connection-specific
/// fields, `content-length` against the DATA received) and answers a malformed stream with RST_STREAM and a
/// connection error with GOAWAY. This type adds what a proxy needs on top: header lists bounded by
/// `HTTP2Settings.maxHeaderListSize`, manual flow control (`consume`: the peer sends more only as fast as the
/// other side of the proxy takes it), body queues per stream, and heads as Latchkey's HTTP types.
///
/// A server session expects the client's 24-byte connection preface first: an adapter that sniffed it feeds
/// those bytes too. A client session sends its preface with its first `send`.
///
/// Not thread-safe: one owner (the connection's event loop) calls everything.
public final class HTTP2Session {
    public enum Role: Sendable { case client, server }

    public let role: Role
    public let settings: HTTP2Settings
    let session: OpaquePointer
    /// Where nghttp2 allocates the session's small blocks (`latchkey_block_pool`): freed ones are reused.
    private let blockPool: OpaquePointer
    var streams = StreamTable<HTTP2StreamState>()
    /// The stream whose header block nghttp2 is delivering field by field (a block's frames are contiguous,
    /// RFC 9113 §6.10): each field's callback finds it here instead of hashing the stream id again. Unretained:
    /// `streams` owns the state, and a stream's close ends its block before the state leaves `streams` (a
    /// retain and release per field otherwise).
    var blockUnderWay: (stream: Int32, state: Unmanaged<HTTP2StreamState>)?
    /// The regular fields' bytes of the block under way, until it ends (`endBlockUnderWay`).
    var blockFieldBytes = HeaderBlockBytes()
    /// Events the callbacks produce during one `receive` or `send`; swapped with the caller's array.
    var collected: [HTTP2Event] = []
    /// The code of the GOAWAY this side sent, once it sent one (for the log: why the connection ended).
    public internal(set) var sentGoAway: HTTP2ErrorCode?
    /// Rapid-reset guard (CVE-2023-44487): resets of peer-opened streams the peer may still make now.
    var resetAllowance: ResetAllowance
    /// Streams whose request is to be stopped once their response's last frame is sent
    /// (`stopRequestAfterResponse`); each leaves when that frame goes out or the stream closes.
    var stopsAfterEnd: Set<Int32> = []
    /// The header block being submitted: one list reused for every head and trailer section this session
    /// sends (`HTTP2FieldList.removeAll`); nghttp2 copies the block during the submit call.
    var block = HTTP2FieldList(capacity: HTTP2FieldList.initialBytes, fields: HTTP2FieldList.initialFields)
    /// Received heads' header storage handed back once their users are done with them (`recycle`): the next
    /// header blocks fill it instead of allocating.
    var spareBlocks: SpareHeaderStoragePool

    public init(role: Role, settings: HTTP2Settings = HTTP2Settings()) throws(HTTP2Error) {
        self.role = role
        self.settings = settings
        resetAllowance = ResetAllowance(burst: settings.resetBurst, ratePerSecond: settings.resetRatePerSecond)
        // An upstream session carries the streams of every client on its loop, a client's session its own few.
        spareBlocks = SpareHeaderStoragePool(limit: role == .client ? 32 : 8)
        var callbacks: OpaquePointer?
        guard nghttp2_session_callbacks_new(&callbacks) == 0, let callbacks else {
            throw HTTP2Error(.internalError, "out of memory for nghttp2 callbacks")
        }
        defer { nghttp2_session_callbacks_del(callbacks) }
        HTTP2Session.install(callbacks)
        var option: OpaquePointer?
        guard nghttp2_option_new(&option) == 0, let option else {
            throw HTTP2Error(.internalError, "out of memory for nghttp2 options")
        }
        defer { nghttp2_option_del(option) }
        // The window opens only as the application consumes (back-pressure), never by itself.
        nghttp2_option_set_no_auto_window_update(option, 1)
        // No priority tree of closed streams to keep (memory per connection stays bounded).
        nghttp2_option_set_no_closed_streams(option, 1)
        // nghttp2's own rapid-reset guard (Debian's backport, burst 1000, 33/s) would fire first and say
        // INTERNAL_ERROR: out of the way, so `peerReset` answers with ENHANCE_YOUR_CALM.
        nghttp2_option_set_stream_reset_rate_limit(option, UInt64(UInt32.max), UInt64(UInt32.max))
        guard let pool = latchkey_block_pool_create(Self.blockPoolCachedBytes(role)) else {
            throw HTTP2Error(.internalError, "out of memory for an nghttp2 block pool")
        }
        var memory = nghttp2_mem(
            mem_user_data: UnsafeMutableRawPointer(pool), malloc: latchkey_block_pool_malloc,
            free: latchkey_block_pool_free, calloc: latchkey_block_pool_calloc, realloc: latchkey_block_pool_realloc)
        // A box for `self` is needed before `self` is complete: nghttp2 gets an unretained pointer to it.
        var created: OpaquePointer?
        let placeholder = UnsafeMutableRawPointer(bitPattern: 1)!
        let rv: Int32 =
            switch role {
            case .client: nghttp2_session_client_new3(&created, callbacks, placeholder, option, &memory)
            case .server: nghttp2_session_server_new3(&created, callbacks, placeholder, option, &memory)
            }
        guard rv == 0, let created else {
            latchkey_block_pool_destroy(pool)
            throw HTTP2Error(.internalError, "nghttp2 session: \(Self.describe(rv))")
        }
        session = created
        blockPool = pool
        nghttp2_session_set_user_data(session, Unmanaged.passUnretained(self).toOpaque())
        try submitSettings()
    }

    deinit {
        nghttp2_session_del(session)
        latchkey_block_pool_destroy(blockPool)  // after the session, which frees its blocks into the pool
    }

    /// Freed blocks a session keeps for reuse, at most. A request's header buffers and stream and frame
    /// records are about a dozen blocks, a few KiB. An upstream session carries every client's streams on its
    /// loop, a few dozen at once; a client's session carries that client's few, and there may be a
    /// thousand of them, so each keeps little (what it does not keep goes back to malloc).
    static func blockPoolCachedBytes(_ role: Role) -> Int {
        switch role {
        case .client: 64 * 1024
        case .server: 8 * 1024
        }
    }

    /// Bytes of freed blocks the session's pool keeps now (for tests).
    var blockPoolCachedBytes: Int { latchkey_block_pool_cached_bytes(blockPool) }

    private func submitSettings() throws(HTTP2Error) {
        var entries = [
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS.rawValue), value: settings.maxConcurrentStreams),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE.rawValue), value: settings.initialWindowSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE.rawValue), value: settings.maxHeaderListSize),
            nghttp2_settings_entry(
                settings_id: Int32(NGHTTP2_SETTINGS_HEADER_TABLE_SIZE.rawValue), value: settings.headerTableSize),
            // RFC 9218 §2.1: no RFC 7540 priority signals from this side (a proxy sends none) and none obeyed.
            // nghttp2 then schedules streams by urgency alone instead of keeping RFC 7540's dependency tree,
            // whose upkeep was a share of every stream's cost; a peer that does not know the setting ignores
            // it (RFC 9113 §6.5.2).
            nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES.rawValue), value: 1),
        ]
        switch role {
        case .client:
            // A proxy has nowhere to deliver pushed responses.
            entries.append(nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_PUSH.rawValue), value: 0))
        case .server:
            if settings.enableConnectProtocol {
                entries.append(
                    nghttp2_settings_entry(settings_id: Int32(NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL.rawValue), value: 1))
            }
        }
        try check(nghttp2_submit_settings(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), &entries, entries.count), "SETTINGS")
        if settings.connectionWindowSize > 65_535 {
            try check(
                nghttp2_session_set_local_window_size(
                    session, UInt8(NGHTTP2_FLAG_NONE.rawValue), 0, Int32(clamping: settings.connectionWindowSize)),
                "connection window")
        }
    }

    // MARK: Bytes in, bytes out

    /// Feeds bytes from the peer; appends what they meant to `events`. Throws on a connection error the
    /// session cannot continue after (a GOAWAY is queued where the protocol allows one: `send`, write, close).
    public func receive(_ bytes: UnsafeRawBufferPointer, into events: inout [HTTP2Event]) throws(HTTP2Error) {
        swap(&collected, &events)
        defer { swap(&collected, &events) }
        guard let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), !bytes.isEmpty else { return }
        let consumed = nghttp2_session_mem_recv(session, base, bytes.count)
        guard consumed >= 0 else {
            let error = Self.connectionError(Int32(consumed))
            nghttp2_session_terminate_session(session, error.code.rawValue)
            throw error
        }
    }

    public func receive(_ bytes: [UInt8], into events: inout [HTTP2Event]) throws(HTTP2Error) {
        var failure: HTTP2Error?
        bytes.withUnsafeBytes { buffer in
            do throws(HTTP2Error) { try receive(buffer, into: &events) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    /// Appends every frame ready to go to `output`, and the events sending produced (`.dataDrained`,
    /// `.streamClosed`) to `events`. Call after each `receive` and after submissions; write `output` at once.
    public func send(into output: inout [UInt8], events: inout [HTTP2Event]) throws(HTTP2Error) {
        swap(&collected, &events)
        defer { swap(&collected, &events) }
        while true {
            var frames: UnsafePointer<UInt8>?
            let count = nghttp2_session_mem_send(session, &frames)
            guard count >= 0 else { throw Self.connectionError(Int32(count)) }
            guard count > 0, let frames else { return }
            output.append(contentsOf: UnsafeBufferPointer(start: frames, count: count))
        }
    }

    /// False once neither side has anything more to say (GOAWAY both ways, or a fatal error): close.
    public var isActive: Bool { nghttp2_session_want_read(session) != 0 || nghttp2_session_want_write(session) != 0 }

    /// Whether frames wait for `send`.
    public var wantsToSend: Bool { nghttp2_session_want_write(session) != 0 }

    /// How many streams the peer lets this side open at once (100 until its SETTINGS say).
    public var remoteMaxConcurrentStreams: UInt32 {
        nghttp2_session_get_remote_settings(session, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
    }

    /// Streams this session still keeps state for.
    public var activeStreamCount: Int { streams.count }

    /// The highest stream the peer opened that this side processed (a GOAWAY's last-stream-id).
    public var lastProcessedStreamID: Int32 { nghttp2_session_get_last_proc_stream_id(session) }

    // MARK: Heads

    /// Client role: opens a stream with `head`; returns its id. `endStream`: no body follows.
    public func submitRequest(_ head: HTTP2RequestHead, endStream: Bool) throws(HTTP2Error) -> Int32 {
        block.setRequest(head)
        return try submitRequest(&block, endStream: endStream)
    }

    /// Client role: opens a stream with `HTTP2RequestHead(head, scheme:authority:)`, translated straight into
    /// the header block (a proxy's upstream request, where the head is used once); returns its id.
    public func submitRequest(
        translating head: HTTPRequestHead, scheme: String, authority: String, endStream: Bool
    ) throws(HTTP2Error) -> Int32 {
        block.setRequest(translating: head, scheme: scheme, authority: authority)
        return try submitRequest(&block, endStream: endStream)
    }

    private func submitRequest(_ fields: inout HTTP2FieldList, endStream: Bool) throws(HTTP2Error) -> Int32 {
        guard role == .client else { throw HTTP2Error(.internalError, "a server session cannot send requests") }
        let state = HTTP2StreamState()
        let id = fields.withNameValues { nameValues, count in
            if endStream { return nghttp2_submit_request(session, nil, nameValues, count, nil, nil) }
            var provider = Self.dataProvider
            return nghttp2_submit_request(session, nil, nameValues, count, &provider, nil)
        }
        try check(id, "request")
        streams[id] = state
        return id
    }

    /// Server role: the final response head for `stream`. `endStream`: no body follows.
    public func submitResponse(stream: Int32, _ head: HTTPResponseHead, endStream: Bool) throws(HTTP2Error) {
        guard role == .server else { throw HTTP2Error(.internalError, "a client session cannot send responses") }
        block.setResponse(head)
        let rv = block.withNameValues { nameValues, count in
            if endStream { return nghttp2_submit_response(session, stream, nameValues, count, nil) }
            var provider = Self.dataProvider
            return nghttp2_submit_response(session, stream, nameValues, count, &provider)
        }
        try check(rv, "response on stream \(stream)")
    }

    /// Server role: an interim (1xx) response for `stream`.
    public func submitInterimResponse(stream: Int32, _ head: HTTPResponseHead) throws(HTTP2Error) {
        block.setResponse(head)
        let rv = block.withNameValues { nameValues, count in
            nghttp2_submit_headers(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, nil, nameValues, count, nil)
        }
        try check(rv, "interim response on stream \(stream)")
    }

    /// Takes back the storage of a head this session reported, once nothing needs it any more: the next
    /// header block received fills it (`SpareHeaderStoragePool`).
    public func recycle(_ headers: inout HTTPHeaders) { spareBlocks.giveBack(&headers) }

    /// Empty header storage with room for a usual head: one handed back (`recycle`) when there is one. A
    /// client connection builds each request's HTTP/1.1-shaped head in it (`HTTP2RequestHead.http1Head`).
    public func takeSpareHeaders() -> HTTPHeaders { spareBlocks.take() }

    // MARK: Bodies

    /// Queues body bytes for `stream`; they are framed as flow control allows. Dropped if the stream is gone.
    public func sendData(stream: Int32, _ bytes: [UInt8]) {
        guard !bytes.isEmpty, let state = streams[stream], !state.outboundEnded else { return }
        state.outbound.append(bytes)
        state.outboundBytes += bytes.count
        resumeIfDeferred(stream, state)
    }

    /// Ends `stream` after its queued data, with `trailers` when not empty (the caller removed what may not
    /// be a trailer). Only for a stream whose head was submitted with `endStream: false`.
    public func endStream(stream: Int32, trailers: HTTPHeaders = HTTPHeaders()) {
        guard let state = streams[stream], !state.outboundEnded else { return }
        state.outboundEnded = true
        state.trailers = trailers
        resumeIfDeferred(stream, state)
    }

    /// Bytes queued for `stream` and not framed yet (back-pressure: stop feeding past a mark).
    public func pendingDataBytes(stream: Int32) -> Int { streams[stream]?.outboundBytes ?? 0 }

    /// The application took `count` bytes of `stream`'s DATA off the session's hands: the peer may send that
    /// much more (a WINDOW_UPDATE goes with the next `send`). Also for a stream that has closed since.
    public func consume(stream: Int32, count: Int) {
        guard count > 0 else { return }
        _ = nghttp2_session_consume(session, stream, count)
    }

    private func resumeIfDeferred(_ stream: Int32, _ state: HTTP2StreamState) {
        guard state.deferred else { return }
        state.deferred = false
        _ = nghttp2_session_resume_data(session, stream)
    }

    // MARK: Ending

    /// Server role, after the response on `stream` was ended (`endStream`, or a head with `endStream: true`):
    /// a client still sending its request is asked to stop with RST_STREAM(NO_ERROR), which RFC 9113 §8.1
    /// provides for a server that answered in full. Sent once the frame that ends the response has gone out:
    /// nghttp2 drops what is still queued for a stream it is resetting. Without it the stream would stay
    /// half-closed for as long as the client likes, holding its connection open.
    public func stopRequestAfterResponse(stream: Int32) {
        guard role == .server, nghttp2_session_get_stream_remote_close(session, stream) == 0 else { return }
        if nghttp2_session_get_stream_local_close(session, stream) == 1 {
            resetStream(stream: stream, code: .noError)
        } else {
            stopsAfterEnd.insert(stream)
        }
    }

    /// The frame ending this side of `stream` went out (see `stopRequestAfterResponse`).
    func sentEnd(stream: Int32) {
        guard stopsAfterEnd.remove(stream) != nil,
            nghttp2_session_get_stream_remote_close(session, stream) == 0  // 1: the request ended meanwhile
        else { return }
        resetStream(stream: stream, code: .noError)
    }

    public func resetStream(stream: Int32, code: HTTP2ErrorCode) {
        _ = nghttp2_submit_rst_stream(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), stream, code.rawValue)
    }

    /// GOAWAY with the last stream this side processed: streams above it were not, and may be retried.
    public func goAway(code: HTTP2ErrorCode, debug: String = "") {
        var debugBytes = Array(debug.utf8.prefix(256))
        _ = nghttp2_submit_goaway(
            session, UInt8(NGHTTP2_FLAG_NONE.rawValue), lastProcessedStreamID, code.rawValue, &debugBytes,
            debugBytes.count)
    }

    /// A PING (keep-alive for an idle connection; the peer's ACK is handled inside).
    public func ping() { _ = nghttp2_submit_ping(session, UInt8(NGHTTP2_FLAG_NONE.rawValue), nil) }

    // MARK: Errors

    func check(_ rv: Int32, _ what: @autoclosure () -> String) throws(HTTP2Error) {
        guard rv < 0 else { return }
        let code: HTTP2ErrorCode = rv == NGHTTP2_ERR_STREAM_ID_NOT_AVAILABLE.rawValue ? .refusedStream : .internalError
        throw HTTP2Error(code, "\(what()): \(Self.describe(rv))")
    }

    static func describe(_ rv: Int32) -> String { String(cString: nghttp2_strerror(rv)) }

    /// What a negative result of `mem_recv`/`mem_send` means for the connection.
    static func connectionError(_ rv: Int32) -> HTTP2Error {
        switch rv {
        case NGHTTP2_ERR_BAD_CLIENT_MAGIC.rawValue:
            HTTP2Error(.protocolError, "the client did not send the HTTP/2 connection preface")
        case NGHTTP2_ERR_FLOODED.rawValue:
            HTTP2Error(.enhanceYourCalm, "the peer flooded the connection with frames that need answers")
        case NGHTTP2_ERR_NOMEM.rawValue:
            HTTP2Error(.internalError, "out of memory")
        default:
            HTTP2Error(.protocolError, describe(rv))
        }
    }
}
