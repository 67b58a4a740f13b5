import Dispatch
import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet
import Logging
import Synchronization
import Testing

@testable import LatchkeyProxy

/// A `ByteStream` in memory (no socket): what the proxy writes is collected, reads are injected by the test.
/// Stands in for any non-TCP stream the client side may run over (TLS for interception, a test pipe).
final class MemoryByteStream: ByteStream, @unchecked Sendable {  // used only on `loop`; `written` is locked
    let loop: EventLoop
    var delegate: (any ByteStreamDelegate)?
    let written = Mutex<[UInt8]>([])
    let wrote = DispatchSemaphore(value: 0)
    init(loop: EventLoop) { self.loop = loop }
    var pendingWriteBytes: Int { 0 }
    func start() {}
    func write(_ bytes: [UInt8]) {
        written.withLock { $0 += bytes }
        wrote.signal()
    }
    func setReadingPaused(_ paused: Bool) {}
    func shutdownWriting() {}
    func close() {}

    /// Waits (bounded) until what was written contains `text`; returns everything written.
    func waitForOutput(containing text: String, timeout: Duration = .seconds(10)) -> String {
        let end = ContinuousClock.now + timeout
        while true {
            let output = String(decoding: written.withLock { $0 }, as: UTF8.self)
            if output.contains(text) || ContinuousClock.now >= end { return output }
            _ = wrote.wait(timeout: .now() + .milliseconds(100))
        }
    }
}

/// The client side runs over any `ByteStream`: a request fed through a memory stream goes through the
/// exchange and its answer comes back on the same stream.
@Suite struct ClientConnectionOverByteStreamTests {
    @Test func anExchangeRunsOverAStreamThatIsNotTCP() throws {
        // An upstream nobody listens on: the exchange's connect failure comes back as the proxy's 502.
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
        let request = Array("GET http://api.example/items HTTP/1.1\r\nHost: api.example\r\n\r\n".utf8)
        let box = Mutex<ClientConnection?>(nil)
        loop.execute {
            let client = ClientConnection(stream: stream, server: server, pool: pool)
            box.withLock { $0 = client }
            client.start()
            client.stream(stream, didRead: request)
        }
        let output = stream.waitForOutput(containing: "}")
        #expect(output.hasPrefix("HTTP/1.1 502 "), "\(output)")
        #expect(output.contains("X-Latchkey-Error: upstream_connect_failed"), "\(output)")
        #expect(!output.contains("Connection: close"), "the whole request was read: the connection stays")
        loop.execute { box.withLock { $0?.closeNow(); $0 = nil } }
    }
}
