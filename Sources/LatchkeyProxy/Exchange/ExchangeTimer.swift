import LatchkeyNet

/// The one timer of an exchange (`ExchangeStateMachine.Wishes.wakeup`), which its client side lends it.
///
/// An HTTP/1.1 connection runs its exchanges one after another, and each wants a deadline seconds away that
/// it nearly always cancels: armed and taken out of the loop's timer heap per request, that was two heap
/// operations per request, each walking the heap's levels (more of them with more connections). So the
/// connection lends every exchange the same timer, and it is left armed (lazily, as nginx leaves its timers):
/// an exchange that wants a deadline no earlier than the armed one keeps it, and when it fires early the
/// exchange arms it again for what is left, or, when the exchange that wanted it is over, nothing happens.
/// One heap operation per connection per timeout, instead of two per request. An HTTP/2 connection keeps its
/// finished streams' timers for its next streams the same way.
///
/// When the lender goes (the connection closed), its timers leave the heap (`retire`), at once or when the
/// exchange still holding one gives it back: closed connections leave no timers behind.
final class ExchangeTimer: LoopTimerNode, @unchecked Sendable {  // confined to its loop
    /// Whether the timer is left armed between exchanges: until its lender is gone (`retire`).
    private(set) var keptArmed = true
    /// The exchange it serves now; nil between exchanges. Cleared by the exchange when it is done with it
    /// (at the latest in its `deinit`), so the pointer never outlives it.
    unowned(unsafe) var owner: ForwardExchange?
    /// The deadline it is armed for; nil when not armed.
    var armedFor: ExchangeInstant?

    override init() {}

    /// Whether an exchange may take it: no other exchange holds it.
    var isFree: Bool { owner == nil }

    /// Its lender lends it no more (the connection closed, or lends another): out of the heap now when no
    /// exchange holds it, else when that exchange gives it back.
    func retire(on loop: EventLoop) {
        keptArmed = false
        guard owner == nil else { return }
        disarm(on: loop)
    }

    func disarm(on loop: EventLoop) {
        guard armedFor != nil else { return }
        loop.disarm(self)
        armedFor = nil
    }

    override func timerFired() {
        armedFor = nil
        owner?.exchangeTimerFired()
    }
}
