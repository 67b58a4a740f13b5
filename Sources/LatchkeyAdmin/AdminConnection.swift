import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import LatchkeyProxy

/// A connection on the admin listener: small JSON endpoints for probes and operators.
///
/// Endpoints: see `AdminAPI`. Bounded like a proxy client connection: the socket is read only while no
/// decoded request waits, and the next request is answered only once the write buffer is below
/// `highWaterMark` (a client pipelining `/metrics` without reading stalls itself, not the proxy). Closed
/// after `idle_timeout_ms` without a request; the listener caps connections at `admin_max_connections`.
final class AdminConnection: ByteStreamDelegate, @unchecked Sendable {  // confined to the stream's loop
    /// The write buffer above which no further request is answered (as the proxy's exchanges bound theirs).
    static let highWaterMark = 256 * 1024
    private let stream: TCPConnection
    private let service: AdminService
    private var server: ProxyServer { service.server }
    private var parser = HTTP1RequestParser()
    private var current: HTTPRequestHead?
    /// Requests waiting while an earlier one is answered (answers may be asynchronous; order must hold).
    private var waiting: [HTTPRequestHead] = []
    private var answering = false
    /// `answerNext` is running its loop (answers given synchronously come back into it, not recursively).
    private var pumping = false
    private var closing = false
    private var idleTimer: LoopTimer?

    init(stream: TCPConnection, service: AdminService) {
        self.stream = stream
        self.service = service
    }

    func start() {
        stream.delegate = self
        stream.start()
        armIdleTimer()
    }

    func streamDidBecomeReady(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        guard !closing else { return }
        let events: [HTTP1RequestEvent]
        do {
            events = try parser.feed(bytes)
        } catch {
            closing = true
            waiting.removeAll()
            self.stream.write(ProxyError(parseError: error).response(close: true, scrubber: service.scrubber))
            // FIN after the answer; what the client still sends is read and dropped until it closes or the
            // idle timer fires (closing with unread input would reset the connection and lose the answer).
            self.stream.shutdownWriting()
            self.stream.setReadingPaused(false)
            return
        }
        for event in events {
            switch event {
            case .head(let head, _): current = head
            case .body, .trailers: break
            case .end:
                if let head = current { waiting.append(head) }
                current = nil
                answerNext()
            }
        }
    }

    private func answerNext() {
        defer { updateReading() }
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while !answering, !closing, !waiting.isEmpty, stream.pendingWriteBytes <= Self.highWaterMark {
            answering = true
            idleTimer?.cancel()
            answer(waiting.removeFirst())
        }
    }

    /// Reads only while no decoded request waits: at most one read's worth of requests is held.
    private func updateReading() {
        if !closing { stream.setReadingPaused(!waiting.isEmpty) }
    }

    private func armIdleTimer() {
        idleTimer?.cancel()
        let timeout = Duration.milliseconds(server.runtime.configuration.limits.idleTimeoutMs)
        idleTimer = stream.loop.schedule(after: timeout) { [self] in
            if !answering { stream.close() }
        }
    }

    private func answer(_ head: HTTPRequestHead) {
        let loop = stream.loop
        var api = AdminAPI(service: service)
        api.peerIsLoopback = stream.remoteAddress.map(\.isLoopback) ?? false
        api.requestHeaders = head.headers
        api.respond(method: head.method, target: head.target) { [self] answer in
            loop.execute { self.send(answer, for: head) }
        }
    }

    private func send(_ answer: AdminAPI.Response, for head: HTTPRequestHead) {
        let keepAlive = head.wantsKeepAlive
        var response = HTTPResponseHead(status: answer.status, reason: HTTPReasonPhrase.phrase(for: answer.status))
        response.headers.add(name: "Content-Type", value: answer.contentType)
        response.headers.add(name: "Content-Length", value: String(answer.body.utf8.count))
        response.headers.add(name: "Cache-Control", value: "no-store")
        for (name, value) in answer.headers { response.headers.add(name: name, value: value) }
        if !keepAlive { response.headers.add(name: "Connection", value: "close") }
        var bytes: [UInt8] = []
        HTTP1Serializer.appendResponseHead(response, to: &bytes)
        if head.method != "HEAD" { bytes.append(contentsOf: answer.body.utf8) }
        stream.write(bytes)
        answering = false
        armIdleTimer()
        if keepAlive {
            answerNext()
        } else {
            closing = true
            waiting.removeAll()
            stream.shutdownWriting()
        }
    }

    func streamDidReachEOF(_ stream: any ByteStream) { self.stream.close() }
    func streamDidDrainWrites(_ stream: any ByteStream) { answerNext() }
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        idleTimer?.cancel()
        idleTimer = nil
        waiting.removeAll()
    }
}
