import LatchkeyHTTP
import LatchkeyNet

/// A CONNECT tunnel (RFC 9110 §9.3.6) for hosts that match no route: bytes both ways, untouched,
/// with the same back-pressure as forwarded bodies.
final class Tunnel: ByteStreamDelegate, @unchecked Sendable {  // confined to the client loop
    /// Strong on purpose: the client may close while a response is mid-stream, and the exchange must still be
    /// able to call it safely (writes to a closed stream are dropped). The client breaks the cycle by
    /// dropping its exchange when it finishes or closes.
    private let client: ClientConnection
    private let upstream: TCPConnection
    private let host: String
    private let port: Int
    private var established = false
    private var clientDone = false
    private var upstreamDone = false

    /// `admission` refuses addresses the tunnel may not reach (see `DestinationPolicy`), after DNS.
    init(
        client: ClientConnection, host: String, port: Int, loop: EventLoop, connectTimeout: Duration,
        admission: (@Sendable (SocketAddress) -> String?)?
    ) {
        self.client = client
        self.host = host
        self.port = port
        upstream = TCPConnection(
            connectingTo: host, port: port, loop: loop, connectTimeout: connectTimeout, admission: admission)
        upstream.delegate = self
    }

    func start() { upstream.start() }

    /// Bytes from the client, after the 200.
    func clientSent(_ bytes: [UInt8]) {
        upstream.write(bytes)
        if upstream.pendingWriteBytes > ForwardExchange.highWaterMark { client.setReadingPaused(true) }
    }

    func clientReachedEOF() {
        clientDone = true
        upstream.shutdownWriting()
        closeIfBothDone()
    }

    func clientDrained() { upstream.setReadingPaused(false) }

    func close() { upstream.close() }

    // MARK: ByteStreamDelegate (upstream side)

    func streamDidBecomeReady(_ stream: any ByteStream) {
        established = true
        client.write(Array("HTTP/1.1 200 Connection Established\r\n\r\n".utf8))
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        client.write(bytes)
        if client.pendingWriteBytes > ForwardExchange.highWaterMark { upstream.setReadingPaused(true) }
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        upstreamDone = true
        client.shutdownWriting()
        closeIfBothDone()
    }

    func streamDidDrainWrites(_ stream: any ByteStream) { client.setReadingPaused(false) }

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        if !established {
            let code: ProxyError.Code =
                switch error?.code {
                case .connectTimeout: .upstreamConnectTimeout
                case .destinationRefused: .destinationRefused
                default: .upstreamConnectFailed
                }
            client.tunnelFailed(ProxyError(code, error?.detail ?? "CONNECT to \(host):\(port) failed"))
        } else {
            client.closeNow()
        }
    }

    private func closeIfBothDone() {
        if clientDone, upstreamDone {
            upstream.close()
        }
    }
}
