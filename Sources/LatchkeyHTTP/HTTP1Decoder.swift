#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The incremental HTTP/1.x decoding state machine shared by `HTTP1RequestParser` and
/// `HTTP1ResponseParser`: line framing, field lines, body framing and the chunked coding.
///
/// Every decision depends only on the bytes seen so far, never on how they were split across
/// `process` calls, so drip-fed, split and coalesced input give the same events and errors.
/// Lines are located with a bounded search (the limit is the search window) and handled straight
/// from the caller's buffer when they arrive whole; only a line split across calls is copied.
struct HTTP1Decoder: Sendable {
    enum Role: Sendable { case request, response }

    enum Event: Sendable {
        /// Appends each of `events`, moved out and turned into `T`, to `output`, and empties `events`
        /// (keeping its capacity): the parsers' hand-over. Mapping a borrowed element copied its payload
        /// (a retain of each head's buffers) only to destroy the original a moment later.
        static func drain<T>(_ events: inout [Event], into output: inout [T], _ transform: (consuming Event) -> T) {
            output.reserveCapacity(output.count + events.count)
            for index in events.indices {
                var event = Event.end
                swap(&event, &events[index])
                output.append(transform(consume event))
            }
            events.removeAllOneByOne()
        }

        case requestHead(HTTPRequestHead, HTTPBodyFraming)
        case responseHead(HTTPResponseHead, HTTPBodyFraming)
        case informational(HTTPResponseHead)
        case body([UInt8])
        /// The trailer section of a chunked body (RFC 9112 §7.1.2), when it holds any field; `.end` follows.
        case trailers(HTTPHeaders)
        case end
    }

    enum State: Sendable {
        case startLine
        case headerLines
        case fixedBody(remaining: Int)
        case chunkSizeLine
        case chunkData(remaining: Int)
        case chunkDataCR
        case chunkDataLF
        case trailerLines
        case untilClose
        /// After CONNECT or 101: the bytes are no longer HTTP and are kept for the tunnel.
        case passthrough
        /// After a request that asked to upgrade (RFC 9110 §7.8), until the proxy knows whether the protocol
        /// switched: later bytes are kept unparsed, as in `passthrough`, and either become tunnel bytes (a 101)
        /// or are parsed as the next request (the upgrade was declined).
        case upgradeHeld
        /// `finishOnEOF` was called.
        case closed
        case failed(HTTP1ParseError)
    }

    let role: Role
    let limits: HTTP1Limits
    var state: State = .startLine
    /// The part of a line received so far, when a line spans `process` calls.
    var lineBuffer: [UInt8] = []
    /// Whether this message's leading empty line (RFC 9112 §2.2) has been used up.
    var skippedEmptyLine = false
    /// Bytes of field lines in the current header or trailer section.
    var sectionBytes = 0
    var sectionCount = 0
    var requestLine: (method: String, target: String, version: HTTPVersion)?
    var statusLine: (version: HTTPVersion, status: Int, reason: String)?
    var headers = HTTPHeaders()
    /// An earlier head's storage handed back (`recycle`): the next head fills it instead of allocating.
    var spareHeaders = SpareHeaderStorage()
    /// Methods of requests whose responses are still due, oldest first (response role).
    var pendingMethods: [String] = []
    var pendingMethodsStart = 0
    /// Bytes received after the connection stopped speaking HTTP (see `State.passthrough`).
    var passthroughBytes: [UInt8] = []
    /// The current message switches the connection to a tunnel once it ends.
    var tunnelAfterMessage = false
    /// The current request asked to upgrade: once it ends, later bytes wait in `upgradeHeld`.
    var holdAfterMessage = false
    /// An interim (1xx) response was seen; the final response is still due.
    var awaitingFinalResponse = false
    /// Response role: bytes arriving while no response is pending are counted, not parsed.
    var expectedResponsesOnly = false
    /// Bytes that arrived while no response was pending (with `expectedResponsesOnly`).
    var unsolicitedByteCount = 0

    init(role: Role, limits: HTTP1Limits) {
        self.role = role
        self.limits = limits
    }

