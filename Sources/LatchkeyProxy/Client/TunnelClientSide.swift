/// The client's end of a `Tunnel`: an HTTP/1.1 `ClientConnection` (its bytes after a CONNECT's 200 or a 101),
/// or one HTTP/2 stream (`HTTP2StreamClient`, a WebSocket over extended CONNECT, RFC 8441) whose DATA frames
/// carry the bytes. Every method is called on the client's loop.
protocol TunnelClientSide: AnyObject {
    /// Bytes written to the client and not yet handed to the kernel (for a stream: not yet framed, plus its
    /// share of the socket's backlog).
    var pendingWriteBytes: Int { get }
    /// Bytes for the client.
    func write(_ bytes: [UInt8])
    /// Back-pressure: stop (true) or resume (false) taking the client's bytes (for a stream: its window).
    func setReadingPaused(_ paused: Bool)
    /// The upstream finished: pass its FIN on (TCP FIN; for a stream END_STREAM).
    func shutdownWriting()
    /// The tunnel is over for `reason`: close now (a connection closes; a stream ends or is reset, see
    /// `HTTP2StreamClient+Tunnel.swift`).
    func endTunnel(_ reason: TunnelStateMachine.CloseReason)
    /// A CONNECT's upstream never connected: answer `error` instead of the 200.
    func tunnelFailed(_ error: ProxyError)
}

extension ClientConnection: TunnelClientSide {
    /// A connection has one way to end: closing it (what was written and not yet sent is dropped).
    func endTunnel(_ reason: TunnelStateMachine.CloseReason) { closeNow() }
}
