/// A loop's reading of the monotonic clock (`MonotonicClock`) for the turn at hand.
///
/// An epoll loop reads the clock once each time `epoll_wait` returns, and everything that turn handles
/// shares the reading (nginx keeps its time per event-loop iteration the same way, `ngx_time_update`). The
/// Dispatch backend has no turns and reads the clock at every call. An exchange wants the time about ten times
/// per request (each event it handles, the access log's durations, its connection's idle mark, the pool's):
/// a vDSO call each, about 1% of the proxy's CPU under load. A reading is at most one turn old, which is
/// microseconds under load; the loop's timers still arm from a fresh reading, so none fires early.
final class LoopClock: @unchecked Sendable {  // written and read on the loop's thread only
    /// The turn's reading; nil where the loop has no turns (Dispatch): every call reads the clock.
    @exclusivity(unchecked) private var turn: UInt64?

    /// The turn's reading, or the clock's when there is no turn.
    @inline(__always)
    var nanoseconds: UInt64 { turn ?? MonotonicClock.nanoseconds() }

    /// Starts a turn: reads the clock and keeps the reading until the next turn.
    func startTurn() -> UInt64 {
        let now = MonotonicClock.nanoseconds()
        turn = now
        return now
    }
}
