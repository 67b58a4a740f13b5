extension HTTPHeaders {
    /// Fields that describe one connection, never forwarded by a proxy (RFC 9110 §7.6.1):
    /// `Connection` and every field it names, plus `Keep-Alive`, `Proxy-Connection` (legacy,
    /// RFC 9110 §7.6.1 note), `TE`, `Transfer-Encoding` (RFC 9112 §6.1), `Trailer` and `Upgrade`.
    ///
    /// `Proxy-Authenticate` and `Proxy-Authorization` are *not* removed here: they are addressed
    /// to this proxy and the pipeline handles them itself. A caller that drops `Transfer-Encoding`
    /// must re-frame the body it forwards.
    public static let hopByHopFieldNames = [
        "connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "trailer", "upgrade",
    ]

    /// Fields a `Connection` header may not nominate in a request to this proxy, because removing them as
    /// hop-by-hop would change how the message is framed, where it goes, or what the proxy itself writes
    /// (RFC 9110 §7.6.1: a sender must not nominate fields meant for every recipient; RFC 9112 §6.3: the
    /// framing decides where the next message starts). Such a request is refused, not "repaired".
    /// `Max-Forwards` is here because the proxy rewrites it (RFC 9110 §7.6.2).
    ///
    /// `TE` is deliberately *not* here: RFC 9110 §10.1.4 requires a client that sends `TE` (gRPC sends
    /// `TE: trailers`) to list it in `Connection`. It stays hop-by-hop and is dropped as usual.
    public static let protectedConnectionOptions = [
        "content-length", "transfer-encoding", "host", "via", "max-forwards", "authorization",
        "proxy-authorization",
    ]

    /// The first `Connection` option that names a protected field (see `protectedConnectionOptions`),
    /// or nil. Costs nothing when there is no `Connection` field.
    public func firstProtectedConnectionOption() -> Substring? {
        guard contains(.connection) else { return nil }
        return listElements(for: "connection").first { option in
            Self.protectedConnectionOptions.contains { String(option).asciiCaseInsensitiveEquals($0) }
        }
    }

    /// Removes the hop-by-hop fields from `headers` (see `hopByHopFieldNames`), and in the same pass every
    /// field named in `extra` (lowercase).
    public static func removeHopByHop(from headers: inout HTTPHeaders, alsoRemoving extra: [String] = []) {
        // In place: only the spans change (copied if shared), the bytes stay where they are.
        let nominated = headers.nominatedConnectionOptions()
        let storage = headers.bytes  // the options' bytes stay valid while spans are dropped
        storage.withUnsafeBufferPointer { stored in
            headers.spans.removeAll { span in
                span.known.isHopByHop
                    || isDropped(
                        name: UnsafeBufferPointer(rebasing: stored[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]),
                        named: extra, nominated: nominated, in: stored)
            }
        }
    }

    /// Whether a field named `name` goes because `extra` (lowercase) names it or `Connection` nominated it
    /// (`nominated`: ranges of `stored`).
    @inline(__always)
    private static func isDropped(
        name: UnsafeBufferPointer<UInt8>, named extra: [String], nominated: [Range<Int>], in stored: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        if !extra.isEmpty, extra.contains(where: { equalsIgnoringCase(name, $0) }) { return true }
        return !nominated.isEmpty
            && nominated.contains(where: { equalsIgnoringCase(name, UnsafeBufferPointer(rebasing: stored[$0])) })
    }

    /// Removes the hop-by-hop fields and the `extra` ones (see `removeHopByHop(from:alsoRemoving:)`).
    public mutating func removeHopByHop(alsoRemoving extra: [String] = []) {
        Self.removeHopByHop(from: &self, alsoRemoving: extra)
    }

    /// How much a rewrite will add after `forwarded`, so that the new storage is allocated once.
    public struct Room: Sendable {
        public var fields: Int
        public var bytes: Int
        public init(fields: Int, bytes: Int) {
            self.fields = fields
            self.bytes = bytes
        }
        public static let none = Room(fields: 0, bytes: 0)
    }

    /// The fields a proxy passes on, in their order, in new storage with `room` to spare: without the
    /// hop-by-hop fields (`hopByHopFieldNames` and every field `Connection` names), without the `dropping`
    /// ones and without those named in `alsoDroppingNames` (lowercase). One pass and one allocation each
    /// for bytes and spans: the rewrite of every forwarded head starts here, where removing fields one
    /// name at a time and adding afterwards copied the shared storage and then grew it.
    public func forwarded(
        dropping: KnownFieldNames = [], alsoDroppingNames extra: [String] = [], room: Room
    ) -> HTTPHeaders {
        forwarded(dropping: dropping, alsoDroppingNames: extra, room: room, reusing: HTTPHeaders())
    }

    /// `forwarded(dropping:alsoDroppingNames:room:)` into `storage`: its fields are removed and its buffers,
    /// where nothing else shares them, hold the result (an earlier head's, handed back for reuse).
    public func forwarded(
        dropping: KnownFieldNames = [], alsoDroppingNames extra: [String] = [], room: Room,
        reusing storage: consuming HTTPHeaders
    ) -> HTTPHeaders {
        let dropped = dropping.union(.hopByHop)
        let nominated = nominatedConnectionOptions()
        var result = storage
        result.bytes.removeAll(keepingCapacity: true)
        result.spans.removeAll(keepingCapacity: true)
        result.spans.reserveCapacity(spans.count + room.fields)
        result.bytes.reserveCapacity(bytes.count + room.bytes)
        bytes.withUnsafeBufferPointer { stored in
            // Parsed fields lie back to back in `stored`, or one line end apart (the parser stores whole lines):
            // a run of kept ones is copied in one piece, the line ends between them with it.
            var run = 0..<0
            for span in spans
            where Self.keeps(span, dropped: dropped, alsoDropping: extra, nominated: nominated, in: stored) {
                let nameStart = Int(span.nameStart), nameEnd = nameStart + Int(span.nameCount)
                let valueStart = Int(span.valueStart), valueEnd = valueStart + Int(span.valueCount)
                var copied = span
                if valueStart >= nameEnd, valueStart - nameEnd <= 2 {
                    // Name, separator and value in one piece (a parsed `Name: value` line stays one).
                    if run.isEmpty || !Self.isLineEnd(run.upperBound, nameStart, in: stored) {
                        result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: stored[run]))
                        run = nameStart..<nameStart
                    }
                    let base = result.bytes.count - run.lowerBound  // where the run will land, minus its start
                    copied.nameStart = UInt32(base + nameStart)
                    copied.valueStart = UInt32(base + valueStart)
                    // The line end goes with the field when it is stored right after it: the copy is then
                    // written out in one piece too (`HTTP1Serializer`).
                    let endsLine = valueEnd + 2 <= stored.count && stored[valueEnd] == 0x0D && stored[valueEnd + 1] == 0x0A
                    run = run.lowerBound..<(endsLine ? valueEnd + 2 : valueEnd)
                } else {
                    result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: stored[run]))
                    run = 0..<0
                    copied.nameStart = UInt32(result.bytes.count)
                    result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: stored[nameStart..<nameEnd]))
                    copied.valueStart = UInt32(result.bytes.count)
                    result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: stored[valueStart..<valueEnd]))
                }
                result.spans.append(copied)
            }
            result.bytes.append(contentsOf: UnsafeBufferPointer(rebasing: stored[run]))
        }
        return result
    }

    /// Whether the stored bytes from `end` (a field's end) to `start` (the next one's name) are a line end
    /// and at most two bytes of whitespace after a value, and nothing else: a run of kept fields goes on
    /// over those alone, never over a dropped field's bytes.
    private static func isLineEnd(_ end: Int, _ start: Int, in stored: UnsafeBufferPointer<UInt8>) -> Bool {
        guard start >= end, start - end <= 4 else { return false }
        for index in end..<start {
            let byte = stored[index]
            guard byte == 0x0D || byte == 0x0A || HTTPField.isWhitespace(byte) else { return false }
        }
        return true
    }

    /// `forwarded(dropping:alsoDroppingNames:room:)` in place: the fields it leaves out leave `spans`, and
    /// their bytes stay behind unused. For a head its holder owns and passes on (a response on its way to
    /// the client): when the storage is not shared this copies nothing and allocates nothing, and what the
    /// rewrite adds next (framing, `Via`) lands in the room the parser reserved.
    public mutating func removeFieldsNotForwarded(dropping: KnownFieldNames = []) {
        let dropped = dropping.union(.hopByHop)
        let nominated = nominatedConnectionOptions()
        let stored = bytes  // a second reference for reading while `spans` changes (it is never written)
        stored.withUnsafeBufferPointer { stored in
            // Looked for first: `removeAll` makes shared storage unique even when it removes nothing.
            guard spans.contains(where: { !Self.keeps($0, dropped: dropped, alsoDropping: [], nominated: nominated, in: stored) })
            else { return }
            spans.removeAll { !Self.keeps($0, dropped: dropped, alsoDropping: [], nominated: nominated, in: stored) }
        }
    }

    /// Calls `body` with the name and value of each field `forwarded(dropping:alsoDroppingNames:room:)` keeps,
    /// in order, without copying them anywhere (a translation into another framing, such as HTTP/2's).
    public func forEachForwardedField(
        dropping: KnownFieldNames = [], alsoDroppingNames extra: [String] = [],
        _ body: (_ name: UnsafeBufferPointer<UInt8>, _ value: UnsafeBufferPointer<UInt8>) -> Void
    ) {
        let dropped = dropping.union(.hopByHop)
        let nominated = nominatedConnectionOptions()
        bytes.withUnsafeBufferPointer { stored in
            for span in spans
            where Self.keeps(span, dropped: dropped, alsoDropping: extra, nominated: nominated, in: stored) {
                body(
                    UnsafeBufferPointer(rebasing: stored[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)]),
                    UnsafeBufferPointer(rebasing: stored[Int(span.valueStart)..<Int(span.valueStart + span.valueCount)]))
            }
        }
    }

    /// The one rule of what a proxy passes on: every field but those `dropped` by name (the hop-by-hop ones
    /// among them), those `Connection` nominated (ranges of `stored`) and those named in `extra` (lowercase).
    @inline(__always)
    private static func keeps(
        _ span: Span, dropped: KnownFieldNames, alsoDropping extra: [String], nominated: [Range<Int>],
        in stored: UnsafeBufferPointer<UInt8>
    ) -> Bool {
        guard !dropped.contains(span.known) else { return false }
        let name = UnsafeBufferPointer(rebasing: stored[Int(span.nameStart)..<Int(span.nameStart + span.nameCount)])
        return !isDropped(name: name, named: extra, nominated: nominated, in: stored)
    }

    /// The `Connection` options that name fields not hop-by-hop anyway, as ranges of `bytes` (a response
    /// nearly always has `Connection: keep-alive`, which needs none: the usual case allocates nothing).
    private func nominatedConnectionOptions() -> [Range<Int>] {
        guard contains(.connection) else { return [] }
        var nominated: [Range<Int>] = []
        bytes.withUnsafeBufferPointer { storage in
            forEachListElement(in: .connection) { option in
                if !KnownFieldName(option).isHopByHop {
                    let start = option.baseAddress! - storage.baseAddress!
                    nominated.append(start..<start + option.count)
                }
                return true
            }
        }
        return nominated
    }

    /// Replaces whatever `Content-Length` and `Transfer-Encoding` the fields hold with the ones `framing`
    /// calls for (RFC 9112 §6): `Content-Length: N` in plain decimal (leading zeros never survive),
    /// `Transfer-Encoding: chunked`, or neither for `.none` and `.untilClose`. The one place a forwarded
    /// message's framing is written, so no field the peer sent, and no `Connection` option, can unframe it.
    public mutating func setFraming(_ framing: HTTPBodyFraming) {
        // Rewrites start from `forwarded(dropping: .framing ...)`: usually there is nothing to remove.
        if spans.contains(where: { KnownFieldNames.framing.contains($0.known) }) {
            spans.removeAll { KnownFieldNames.framing.contains($0.known) }
        }
        switch framing {
        case .contentLength(let length): add(name: "Content-Length", known: .contentLength, decimal: length)
        case .chunked: add(name: "Transfer-Encoding", value: "chunked")
        case .none, .untilClose: break
        }
    }
}
