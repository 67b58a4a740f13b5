/// What an `EventLoop` backend provides. All methods except `execute` and `isInLoop` are called on the loop.
protocol LoopDriver: AnyObject, Sendable {
    /// Queues `work` to run on the loop; callable from any thread.
    func execute(_ work: @escaping @Sendable () -> Void)
    /// Whether the calling thread is running the loop.
    var isInLoop: Bool { get }
    /// Starts watching a descriptor; see `EventLoop.watch`.
    func watch(fd: Int32, handler: any FDEventHandler) -> any FDWatch
    /// A timer was armed: make sure the loop wakes for it.
    func timerArmed()
    /// Runs `item.flushAtEndOfTurn()` after the events at hand (or at once).
    func flushAtEndOfTurn(_ item: any EndOfTurnFlush)
    /// Runs `item.flushAtEndOfTurn()` after the events at hand, never inside the caller's call.
    func flushAfterThisCall(_ item: any EndOfTurnFlush)
}

/// Receives a watched descriptor's readiness, on the loop. Handlers read or write until EAGAIN (or until they
/// stop wanting that direction): readiness is reported once per change, not again for data left unread.
protocol FDEventHandler: AnyObject {
    /// The descriptor may be read (data, EOF or an error is pending).
    func descriptorIsReadable()
    /// The descriptor may be written (or a connect finished, or an error is pending).
    func descriptorIsWritable()
}

/// A descriptor watched by a loop. Readiness is delivered only for the directions wanted; turning reading
/// back on reports the descriptor's current state once (data may have arrived while it was off).
protocol FDWatch: AnyObject {
    /// Which directions the handler wants reported.
    func setInterest(read: Bool, write: Bool)
    /// Stops watching, drops the handler and closes the descriptor once nothing can report on it any more.
    func close()
    /// Inside `descriptorIsReadable`: whether a read that returned less than asked for has emptied the
    /// socket, so the handler may stop without the extra read that would return EAGAIN. True only where
    /// any later arrival is reported again and the report at hand carried no hang-up (epoll, edge-triggered);
    /// a handler that stops early must have read everything that was there.
    var shortReadDrains: Bool { get }
}

/// Something that batches its writes until the loop's turn ends (see `EventLoop.flushAtEndOfTurn`).
public protocol EndOfTurnFlush: AnyObject {
    /// Called once per request for it, on the loop.
    func flushAtEndOfTurn()
}
