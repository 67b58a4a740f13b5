import LatchkeyNet

/// One end of an in-memory `ByteStream` pair on a single loop: writes reach the peer through
/// `loop.execute`, like bytes crossing a socket; `shutdownWriting` and `close` reach it as EOF.
final class MemoryStream: ByteStream, @unchecked Sendable {
    // @unchecked Sendable: confined to `loop`; it only crosses into closures that run there.
    let loop: EventLoop
    var delegate: (any ByteStreamDelegate)?
    private(set) var pendingWriteBytes = 0
    private weak var peer: MemoryStream?
    private var started = false
    private var closed = false
    private var writeShut = false
    private var paused = false
    private var inbox: [[UInt8]] = []
    private var eofPending = false
    private var eofDelivered = false

    private init(loop: EventLoop) { self.loop = loop }

    /// Two connected ends.
    static func makePair(on loop: EventLoop) -> (MemoryStream, MemoryStream) {
        let a = MemoryStream(loop: loop)
        let b = MemoryStream(loop: loop)
        a.peer = b
        b.peer = a
        return (a, b)
    }

    func start() {
        guard !started else { return }
        started = true
        loop.execute {
            self.delegate?.streamDidBecomeReady(self)
            self.deliverInbox()
        }
    }

    func write(_ bytes: [UInt8]) {
        guard !closed, !writeShut, let peer else { return }
        pendingWriteBytes += bytes.count
        loop.execute {
            self.pendingWriteBytes -= bytes.count
            peer.receive(bytes)
            if self.pendingWriteBytes == 0, !self.closed { self.delegate?.streamDidDrainWrites(self) }
        }
    }

    func setReadingPaused(_ paused: Bool) {
        self.paused = paused
        if !paused { loop.execute { self.deliverInbox() } }
    }

    func shutdownWriting() {
        guard !closed, !writeShut else { return }
        writeShut = true
        let peer = self.peer
        loop.execute { peer?.receiveEOF() }  // queued after the writes already in flight
    }

    func close() {
        guard !closed else { return }
        closed = true
        let peer = self.peer
        loop.execute { peer?.receiveEOF() }
        let delegate = self.delegate
        self.delegate = nil
        delegate?.stream(self, didCloseWith: nil)
    }

    private func receive(_ bytes: [UInt8]) {
        guard !closed else { return }
        inbox.append(bytes)
        deliverInbox()
    }

    private func receiveEOF() {
        eofPending = true
        deliverInbox()
    }

    private func deliverInbox() {
        while started, !paused, !closed, !inbox.isEmpty {
            delegate?.stream(self, didRead: inbox.removeFirst())
        }
        if started, !paused, !closed, inbox.isEmpty, eofPending, !eofDelivered {
            eofDelivered = true
            delegate?.streamDidReachEOF(self)
        }
    }
}
