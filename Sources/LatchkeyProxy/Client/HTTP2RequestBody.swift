import LatchkeyHTTP

/// The request side of one HTTP/2 stream between the session and the exchange: DATA and the end of the
/// request in arrival order, held while the exchange has paused reading. Pure, so each order of events is
/// tested one step at a time (`HTTP2RequestBodyTests`).
///
/// Held DATA is DATA not yet consumed: the client's stream window bounds it (`HTTP2Settings.initialWindowSize`).
/// The adapter pulls with `next(paused:)` one step at a time, so an exchange that finishes while it is being
/// fed (and drops what is held) never sees a chunk twice.
struct HTTP2RequestBody {
    enum State: Equatable {
        /// DATA may still come.
        case receiving
        /// The client ended the stream, with these trailers, behind what is held.
        case ending(trailers: HTTPHeaders)
        /// The end went to the exchange (or was dropped with the rest).
        case complete
    }

    /// What to hand to the exchange next.
    enum Step: Equatable {
        case body([UInt8])
        case end(trailers: HTTPHeaders)
    }

    private(set) var state = State.receiving
    private var held: [[UInt8]] = []
    private(set) var heldBytes = 0

    var isComplete: Bool { state == .complete }

    /// DATA arrived. Returned at once when it may go on now (nothing held, not paused); otherwise held.
    mutating func receive(_ bytes: [UInt8], paused: Bool) -> [UInt8]? {
        guard state == .receiving else { return nil }  // the codec admits no DATA after END_STREAM
        if !paused, held.isEmpty { return bytes }
        held.append(bytes)
        heldBytes += bytes.count
        return nil
    }

    /// The client ended the stream (END_STREAM on DATA or on trailers).
    mutating func receiveEnd(trailers: HTTPHeaders) {
        guard state == .receiving else { return }
        state = .ending(trailers: trailers)
    }

    /// Held DATA while the exchange reads, then the end once nothing is held, whatever the pause (the end adds
    /// nothing to the upstream's backlog). Nil: nothing to hand on now.
    mutating func next(paused: Bool) -> Step? {
        if !held.isEmpty {
            guard !paused else { return nil }
            let chunk = held.removeFirst()
            heldBytes -= chunk.count
            return .body(chunk)
        }
        guard case .ending(let trailers) = state else { return nil }
        state = .complete
        return .end(trailers: trailers)
    }

    /// Nobody will take the request any more (answered, reset, closed): drops what is held and returns its
    /// size, to be consumed (held DATA counts against the connection's window too). A request that had
    /// ended is complete now; one still arriving stays `receiving`, its further DATA dropped by the caller.
    mutating func dropHeld() -> Int {
        let dropped = heldBytes
        held.removeAll()
        heldBytes = 0
        if case .ending = state { state = .complete }
        return dropped
    }

    /// The stream is gone: nothing more arrives.
    mutating func close() -> Int {
        let dropped = dropHeld()
        state = .complete
        return dropped
    }
}
