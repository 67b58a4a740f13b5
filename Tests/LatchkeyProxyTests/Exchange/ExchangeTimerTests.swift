import Dispatch
import LatchkeyConfig
import LatchkeyNet
import Logging
import Synchronization
import Testing

@testable import LatchkeyProxy

/// An upstream that answers `GET /fast` at once and never answers anything else.
private final class FastOrSilentUpstream: ByteStreamDelegate, @unchecked Sendable {  // on its connection's loop
    private var received: [UInt8] = []
    func streamDidBecomeReady(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        received += bytes
        let text = String(decoding: received, as: UTF8.self)
        guard text.contains("\r\n\r\n") else { return }
        received = []
        if text.hasPrefix("GET /fast ") { stream.write(Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)) }
    }
    func streamDidReachEOF(_ stream: any ByteStream) { stream.close() }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {}
}

/// A keep-alive connection lends all its exchanges one timer, left armed between them (`ExchangeTimer`): a
/// later exchange's deadline is kept whether it falls after the armed one (the timer fires early and is armed
/// again) or before it (the timer is armed earlier).
@Suite(.serialized) struct ExchangeTimerTests {
    final class Rig: @unchecked Sendable {
        let server: ProxyServer
        let loop: EventLoop
        let stream: MemoryByteStream
        let upstream: TCPListener
        let accepted = Accepted()
        let client = ClientBox()

        final class Accepted: @unchecked Sendable { let connections = Mutex<[TCPConnection]>([]) }
        final class ClientBox: @unchecked Sendable { var connection: ClientConnection? }  // touched on the loop

        /// `fast` and `slow` name the same upstream with the given timeouts; `/fast` is answered, `/slow` never.
        init(fastTimeoutMs: Int, slowTimeoutMs: Int) throws {
            let upstreamGroup = EventLoopGroup(count: 1)
            let accepted = self.accepted
            upstream = try TCPListener(host: "127.0.0.1", port: 0, group: upstreamGroup) { connection in
                connection.delegate = FastOrSilentUpstream()
                accepted.connections.withLock { $0.append(connection) }
                connection.start()
            }
            upstream.start()
            let url = UpstreamURL(scheme: "http", host: "127.0.0.1", port: upstream.localAddress.port)
            let runtime = try makeRuntime(
                routes: [
                    RouteSettings(name: "fast", host: HostPattern(name: .exact("fast.example")), upstream: url, timeoutMs: fastTimeoutMs),
                    RouteSettings(name: "slow", host: HostPattern(name: .exact("slow.example")), upstream: url, timeoutMs: slowTimeoutMs),
                ],
                connections: [])
            server = ProxyServer(
                runtime: runtime, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
                scrubber: SecretScrubber(), ownListeners: OwnListeners(), loopCount: 1)
            loop = server.group.loops[0]
            stream = MemoryByteStream(loop: loop)
            let pool = UpstreamPool(loop: loop, maxIdlePerEndpoint: 4, idleTimeout: .seconds(30))
            let (stream, server, client) = (stream, server, client)
            loop.execute {
                let connection = ClientConnection(stream: stream, server: server, pool: pool)
                client.connection = connection
                connection.start()
            }
        }

        deinit {
            upstream.stop()
            let client = self.client
            loop.execute {
                client.connection?.closeNow()
                client.connection = nil
            }
        }

        func send(_ request: String) {
            let (stream, client) = (stream, client)
            loop.execute { client.connection?.stream(stream, didRead: Array(request.utf8)) }
        }

        /// Sends `request` and waits (bounded) for the output to hold `marker` `count` times; the time it took.
        func answer(to request: String, marker: String, count: Int) -> (output: String, elapsed: Duration) {
            let start = ContinuousClock.now
            send(request)
            let end = start + .seconds(10)
            while true {
                let output = String(decoding: stream.written.withLock { $0 }, as: UTF8.self)
                if output.components(separatedBy: marker).count - 1 >= count || ContinuousClock.now >= end {
                    return (output, ContinuousClock.now - start)
                }
                _ = stream.wrote.wait(timeout: .now() + .milliseconds(50))
            }
        }
    }

    static let fast = "GET http://fast.example/fast HTTP/1.1\r\nHost: fast.example\r\n\r\n"
    static let slow = "GET http://slow.example/slow HTTP/1.1\r\nHost: slow.example\r\n\r\n"

    /// The first exchange left the timer armed for its own deadline, which comes before the second one's: it
    /// fires early, the second exchange arms it again for the rest, and times out at its own deadline.
    @Test func aLaterDeadlineIsKeptThoughTheTimerWasArmedForAnEarlierOne() throws {
        let rig = try Rig(fastTimeoutMs: 200, slowTimeoutMs: 900)
        let first = rig.answer(to: Self.fast, marker: "HTTP/1.1 200 ", count: 1)
        #expect(first.output.hasPrefix("HTTP/1.1 200 "), "\(first.output)")
        let second = rig.answer(to: Self.slow, marker: "HTTP/1.1 504 ", count: 1)
        #expect(second.output.contains("HTTP/1.1 504 "), "\(second.output)")
        // Not at the first exchange's deadline (200 ms after it started): the second's own, 900 ms.
        #expect(second.elapsed >= .milliseconds(900), "timed out after \(second.elapsed)")
    }

    /// The timer is armed for the first exchange's deadline, long after the second's: it is armed earlier.
    @Test func anEarlierDeadlineArmsTheTimerAgain() throws {
        let rig = try Rig(fastTimeoutMs: 20_000, slowTimeoutMs: 300)
        let first = rig.answer(to: Self.fast, marker: "HTTP/1.1 200 ", count: 1)
        #expect(first.output.hasPrefix("HTTP/1.1 200 "), "\(first.output)")
        let second = rig.answer(to: Self.slow, marker: "HTTP/1.1 504 ", count: 1)
        #expect(second.output.contains("HTTP/1.1 504 "), "\(second.output)")
        #expect(second.elapsed >= .milliseconds(300), "timed out after \(second.elapsed)")
        #expect(second.elapsed < .seconds(10), "the 504 waited for the first exchange's deadline")
    }
}
