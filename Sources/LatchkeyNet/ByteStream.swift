/// A bidirectional, buffered, non-blocking byte stream owned by one event loop.
///
/// Plain TCP (`TCPConnection`) and TLS (`TLSStream` in LatchkeyTLS) both conform, so the HTTP layer
/// above speaks to either the same way. Every method must be called on `loop`, and every delegate
/// callback arrives on `loop`.
public protocol ByteStream: AnyObject {
    /// The loop that owns this stream.
    var loop: EventLoop { get }
    /// Receives reads, drains and closure. Held strongly until the stream closes, then released.
    var delegate: (any ByteStreamDelegate)? { get set }
    /// Bytes accepted by `write` that the peer has not yet been handed to the kernel.
    var pendingWriteBytes: Int { get }
    /// Starts delivering events (and, for TLS, starts the handshake).
    func start()
    /// Queues `bytes` for writing; never blocks. Writes after `close` are dropped.
    func write(_ bytes: [UInt8])
    /// Queues `bytes` for writing as `write` does and leaves `bytes` empty, with room for the writer's next
    /// message: a writer that keeps one output array hands it over this way. A stream may take the array
    /// itself and give back its own emptied buffer rather than copy the message (`TCPConnection`).
    func write(taking bytes: inout [UInt8])
    /// Stops (`true`) or resumes (`false`) reading: the back-pressure lever.
    func setReadingPaused(_ paused: Bool)
    /// Half-closes the writing side once pending writes are flushed (TCP FIN; TLS close_notify first).
    func shutdownWriting()
    /// Closes now, dropping unflushed writes. The delegate gets `didClose` once (with nil error).
    func close()
}

extension ByteStream {
    /// A copy, then the writer's array emptied (`ByteStream.recycle`).
    public func write(taking bytes: inout [UInt8]) {
        write(bytes)
        Self.recycle(&bytes)
    }

    /// Empties a writer's output array: its storage stays for the next message when small, and goes when
    /// large (a large body should not stay resident with an idle connection).
    public static func recycle(_ output: inout [UInt8]) {
        if output.capacity <= TCPConnection.retainedCapacity {
            output.removeAll(keepingCapacity: true)
        } else {
            output = []
        }
    }
}

/// Events from a `ByteStream`, delivered on the stream's loop.
public protocol ByteStreamDelegate: AnyObject {
    /// The stream is ready for application bytes: TCP connected, or TLS handshake complete.
    func streamDidBecomeReady(_ stream: any ByteStream)
    /// Application bytes arrived.
    func stream(_ stream: any ByteStream, didRead bytes: [UInt8])
    /// Application bytes arrived, lent for this call only: they live in a buffer the stream reuses for its
    /// next read. A delegate that parses them before returning implements this and skips an array per read
    /// (the data path's HTTP/1.1 connections); the default copies them into `stream(_:didRead:)`.
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer)
    /// The peer closed its writing side (EOF). The stream may still be written to.
    func streamDidReachEOF(_ stream: any ByteStream)
    /// All pending writes were handed to the kernel: a place to resume a paused source.
    func streamDidDrainWrites(_ stream: any ByteStream)
    /// The stream is closed; `error` says why when it was not an orderly close. Last event.
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?)
}

extension ByteStreamDelegate {
    public func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        self.stream(stream, didRead: Array(bytes))
    }
}

/// Why a stream or connection attempt failed.
public struct NetError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The kind of failure, for mapping to statuses and metrics.
    public enum Code: String, Sendable {
        case resolveFailed = "resolve_failed"
        case connectFailed = "connect_failed"
        case connectTimeout = "connect_timeout"
        /// Every address of the destination is refused by the connection's `DestinationPolicy`.
        case destinationRefused = "destination_refused"
        case tlsFailed = "tls_failed"
        case reset = "connection_reset"
        case ioFailed = "io_failed"
    }

    /// The kind of failure.
    public let code: Code
    /// A human explanation (never contains secrets: it only ever holds addresses and library reasons).
    public let detail: String

    public init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    public var description: String { "\(code.rawValue): \(detail)" }
}
