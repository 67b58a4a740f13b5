import LatchkeyHTTP
import LatchkeyNet

/// A connection on the admin listener: small JSON endpoints for probes and operators.
///
/// `GET /healthz` answers 200 while the process serves; `GET /readyz` 200 once listeners are up.
final class AdminConnection: ByteStreamDelegate {
    private let stream: TCPConnection
    private let server: ProxyServer
    private var parser = HTTP1RequestParser()
    private var current: HTTPRequestHead?

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
                if let head = current { answer(head) }
                current = nil
            }
        }
    }

    private func answer(_ head: HTTPRequestHead) {
        let path = RequestPlanner.pathOnly(head.target)
        let (status, body): (Int, String)
        switch (head.method, path) {
        case ("GET", "/healthz"), ("HEAD", "/healthz"): (status, body) = (200, "{\"status\":\"ok\"}\n")
        case ("GET", "/readyz"), ("HEAD", "/readyz"): (status, body) = (200, "{\"status\":\"ready\"}\n")
        default: (status, body) = (404, "{\"error\":\"not_found\",\"detail\":\"no admin endpoint \(path)\"}\n")
        }
        var response = HTTPResponseHead(status: status, reason: HTTPStatusReason.phrase(for: status))
        response.headers.add(name: "Content-Type", value: "application/json")
        response.headers.add(name: "Content-Length", value: String(body.utf8.count))
        var bytes: [UInt8] = []
        HTTP1Serializer.appendResponseHead(response, to: &bytes)
        if head.method != "HEAD" { bytes.append(contentsOf: body.utf8) }
        stream.write(bytes)
    }

    func streamDidReachEOF(_ stream: any ByteStream) { self.stream.close() }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {}
}