    /// Whether no message is partially received (the connection may close cleanly here).
    var isAtMessageBoundary: Bool {
        switch state {
        case .startLine: lineBuffer.isEmpty && !awaitingFinalResponse
        case .passthrough, .upgradeHeld, .closed: true
        default: false
        }
    }

    /// At a message boundary with no byte of a next message seen, not even a skipped empty line.
    var hasNoBytesSinceLastMessage: Bool {
        guard case .startLine = state else { return false }
        return lineBuffer.isEmpty && !skippedEmptyLine && !awaitingFinalResponse && unsolicitedByteCount == 0
    }

    /// Whether the next byte would start a response nobody asked for (see `expectedResponsesOnly`).
    private var isIdleWithoutPendingResponse: Bool {
        guard expectedResponsesOnly, case .startLine = state else { return false }
        return lineBuffer.isEmpty && !skippedEmptyLine && !awaitingFinalResponse
            && pendingMethodsStart >= pendingMethods.count
    }

    mutating func process(_ input: UnsafeRawBufferPointer, into events: inout [Event]) throws(HTTP1ParseError) {
        if case .failed(let error) = state { throw error }
        do {
            try run(input, into: &events)
        } catch {
            state = .failed(error)
            throw error
        }
    }

    /// Ends the input; `.end` for a body delimited by close, an error inside any other message.
    mutating func finish(into events: inout [Event]) throws(HTTP1ParseError) {
        switch state {
        case .failed(let error):
            throw error
        case .untilClose:
            events.append(.end)
            state = .closed
        case .closed:
            break
        default:
            guard isAtMessageBoundary else {
                let error = HTTP1ParseError(.unexpectedEOF, "the connection closed in the middle of a message")
                state = .failed(error)
                throw error
            }
            state = .closed
        }
    }

