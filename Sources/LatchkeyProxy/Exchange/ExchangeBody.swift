/// The request body as one exchange holds it: chunks not yet sent on the current attempt, and everything
/// received so far while it fits the replay limit (a retry, a 401 replay or a followed redirect sends it
/// again). Chunks are kept as received (no copying into one buffer).
struct ExchangeBody {
    /// Replay limit in bytes (`body_buffer_bytes`).
    var limit = 0
    /// Chunks the current attempt has not sent yet.
    private(set) var unsent: [[UInt8]] = []
    private(set) var unsentBytes = 0
    /// Everything received, while `replayable`.
    private(set) var replay: [[UInt8]] = []
    private(set) var replayBytes = 0
    /// False once the body outgrew `limit`: it can no longer go again.
    private(set) var replayable = true

    /// Keeps `chunk` for replay while the whole body so far fits `limit`.
    mutating func received(_ chunk: [UInt8]) {
        guard replayable else { return }
        if replayBytes + chunk.count <= limit {
            replay.append(chunk)
            replayBytes += chunk.count
        } else {
            replayable = false
            replay.removeAll()
            replayBytes = 0
        }
    }

    /// Holds `chunk` until the current attempt can send it.
    mutating func hold(_ chunk: [UInt8]) {
        unsent.append(chunk)
        unsentBytes += chunk.count
    }

    /// Hands over what waits for the current attempt.
    mutating func takeUnsent() -> [[UInt8]] {
        defer {
            unsent = []
            unsentBytes = 0
        }
        return unsent
    }

    /// Prepares another attempt after the head was sent: everything received so far goes again.
    mutating func rewind() {
        unsent = replay
        unsentBytes = replayBytes
    }

    /// A redirect to GET: the body is not sent anywhere any more.
    mutating func drop() {
        unsent = []
        unsentBytes = 0
        replay = []
        replayBytes = 0
    }
}
