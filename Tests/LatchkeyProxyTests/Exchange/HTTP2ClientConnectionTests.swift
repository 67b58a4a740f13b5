import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Logging
import Synchronization
import Testing

@testable import LatchkeyProxy

/// A listener connection that starts with the HTTP/2 preface becomes an `HTTP2ClientConnection` over the
/// same stream (issue 13): a client `HTTP2Session` in the test talks to it through a `MemoryByteStream`.
@Suite struct HTTP2ClientConnectionTests {
    struct Response {
        var head: HTTPResponseHead?
        var body: [UInt8] = []
        var ended = false
    }

    /// Feeds `opening` (split at `split`) to a new client connection, then reads what it wrote with `client`
    /// until `stream` ends.
    func exchange(
        _ opening: [UInt8], split: Int, client: HTTP2Session, stream: Int32, routes: [RouteSettings]
    ) throws -> Response {
        let runtime = try makeRuntime(routes: routes, connections: [], unmatched: .deny)
        let server = ProxyServer(
            runtime: runtime, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            scrubber: SecretScrubber(), ownListeners: OwnListeners(), loopCount: 1)
        let loop = server.group.loops[0]
        let memory = MemoryByteStream(loop: loop)
        let pool = UpstreamPool(loop: loop, maxIdlePerEndpoint: 0, idleTimeout: .seconds(1))
        let box = Mutex<ClientConnection?>(nil)
        loop.execute {
            let connection = ClientConnection(stream: memory, server: server, pool: pool)
            box.withLock { $0 = connection }
            connection.start()
            connection.stream(memory, didRead: Array(opening[..<split]))  // a partial preface: held
            memory.delegate?.stream(memory, didRead: Array(opening[split...]))
        }
        var response = Response()
        var taken = 0
        let end = ContinuousClock.now + .seconds(10)
        while !response.ended, ContinuousClock.now < end {
            _ = memory.wrote.wait(timeout: .now() + .milliseconds(100))
            let written = memory.written.withLock { $0 }
            guard written.count > taken else { continue }
            var events: [HTTP2Event] = []
            try client.receive(Array(written[taken...]), into: &events)
            taken = written.count
            for event in events {
                switch event {
                case .response(stream, let head, let endStream):
                    response.head = head
                    response.ended = endStream
                case .data(stream, let bytes): response.body += bytes
                case .end(stream), .trailers(stream, _): response.ended = true
                default: break
                }
            }
        }
        loop.execute { memory.delegate?.stream(memory, didCloseWith: nil) }
        return response
    }

    func request(_ path: String, authority: String = "api.example") throws -> (HTTP2Session, Int32, [UInt8]) {
        let client = try HTTP2Session(role: .client)
        let head = HTTP2RequestHead(method: "GET", scheme: "http", authority: authority, path: path)
        let stream = try client.submitRequest(head, endStream: true)
        var bytes: [UInt8] = []
        var events: [HTTP2Event] = []
        try client.send(into: &bytes, events: &events)
        return (client, stream, bytes)
    }

    @Test func aRequestWithNoRouteIsAnsweredOnItsStreamWithTheJSONError() throws {
        let (client, stream, opening) = try request("/nowhere")
        #expect(opening.starts(with: ClientPreface.bytes))
        let response = try exchange(opening, split: 10, client: client, stream: stream, routes: [])
        #expect(response.head?.status == 404)
        #expect(response.head?.headers.first("x-latchkey-error") == "no_route")
        #expect(String(decoding: response.body, as: UTF8.self).contains("\"error\":\"no_route\""))
    }

    @Test func aForwardedRequestsFailureComesBackAsTheProxysAnswer() throws {
        // A virtual-host route to a port nobody listens on: the exchange runs and its 502 comes back on the stream.
        let route = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")),
            upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 1), timeoutMs: 2_000)
        let (client, stream, opening) = try request("/items")
        let response = try exchange(opening, split: 24, client: client, stream: stream, routes: [route])
        #expect(response.head?.status == 502)
        #expect(response.head?.headers.first("x-latchkey-error") == "upstream_connect_failed")
        #expect(response.ended)
    }
}
