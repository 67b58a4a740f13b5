import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

/// A connection on the admin listener: small JSON endpoints for probes and operators.
///
/// Endpoints: see `AdminAPI`.
final class AdminConnection: ByteStreamDelegate, @unchecked Sendable {  // confined to the stream's loop
    private let stream: TCPConnection
    private let server: ProxyServer
    private var parser = HTTP1RequestParser()
    private var current: HTTPRequestHead?
    /// Requests waiting while an earlier one is answered (answers may be asynchronous; order must hold).
    private var waiting: [HTTPRequestHead] = []
    private var answering = false

    init(stream: TCPConnection, server: ProxyServer) {
        self.stream = stream
        self.server = server
    }

    func start() {
        stream.delegate = self
        stream.start()
    }

    func streamDidBecomeReady(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        let events: [HTTP1RequestEvent]
        do {
            events = try parser.feed(bytes)
        } catch {
            self.stream.write(ProxyError(parseError: error).response(close: true))
            self.stream.shutdownWriting()
            return
        }
        for event in events {
            switch event {
            case .head(let head, _): current = head
            case .body: break
            case .end:
                if let head = current { waiting.append(head) }
                current = nil
                answerNext()
            }
        }
    }

    private func answerNext() {
        guard !answering, !waiting.isEmpty else { return }
        answering = true
        answer(waiting.removeFirst())
    }

    private func answer(_ head: HTTPRequestHead) {
        let loop = stream.loop
        var api = AdminAPI(server: server)
        api.peerIsLoopback = stream.remoteAddress.map { UpstreamURL.isLoopbackHost($0.host) } ?? false
        api.requestHeaders = head.headers
        api.respond(method: head.method, target: head.target) { [self] answer in
            loop.execute { self.send(answer, for: head) }
        }
    }

    private func send(_ answer: AdminAPI.Response, for head: HTTPRequestHead) {
        let keepAlive = ClientConnection.wantsKeepAlive(head)
        var response = HTTPResponseHead(status: answer.status, reason: HTTPStatusReason.phrase(for: answer.status))
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
        if keepAlive {
            answerNext()
        } else {
            waiting.removeAll()
            stream.shutdownWriting()
        }
    }

    func streamDidReachEOF(_ stream: any ByteStream) { self.stream.close() }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {}
}
