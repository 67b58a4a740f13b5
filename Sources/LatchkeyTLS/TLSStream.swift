import LatchkeyNet

/// TLS over another `ByteStream` (normally a TCP connection): ciphertext below, plaintext above.
///
/// The TLS stream becomes the underlying stream's delegate on `start()` and presents the usual
/// `ByteStream` contract to its own delegate: `streamDidBecomeReady` once the handshake completed,
/// decrypted bytes in `stream(_:didRead:)`, `streamDidReachEOF` on the peer's close_notify (or on a
/// bare TCP EOF after the handshake — the layer above decides whether its framing tolerates that;
/// `engine.hasReceivedCloseNotify` tells the two apart), and a single `didCloseWith` at the end.
/// Handshake and record failures close the stream with `NetError(.tlsFailed, reason)`, where the
/// reason is `TLSError.description` (e.g. "certificate verify failed: hostname mismatch: …").
///
/// Confinement: every method and callback runs on `loop` (the underlying stream's loop); the class
/// is not Sendable and needs no locks.
public final class TLSStream: ByteStream, ByteStreamDelegate {
    // Internal (not private) so TLSStream+Events.swift can reach them; nothing else touches them.
    enum State { case idle, waitingForUnderlying, handshaking, open, closed }

    /// The session; read its negotiated parameters (`negotiatedALPN`, …) but do not drive it.
    public let engine: TLSEngine
    /// Receives plaintext events. Held strongly until the stream closes, then released.
    public var delegate: (any ByteStreamDelegate)?

    let underlying: any ByteStream
    let underlyingIsReady: Bool
    var state = State.idle
    var pendingPlaintext: [UInt8] = []  // written before the handshake completed
    var writeShutdownRequested = false
    var readingPausedByDelegate = false
    var deliveredEOF = false
    /// The handshake is suspended until CRL fetches settle: ciphertext arriving meanwhile is only buffered
    /// (advancing now would re-run verification before the data is there).
    var awaitingRevocationData = false

    /// Wraps `underlying` with `engine`.
    ///
    /// - Parameter underlyingIsReady: `true` when `underlying` is already started and connected
    ///   (e.g. after a plaintext CONNECT exchange): `start()` then begins the handshake at once and
    ///   does not start `underlying` again. `false`: `start()` starts `underlying` and the handshake
    ///   begins when it reports ready.
    public init(underlying: any ByteStream, engine: TLSEngine, underlyingIsReady: Bool = false) {
        self.underlying = underlying
        self.engine = engine
        self.underlyingIsReady = underlyingIsReady
    }

    /// A client TLS stream to `serverName` (SNI and verification name) at `peer` (resumption key),
    /// see `TLSEngine`.
    public convenience init(
        underlying: any ByteStream, context: TLSClientContext, serverName: String, peer: String? = nil,
        underlyingIsReady: Bool = false
    ) throws(TLSError) {
        self.init(
            underlying: underlying, engine: try TLSEngine(context: context, serverName: serverName, peer: peer),
            underlyingIsReady: underlyingIsReady)
    }

    /// A server TLS stream; with `requiredServerName`, a client whose SNI names another host fails
    /// the handshake (see `TLSEngine.init(context:requiredServerName:)`).
    public convenience init(
        underlying: any ByteStream, context: TLSServerContext, requiredServerName: String? = nil,
        underlyingIsReady: Bool = false
    ) throws(TLSError) {
        self.init(
            underlying: underlying, engine: try TLSEngine(context: context, requiredServerName: requiredServerName),
            underlyingIsReady: underlyingIsReady)
    }

    // MARK: ByteStream

    /// The underlying stream's loop.
    public var loop: EventLoop { underlying.loop }

    /// The application protocol the server chose by ALPN (`h2`, `http/1.1`), once the handshake completed;
    /// nil when none was negotiated.
    public var negotiatedProtocol: String? { engine.isHandshakeComplete ? engine.negotiatedALPN : nil }

    /// Plaintext buffered until the handshake completes plus the underlying stream's pending bytes.
    public var pendingWriteBytes: Int { pendingPlaintext.count + underlying.pendingWriteBytes }

    /// Takes over the underlying stream's events and starts it (or the handshake, see `init`).
    public func start() {
        loop.assertInLoop()
        guard state == .idle else { return }
        underlying.delegate = self
        if underlyingIsReady {
            beginHandshake()
        } else {
            state = .waitingForUnderlying
            underlying.start()
        }
    }

    /// Encrypts and sends `bytes`; before the handshake completes they are buffered. Dropped after
    /// `shutdownWriting` or `close`.
    public func write(_ bytes: [UInt8]) {
        loop.assertInLoop()
        guard state != .closed, !writeShutdownRequested, !bytes.isEmpty else { return }
        if state == .open {
            encryptAndSend(bytes)
        } else {
            pendingPlaintext.append(contentsOf: bytes)
        }
    }

    /// Pauses or resumes reading from the underlying stream. A pause requested during the handshake
    /// takes effect once it completes (the handshake itself must keep reading).
    public func setReadingPaused(_ paused: Bool) {
        loop.assertInLoop()
        readingPausedByDelegate = paused
        if state == .open { underlying.setReadingPaused(paused) }
    }

    /// Sends close_notify after the pending writes, then half-closes the underlying stream. Before
    /// the handshake completes this is deferred until it does.
    public func shutdownWriting() {
        loop.assertInLoop()
        guard state != .closed, !writeShutdownRequested else { return }
        writeShutdownRequested = true
        if state == .open { performShutdownWriting() }
    }

    /// Closes the stream and the underlying stream now. The delegate gets `didCloseWith(nil)` once.
    public func close() {
        loop.assertInLoop()
        finish(with: nil)
    }
}
