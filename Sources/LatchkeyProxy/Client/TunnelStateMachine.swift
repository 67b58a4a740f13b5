/// The decisions of one byte tunnel (a CONNECT passthrough, or a WebSocket after its 101), as a value type:
/// when it opens, when each side's FIN is passed on, when it ends and why, when a side stops being read
/// (back-pressure), and when it has been idle too long.
///
/// It knows sides, byte counts and instants; nothing of sockets, timers or logs. The driver (`Tunnel`) passes
/// bytes through itself (forwarding is not a decision), feeds one `Event` at a time with the current instant,
/// carries out the returned `Action`, and keeps the standing wishes true: `clientReadingPaused`,
/// `upstreamReadingPaused` and `wakeup` (when to deliver `.timer`; the driver may deliver it late or early,
/// the machine checks the time itself).
struct TunnelStateMachine {
    typealias Instant = ExchangeInstant

    enum Side: Equatable { case client, upstream }

    /// Why a tunnel ended, as logged (`latchkey.outcome`).
    enum CloseReason: String, Equatable {
        /// Both sides closed their writing side.
        case closed = "tunnel_closed"
        case clientClosed = "client_closed"
        case upstreamClosed = "upstream_closed"
        case upstreamReset = "upstream_reset"
        case idleTimeout = "idle_timeout"
    }

    /// Where the tunnel stands.
    enum State: Equatable {
        /// CONNECT: the upstream connection is being opened (client bytes wait in its write buffer);
        /// `clientFinished`: the client already sent its FIN, passed on once connected.
        case connecting(clientFinished: Bool)
        /// Bytes flow both ways.
        case open
        /// One side sent its FIN (passed on to the other); the other side still sends.
        case halfClosed(finished: Side)
        /// Ended for `reason`, logged once.
        case closed(CloseReason)
        /// CONNECT: the upstream never connected; the client got an error answer instead. Nothing to log here.
        case failed
    }

    enum Event {
        /// The upstream is connected (CONNECT), or the 101 went to the client (WebSocket): the tunnel opens.
        case connected
        /// Client bytes were written upstream; `upstreamBacklog`: what the upstream has not written yet.
        case clientBytes(Int, upstreamBacklog: Int)
        /// Upstream bytes were written to the client; `clientBacklog`: what the client has not written yet.
        case upstreamBytes(Int, clientBacklog: Int)
        case clientDrained
        case upstreamDrained
        /// That side sent its FIN (end of stream).
        case clientFinished
        case upstreamFinished
        /// The upstream connection closed (`reset`: with an error) or failed to connect.
        case upstreamClosed(reset: Bool)
        /// The client connection closed, or the proxy shuts it.
        case clientClosed
        /// `wakeup` passed.
        case timer
    }

    enum Action: Equatable {
        case none
        /// Announce the tunnel: CONNECT answers `200 Connection Established` and logs it open.
        case open
        /// Pass a FIN on: shut the writing side of that side's connection.
        case shutdownWriting(Side)
        /// The tunnel is over: report it once with `reason`, then close both connections.
        case finish(CloseReason)
        /// CONNECT before it opened: the client closed (close the upstream, nothing to report), or the upstream
        /// failed to connect (answer the client with an error).
        case abandon
        case refuseConnect
    }

    /// Above this many bytes waiting for a side, the other side stops being read.
    static let highWaterMark = ExchangeStateMachine.highWaterMark

    let idleTimeout: Duration
    private(set) var state: State
    private(set) var openedAt: Instant?
    private(set) var lastActivity: Instant
    private(set) var bytesFromClient = 0
    private(set) var bytesToClient = 0
    /// Stop reading the client: the upstream has more than the mark waiting.
    private(set) var clientReadingPaused = false
    /// Stop reading the upstream: the client has more than the mark waiting.
    private(set) var upstreamReadingPaused = false

    /// A tunnel waiting for `.connected` (CONNECT connecting, or a WebSocket about to open).
    init(idleTimeout: Duration, now: Instant) {
        self.idleTimeout = idleTimeout
        state = .connecting(clientFinished: false)
        lastActivity = now
    }

    /// When to deliver `.timer`: the end of the idle time while the tunnel is open; nil otherwise.
    var wakeup: Instant? {
        switch state {
        case .open, .halfClosed: lastActivity + idleTimeout
        case .connecting, .closed, .failed: nil
        }
    }

    var isOpen: Bool {
        switch state {
        case .open, .halfClosed: true
        case .connecting, .closed, .failed: false
        }
    }

    mutating func event(_ event: Event, now: Instant) -> Action {
        switch event {
        case .connected:
            guard case .connecting(let clientFinished) = state else { return .none }
            openedAt = now
            lastActivity = now
            state = clientFinished ? .halfClosed(finished: .client) : .open
            return .open
        case .clientBytes(let count, let backlog):
            bytesFromClient += count
            lastActivity = now
            if backlog > Self.highWaterMark { clientReadingPaused = true }
            return .none
        case .upstreamBytes(let count, let backlog):
            bytesToClient += count
            lastActivity = now
            if backlog > Self.highWaterMark { upstreamReadingPaused = true }
            return .none
        case .clientDrained:
            upstreamReadingPaused = false
            return .none
        case .upstreamDrained:
            clientReadingPaused = false
            return .none
        case .clientFinished:
            return finished(.client)
        case .upstreamFinished:
            return finished(.upstream)
        case .upstreamClosed(let reset):
            switch state {
            case .connecting:
                state = .failed
                return .refuseConnect
            case .open, .halfClosed(finished: .upstream):
                return finish(reset ? .upstreamReset : .upstreamClosed)
            case .halfClosed(finished: .client):
                // The client had finished: the upstream closing after it is the tunnel's normal end.
                return finish(reset ? .upstreamReset : .closed)
            case .closed, .failed:
                return .none
            }
        case .clientClosed:
            switch state {
            case .connecting:
                state = .failed
                return .abandon
            case .open, .halfClosed:
                return finish(.clientClosed)
            case .closed, .failed:
                return .none
            }
        case .timer:
            guard isOpen, now - lastActivity >= idleTimeout else { return .none }
            return finish(.idleTimeout)
        }
    }

    /// A FIN from `side`: passed on to the other side; the second one ends the tunnel.
    private mutating func finished(_ side: Side) -> Action {
        let other: Side = side == .client ? .upstream : .client
        switch state {
        case .connecting:
            // Only the client can finish before the upstream exists; its FIN follows the bytes once connected.
            state = .connecting(clientFinished: true)
            return .shutdownWriting(.upstream)
        case .open:
            state = .halfClosed(finished: side)
            return .shutdownWriting(other)
        case .halfClosed(let earlier) where earlier != side:
            return finish(.closed)
        case .halfClosed, .closed, .failed:
            return .none
        }
    }

    private mutating func finish(_ reason: CloseReason) -> Action {
        state = .closed(reason)
        return .finish(reason)
    }
}
