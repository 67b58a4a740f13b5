import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Logging
import Synchronization
import Testing

@testable import LatchkeyProxy

/// The client connection around an upgrade request, over a memory stream: what follows the request is held
/// until the answer, then parsed (no switch happened); a malformed handshake is refused.
@Suite struct ClientConnectionUpgradeTests {
    /// Feeds `request` in one read to a new client connection whose route's upstream refuses connections (the
    /// exchange answers 502), and waits until the output contains `text` `occurrences` times.
    func run(_ request: String, until text: String, occurrences: Int = 1) throws -> String {
        let route = RouteSettings(
            name: "api", host: HostPattern(name: .exact("api.example")),
            upstream: UpstreamURL(scheme: "http", host: "127.0.0.1", port: 1), timeoutMs: 2_000)
        let runtime = try makeRuntime(routes: [route], connections: [])
        let server = ProxyServer(
            runtime: runtime, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            scrubber: SecretScrubber(), ownListeners: OwnListeners(), loopCount: 1)
        let loop = server.group.loops[0]
        let stream = MemoryByteStream(loop: loop)
        let pool = UpstreamPool(loop: loop, maxIdlePerEndpoint: 0, idleTimeout: .seconds(1))
        let box = Mutex<ClientConnection?>(nil)
        loop.execute {
            let client = ClientConnection(stream: stream, server: server, pool: pool)
            box.withLock { $0 = client }
            client.start()
            client.stream(stream, didRead: Array(request.utf8))
        }
        // Waits on the stream's writes (bounded), not on a fixed sleep.
        let end = ContinuousClock.now + .seconds(10)
        var output = stream.waitForOutput(containing: text)
        while output.components(separatedBy: text).count <= occurrences, ContinuousClock.now < end {
            _ = stream.wrote.wait(timeout: .now() + .milliseconds(100))
            output = String(decoding: stream.written.withLock { $0 }, as: UTF8.self)
        }
        loop.execute { box.withLock { $0?.closeNow(); $0 = nil } }
        return output
    }

    static let handshake =
        "GET http://api.example/socket HTTP/1.1\r\nHost: api.example\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"

    @Test func aRequestPipelinedBehindAFailedHandshakeIsAnsweredToo() throws {
        let second = "GET http://api.example/next HTTP/1.1\r\nHost: api.example\r\n\r\n"
        let output = try run(Self.handshake + second, until: "HTTP/1.1 502 ", occurrences: 2)
        #expect(output.components(separatedBy: "HTTP/1.1 502 ").count == 3, "\(output)")
    }

    @Test func aPostHandshakeIsRefusedWith400() throws {
        let post = Self.handshake.replacingOccurrences(of: "GET ", with: "POST ")
        let output = try run(post, until: "HTTP/1.1 400 ")
        #expect(output.contains("X-Latchkey-Error: bad_request"), "\(output)")
        #expect(output.contains("WebSocket handshake must be a GET"), "\(output)")
    }
}