    private mutating func run(_ input: UnsafeRawBufferPointer, into events: inout [Event]) throws(HTTP1ParseError) {
        var index = 0
        let count = input.count
        while index < count {
            if expectedResponsesOnly, isIdleWithoutPendingResponse {
                unsolicitedByteCount += count - index
                return
            }
            if case .headerLines = state, lineBuffer.isEmpty,
                let next = try headerLinesInPlace(input, from: index, into: &events)
            {
                index = next
                continue
            }
            switch state {
            case .startLine, .headerLines, .chunkSizeLine, .trailerLines:
                let window = lineWindow()
                let searchEnd = min(count, index + max(0, window - lineBuffer.count))
                // memchr: the line ends are found a machine word or more at a time.
                let lf = index < searchEnd
                    ? memchr(input.baseAddress! + index, 0x0A, searchEnd - index)
                        .map { input.baseAddress!.distance(to: UnsafeRawPointer($0)) } ?? searchEnd
                    : searchEnd
                if lf < searchEnd {
                    if lineBuffer.isEmpty {
                        try handleLine(UnsafeRawBufferPointer(rebasing: input[index..<lf]), into: &events)
                    } else {
                        lineBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<lf]))
                        var line: [UInt8] = []
                        swap(&line, &lineBuffer)
                        let result = line.withUnsafeBytes { bytes in
                            Result { () throws(HTTP1ParseError) in try handleLine(bytes, into: &events) }
                        }
                        line.removeAll(keepingCapacity: true)
                        if lineBuffer.isEmpty { swap(&line, &lineBuffer) }
                        try result.get()
                    }
                    index = lf + 1
                } else {
                    lineBuffer.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<searchEnd]))
                    index = searchEnd
                    if lineBuffer.count >= window { throw lineTooLong() }
                }
            case .fixedBody(let remaining):
                let take = min(remaining, count - index)
                events.append(.body(Array(UnsafeRawBufferPointer(rebasing: input[index..<(index + take)]))))
                index += take
                if take == remaining { endMessage(into: &events) } else { state = .fixedBody(remaining: remaining - take) }
            case .chunkData(let remaining):
                let take = min(remaining, count - index)
                events.append(.body(Array(UnsafeRawBufferPointer(rebasing: input[index..<(index + take)]))))
                index += take
                state = take == remaining ? .chunkDataCR : .chunkData(remaining: remaining - take)
            case .chunkDataCR, .chunkDataLF:
                let expectCR: Bool = if case .chunkDataCR = state { true } else { false }
                let byte = input[index]
                guard byte == (expectCR ? 0x0D : 0x0A) else {
                    throw HTTP1ParseError(
                        .invalidChunkTerminator, "chunk data is not followed by CRLF; found \(HTTP1ParseError.quote(CollectionOfOne(byte)))")
                }
                index += 1
                state = expectCR ? .chunkDataLF : .chunkSizeLine
            case .untilClose:
                events.append(.body(Array(UnsafeRawBufferPointer(rebasing: input[index..<count]))))
                index = count
            case .passthrough, .upgradeHeld:
                passthroughBytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[index..<count]))
                index = count
            case .closed:
                throw HTTP1ParseError(.dataAfterEOF, "bytes arrived after the end of input")
            case .failed(let error):
                throw error
            }
        }
    }

    /// How many bytes, LF included, the current line may occupy before it is refused.
    private func lineWindow() -> Int {
        switch state {
        case .startLine: limits.maxRequestLineBytes + 2
        case .chunkSizeLine: limits.maxChunkSizeLineBytes + 2
        default: max(limits.maxHeaderBytes - sectionBytes, 2)
        }
    }

    private func lineTooLong() -> HTTP1ParseError {
        switch state {
        case .startLine:
            role == .request
                ? HTTP1ParseError(.requestLineTooLong, "the request line is longer than \(limits.maxRequestLineBytes) bytes")
                : HTTP1ParseError(.statusLineTooLong, "the status line is longer than \(limits.maxRequestLineBytes) bytes")
        case .chunkSizeLine:
            HTTP1ParseError(.chunkSizeLineTooLong, "a chunk-size line is longer than \(limits.maxChunkSizeLineBytes) bytes")
        default:
            HTTP1ParseError(.headerSectionTooLarge, "the field section is larger than \(limits.maxHeaderBytes) bytes")
        }
    }

    /// Header field lines that lie whole in `input` from `start` on, handled where they lie: the same checks
    /// in the same order as `handleLine`, so the same events and errors, but without a trip through `run`
    /// per line, and the lines' bytes are copied into the headers' storage in one piece rather than one
    /// line at a time. Nearly every head arrives in one read and goes this way. Returns the index after the
    /// last line handled (after the empty line ending the section, the head is reported), or nil when the
    /// line at `start` is not whole yet: the line-by-line path keeps it.
    private mutating func headerLinesInPlace(
        _ input: UnsafeRawBufferPointer, from start: Int, into events: inout [Event]
    ) throws(HTTP1ParseError) -> Int? {
        let base = input.baseAddress!
        if headers.count == 0 { spareHeaders.provide(to: &headers) }
        let storageOffset = headers.bytes.count - start  // where input[i] lands in the storage, minus i
        var lineStart = start
        let sectionEnd = Result { () throws(HTTP1ParseError) -> Int? in
            while true {
                let searchEnd = min(input.count, lineStart + lineWindow())
                guard lineStart < searchEnd, let found = memchr(base + lineStart, 0x0A, searchEnd - lineStart) else {
                    return nil
                }
                let lf = base.distance(to: UnsafeRawPointer(found))
                let line = try Self.withoutCR(UnsafeRawBufferPointer(start: base + lineStart, count: lf - lineStart))
                if line.isEmpty { return lf + 1 }
                let field = try countAndParseFieldLine(line)
                let name = UnsafeBufferPointer(
                    start: line.baseAddress!.assumingMemoryBound(to: UInt8.self) + field.name.lowerBound,
                    count: field.name.count)
                headers.add(
                    lineAt: storageOffset + lineStart, name: field.name, value: field.value, known: KnownFieldName(name))
                lineStart = lf + 1
            }
        }
        // The lines handled are stored however the loop ended, those before a failing line too: no span ever
        // points past the stored bytes, not even in the headers a failed parse leaves behind.
        headers.appendLines(UnsafeRawBufferPointer(start: base + start, count: lineStart - start))
        if let end = try sectionEnd.get() {
            try endHead(into: &events)
            return end
        }
        return lineStart == start ? nil : lineStart
    }

    /// `raw` (a line without its LF) without the CR it must end in.
    @inline(__always)
    private static func withoutCR(_ raw: UnsafeRawBufferPointer) throws(HTTP1ParseError) -> UnsafeRawBufferPointer {
        // Index and pointer arithmetic rather than `last` and a slice: generic collection code otherwise,
        // called per line.
        guard raw.count > 0, raw[raw.count - 1] == 0x0D else {
            throw HTTP1ParseError(.bareLF, "a line ends in LF without CR: \(HTTP1ParseError.quote(raw))")
        }
        return UnsafeRawBufferPointer(start: raw.baseAddress, count: raw.count - 1)
    }

    /// `raw` is a line without its LF. Checks the line ending and the bytes every line shares.
    private mutating func handleLine(_ raw: UnsafeRawBufferPointer, into events: inout [Event]) throws(HTTP1ParseError) {
        let line = try Self.withoutCR(raw)
        switch state {
        case .headerLines, .trailerLines:
            try handleFieldLine(line, into: &events)
            return
        default:
            if let error = Self.nulOrCR(in: line) { throw error }
        }
        switch state {
        case .startLine:
            if line.isEmpty {
                guard !skippedEmptyLine else {
                    throw HTTP1ParseError(.tooManyEmptyLines, "more than one empty line before a start line")
                }
                skippedEmptyLine = true
                return
            }
            if role == .request {
                requestLine = try HTTP1StartLine.parseRequestLine(line, limit: limits.maxRequestLineBytes)
            } else {
                statusLine = try HTTP1StartLine.parseStatusLine(line, limit: limits.maxRequestLineBytes)
            }
            state = .headerLines
        case .chunkSizeLine:
            let size = try HTTP1ChunkSizeLine.parse(line)
            if size == 0 {
                sectionBytes = 0
                sectionCount = 0
                state = .trailerLines
            } else {
                state = .chunkData(remaining: size)
            }
        default:
            preconditionFailure("handleLine in a non-line state")
        }
    }

    /// A line of a header or trailer section (the empty line ends it).
    private mutating func handleFieldLine(_ line: UnsafeRawBufferPointer, into events: inout [Event]) throws(HTTP1ParseError) {
        if line.isEmpty {
            if case .headerLines = state {
                try endHead(into: &events)
            } else {
                // Trailer fields are handed on (RFC 9110 §6.5); which of them may be forwarded is the
                // caller's rule (a proxy strips framing, routing and credential fields).
                if headers.count > 0 {
                    events.append(.trailers(headers))
                    headers = HTTPHeaders()
                }
                endMessage(into: &events)
            }
            return
        }
        let field = try countAndParseFieldLine(line)
        if case .headerLines = state, headers.count == 0 { spareHeaders.provide(to: &headers) }
        headers.add(fieldLine: line, name: field.name, value: field.value)
    }

    /// A field line (not the empty one) counted against the section's limits, then parsed.
    @inline(__always)
    private mutating func countAndParseFieldLine(
        _ line: UnsafeRawBufferPointer
    ) throws(HTTP1ParseError) -> (name: Range<Int>, value: Range<Int>) {
        // A NUL or CR makes a field line invalid anyway (neither is a token or a value byte), so the search for
        // them runs only when the line fails, to report them first as on every other line.
        do throws(HTTP1ParseError) {
            sectionBytes += line.count + 2
            sectionCount += 1
            if sectionBytes > limits.maxHeaderBytes { throw lineTooLong() }
            if sectionCount > limits.maxHeaderCount {
                throw HTTP1ParseError(.tooManyHeaders, "more than \(limits.maxHeaderCount) field lines")
            }
            return try HTTP1FieldLine.parse(line)
        } catch {
            throw Self.nulOrCR(in: line) ?? error
        }
    }

    /// The error for the first NUL or CR in `line`, as a byte-by-byte scan would report it; nil when it has
    /// neither.
    private static func nulOrCR(in line: UnsafeRawBufferPointer) -> HTTP1ParseError? {
        guard let base = line.baseAddress, !line.isEmpty else { return nil }
        let nul = memchr(base, 0x00, line.count)
        let cr = memchr(base, 0x0D, line.count)
        guard nul != nil || cr != nil else { return nil }
        return nul != nil && (cr == nil || nul! < cr!)
            ? HTTP1ParseError(.nulByte, "a line contains NUL: \(HTTP1ParseError.quote(line))")
            : HTTP1ParseError(.bareCR, "a line contains CR not followed by LF: \(HTTP1ParseError.quote(line))")
    }

    /// Takes back the storage of a head this decoder reported once its user is done with it: the next head
    /// fills it (`SpareHeaderStorage`).
    mutating func recycle(_ headers: inout HTTPHeaders) { spareHeaders.giveBack(&headers) }

    /// The empty line after the header section: decides the framing and reports the head.
    private mutating func endHead(into events: inout [Event]) throws(HTTP1ParseError) {
        let headers = self.headers
        self.headers = HTTPHeaders()
        switch role {
        case .request:
            guard let (method, target, version) = requestLine else { preconditionFailure("no request line") }
            try HTTP1Framing.checkHost(headers, version: version)
            let framing = try HTTP1Framing.requestFraming(headers, version: version)
            events.append(.requestHead(HTTPRequestHead(method: method, target: target, version: version, headers: headers), framing))
            // Only a request naming `Upgrade` may be followed by another protocol; its next bytes wait for the
            // answer. Checking the field costs one scan of the known-name spans.
            holdAfterMessage = headers.contains(.upgrade)
            startBody(framing, into: &events, tunnelAfter: method == "CONNECT")
        case .response:
            guard let (version, status, reason) = statusLine else { preconditionFailure("no status line") }
            let head = HTTPResponseHead(version: version, status: status, reason: reason, headers: headers)
            let declared = try HTTP1Framing.responseFraming(headers, version: version)
            if status >= 100 && status < 200 && status != 101 {
                events.append(.informational(head))
                beginMessage()
                awaitingFinalResponse = true
                return
            }
            let method = pendingMethodsStart < pendingMethods.count ? pendingMethods[pendingMethodsStart] : "GET"
            if pendingMethodsStart < pendingMethods.count {
                pendingMethodsStart += 1
                if pendingMethodsStart == pendingMethods.count {
                    pendingMethods.removeAllOneByOne()
                    pendingMethodsStart = 0
                }
            }
            let tunnel = status == 101 || (method == "CONNECT" && status >= 200 && status < 300)
            let framing: HTTPBodyFraming =
                tunnel || HTTPResponseHead.isBodyless(status: status, requestMethod: method) ? .none : declared
            awaitingFinalResponse = false
            events.append(.responseHead(head, framing))
            startBody(framing, into: &events, tunnelAfter: tunnel)
        }
    }

    private mutating func startBody(_ framing: HTTPBodyFraming, into events: inout [Event], tunnelAfter: Bool) {
        tunnelAfterMessage = tunnelAfter
        switch framing {
        case .none, .contentLength(0):
            endMessage(into: &events)
        case .contentLength(let length):
            state = .fixedBody(remaining: length)
        case .chunked:
            state = .chunkSizeLine
        case .untilClose:
            state = .untilClose
        }
    }

    private mutating func endMessage(into events: inout [Event]) {
        events.append(.end)
        beginMessage()
        if tunnelAfterMessage {
            state = .passthrough
        } else if holdAfterMessage {
            holdAfterMessage = false
            state = .upgradeHeld
        }
    }

    private mutating func beginMessage() {
        state = .startLine
        skippedEmptyLine = false
        sectionBytes = 0
        sectionCount = 0
        requestLine = nil
        statusLine = nil
    }
}
