import Dispatch
import LatchkeyHTTP
import LatchkeyNet
import Synchronization
import Testing

@testable import LatchkeyProxy

/// Records what an HTTP/2 stream reports to its exchange.
final class RecordingUpstreamHandler: UpstreamConnectionHandler, @unchecked Sendable {  // touched on the loop only
    let events = Mutex<[HTTP1ResponseEvent]>([])
    let failure = Mutex<(UpstreamFailure, stale: Bool)?>(nil)
    func upstreamDidBecomeReady(_ upstream: any ExchangeUpstream) {}
    func upstream(_ upstream: any ExchangeUpstream, didReceive events: inout [HTTP1ResponseEvent]) {
        let received = events
        self.events.withLock { $0 += received }
    }
    func upstreamDidDrainWrites(_ upstream: any ExchangeUpstream) {}
    func upstream(_ upstream: any ExchangeUpstream, didFail error: UpstreamFailure) {
        failure.withLock { $0 = (error, upstream.failedBeforeAnyResponseByte) }
    }
}

/// Records each call's events apart.
final class CallRecordingHandler: UpstreamConnectionHandler, @unchecked Sendable {  // touched on the loop only
    let calls = Mutex<[[HTTP1ResponseEvent]]>([])
    func upstreamDidBecomeReady(_ upstream: any ExchangeUpstream) {}
    func upstream(_ upstream: any ExchangeUpstream, didReceive events: inout [HTTP1ResponseEvent]) {
        let received = events
        calls.withLock { $0.append(received) }
    }
    func upstreamDidDrainWrites(_ upstream: any ExchangeUpstream) {}
    func upstream(_ upstream: any ExchangeUpstream, didFail error: UpstreamFailure) {}
}

/// `HTTP2UpstreamConnection` and its streams against a real server-role `HTTP2Session` over a memory stream:
/// what goes out per RFC 9113, and how responses, resets and GOAWAY reach the exchange.
@Suite(.serialized) struct HTTP2UpstreamConnectionTests {
    /// The connection on a loop of its own, a server session, and a pump between them.
    final class Rig: @unchecked Sendable {  // the connection is touched on `loop` only, the server by the test
        let loop = EventLoop(label: "test.h2")
        let memory: MemoryByteStream
        let server: HTTP2Session
        var connection: HTTP2UpstreamConnection!
        let pool: UpstreamPool
        var taken = 0

        init(serverSettings: HTTP2Settings = HTTP2Settings()) throws {
            memory = MemoryByteStream(loop: loop)
            server = try HTTP2Session(role: .server, settings: serverSettings)
            pool = UpstreamPool(loop: loop, maxIdlePerEndpoint: 0, idleTimeout: .seconds(30))
            let endpoint = UpstreamEndpoint(scheme: "http", host: "127.0.0.1", port: 8089, serverName: "127.0.0.1")
            let key = UpstreamPool.PoolKey(endpoint: endpoint, tls: nil)
            onLoop {
                self.connection = try! HTTP2UpstreamConnection(
                    adopting: self.memory, endpoint: endpoint, key: key, pool: self.pool)
                self.pool.http2Connections[key] = [self.connection]  // as the pool's adoption does
            }
        }

        /// The connection closes with its test: an idle one keeps a keep-alive timer on the loop, which would
        /// otherwise fire after the test (15 s on: the pool's idle timeout / 2) and reach the pool, gone by then
        /// (the connection names it unowned, as the pool outlives its connections in the proxy).
        deinit {
            let connection = self.connection
            let done = DispatchSemaphore(value: 0)
            loop.execute {
                connection?.close()
                done.signal()
            }
            done.wait()
        }

        /// Runs `work` on the loop and waits for it (and for everything queued on the loop before it).
        func onLoop(_ work: @escaping @Sendable () -> Void) {
            let done = DispatchSemaphore(value: 0)
            loop.execute {
                work()
                done.signal()
            }
            done.wait()
        }

        /// The server reads what the connection wrote since the last call; returns the events.
        func serverReceives() throws -> [HTTP2Event] {
            onLoop {}  // flushes scheduled before this point have run
            let bytes = memory.written.withLock { Array($0[taken...]) }
            taken += bytes.count
            var events: [HTTP2Event] = []
            try server.receive(bytes, into: &events)
            return events
        }

        /// What the server has to say goes to the connection as one read.
        func serverSends() throws {
            var output: [UInt8] = []
            var events: [HTTP2Event] = []
            try server.send(into: &output, events: &events)
            let bytes = output
            onLoop { self.connection.stream(self.memory, didRead: bytes) }
            onLoop {}
        }

        func openStream(
            _ handler: any UpstreamConnectionHandler & Sendable, method: String = "GET", body: [UInt8] = []
        )
            -> HTTP2UpstreamStream
        {
            let box = Mutex<HTTP2UpstreamStream?>(nil)
            onLoop {
                let stream = self.connection.makeStream(handler: handler)
                let head = HTTPRequestHead(
                    method: method, target: "/items?x=1",
                    headers: ["Host": "127.0.0.1:8089", "Authorization": "Bearer injected", "Connection": "close",
                              "TE": "trailers"])
                stream.sendRequest(
                    head, framing: body.isEmpty ? .none : .chunked, body: body.isEmpty ? [] : [body], end: true,
                    trailers: body.isEmpty ? HTTPHeaders() : ["x-checksum": "1"])
                box.withLock { $0 = stream }
            }
            return box.withLock { $0! }
        }
    }

    @Test func aRequestGoesOutAsHTTP2AndTheResponseComesBackWithTrailers() throws {
        let rig = try Rig()
        let handler = RecordingUpstreamHandler()
        _ = rig.openStream(handler, method: "POST", body: Array("abc".utf8))
        var received = try rig.serverReceives()
        try rig.serverSends()  // SETTINGS and its ACK
        received += try rig.serverReceives()
        guard case .request(let id, let head, let endStream)? = received.first(where: {
            if case .request = $0 { true } else { false }
        }) else {
            Issue.record("no request at the server: \(received)")
            return
        }
        #expect(!endStream)
        #expect(head.method == "POST" && head.scheme == "http" && head.authority == "127.0.0.1:8089")
        #expect(head.path == "/items?x=1")
        #expect(head.headers.first("authorization") == "Bearer injected")
        #expect(head.headers.first("te") == "trailers")
        #expect(!head.headers.contains("connection") && !head.headers.contains("host"))
        #expect(received.contains(.data(stream: id, Array("abc".utf8))))
        #expect(received.contains(.trailers(stream: id, ["x-checksum": "1"])))

        try rig.server.submitResponse(stream: id, HTTPResponseHead(status: 200, headers: ["content-type": "text/plain"]), endStream: false)
        rig.server.sendData(stream: id, Array("hello".utf8))
        rig.server.endStream(stream: id, trailers: ["grpc-status": "0"])
        try rig.serverSends()
        let events = handler.events.withLock { $0 }
        guard case .head(let response, let framing)? = events.first else {
            Issue.record("no head: \(events)")
            return
        }
        #expect(response.status == 200 && framing == .chunked)
        #expect(Array(events.dropFirst()) == [.body(Array("hello".utf8)), .trailers(["grpc-status": "0"]), .end])
    }

    @Test func oneReadsResponseEventsReachTheExchangeInOneCall() throws {
        let rig = try Rig()
        let handler = CallRecordingHandler()
        _ = rig.openStream(handler)
        var received = try rig.serverReceives()
        try rig.serverSends()
        received += try rig.serverReceives()
        guard case .request(let id, _, _)? = received.first(where: { if case .request = $0 { true } else { false } })
        else {
            Issue.record("no request at the server: \(received)")
            return
        }
        try rig.server.submitResponse(stream: id, HTTPResponseHead(status: 200, headers: ["content-length": "5"]), endStream: false)
        rig.server.sendData(stream: id, Array("hello".utf8))
        rig.server.endStream(stream: id)
        try rig.serverSends()
        #expect(handler.calls.withLock { $0 }.map(\.count) == [3], "head, body and end in one call")
        #expect(handler.calls.withLock { $0 }.first?.last == .end)
    }

    @Test func aStreamAboveAGoAwaysLastStreamIDIsReportedUnprocessed() throws {
        let rig = try Rig()
        let handler = RecordingUpstreamHandler()
        _ = rig.openStream(handler)
        rig.server.goAway(code: .noError)  // before reading the request: last processed 0, stream 1 was not
        try rig.serverSends()
        let failure = handler.failure.withLock { $0 }
        #expect(failure?.stale == true)
        #expect(failure.map { ExchangeStateMachine.isRefusedStream($0.0) } == true, "\(String(describing: failure))")
        rig.onLoop {}
        #expect(rig.pool.http2Connections.isEmpty)  // no new stream goes to a connection that said GOAWAY
    }

    @Test func aResetStreamIsAFailureNamingItsCode() throws {
        let rig = try Rig()
        let handler = RecordingUpstreamHandler()
        _ = rig.openStream(handler)
        let received = try rig.serverReceives()
        guard case .request(let id, _, _)? = received.first(where: { if case .request = $0 { true } else { false } })
        else {
            Issue.record("no request: \(received)")
            return
        }
        rig.server.resetStream(stream: id, code: .internalError)
        try rig.serverSends()
        let failure = handler.failure.withLock { $0 }
        #expect(failure?.stale == false)
        guard case .http2(let error)? = failure?.0 else {
            Issue.record("expected an HTTP/2 failure: \(String(describing: failure))")
            return
        }
        #expect(error.code == .internalError)
    }

    /// A response that ends while its reader is paused (a slow client), then is let go of: the window its
    /// bytes held goes back to the connection. 6 × 200 KiB is more than the connection's 1 MiB window, so
    /// without that the later responses would stall, and every stream on the connection with them.
    @Test func responsesLetGoOfWhilePausedGiveTheConnectionWindowBack() throws {
        let rig = try Rig()
        let body = [UInt8](repeating: 0x61, count: 200 * 1024)
        var settingsExchanged = false
        for index in 0..<7 {
            let handler = RecordingUpstreamHandler()
            let stream = rig.openStream(handler)
            let paused = index < 6
            rig.onLoop { stream.setResponseReadingPaused(paused) }
            var received = try rig.serverReceives()
            if !settingsExchanged {
                try rig.serverSends()
                received += try rig.serverReceives()
                settingsExchanged = true
            }
            guard case .request(let id, _, _)? = received.first(where: { if case .request = $0 { true } else { false } })
            else {
                Issue.record("no request for response \(index): \(received)")
                return
            }
            try rig.server.submitResponse(stream: id, HTTPResponseHead(status: 200), endStream: false)
            rig.server.sendData(stream: id, body)
            rig.server.endStream(stream: id)
            for _ in 0..<20 where handler.events.withLock({ $0.last != .end }) {
                try rig.serverSends()
                _ = try rig.serverReceives()  // WINDOW_UPDATEs
            }
            let events = handler.events.withLock { $0 }
            let bodyBytes = events.reduce(0) { count, event in if case .body(let bytes) = event { count + bytes.count } else { count } }
            #expect(events.last == .end && bodyBytes == body.count, "response \(index): \(bodyBytes) bytes")
            guard events.last == .end else { return }
            rig.onLoop { stream.release() }  // as the pool does once the exchange finished
            _ = try rig.serverReceives()
        }
    }

    /// The request id of the first request the server reads (SETTINGS exchanged first when asked).
    private func requestID(_ rig: Rig, settings: Bool) throws -> Int32? {
        var received = try rig.serverReceives()
        if settings {
            try rig.serverSends()
            received += try rig.serverReceives()
        }
        guard case .request(let id, _, _)? = received.first(where: { if case .request = $0 { true } else { false } })
        else {
            Issue.record("no request: \(received)")
            return nil
        }
        return id
    }

    /// HEAD, 204 and 304 have no body, even when the server ends the stream with an (empty) DATA frame
    /// rather than on the HEADERS: framed as bodyless, or an HTTP/1.1 client would get a chunked ending it
    /// reads as the start of the next response.
    @Test(arguments: [("HEAD", 200), ("GET", 204), ("GET", 304)])
    func aBodylessResponseIsFramedAsOneWhateverEndsIt(method: String, status: Int) throws {
        let rig = try Rig()
        let handler = RecordingUpstreamHandler()
        _ = rig.openStream(handler, method: method)
        guard let id = try requestID(rig, settings: true) else { return }
        try rig.server.submitResponse(stream: id, HTTPResponseHead(status: status, headers: ["content-type": "text/plain"]), endStream: false)
        rig.server.endStream(stream: id)
        try rig.serverSends()
        let events = handler.events.withLock { $0 }
        guard case .head(let head, let framing)? = events.first else {
            Issue.record("no head: \(events)")
            return
        }
        #expect(head.status == status && framing == .none)
        #expect(Array(events.dropFirst()) == [.end])
    }

    /// A stream the server reset (not REFUSED_STREAM) was open at the server, which may have acted on it: on a
    /// reused connection too it is not taken for a stale one, so a POST is not sent twice.
    @Test func aStreamTheServerResetIsNotStaleOnAReusedConnection() throws {
        let rig = try Rig()
        let first = RecordingUpstreamHandler()
        let firstStream = rig.openStream(first)
        guard let firstID = try requestID(rig, settings: true) else { return }
        try rig.server.submitResponse(stream: firstID, HTTPResponseHead(status: 200), endStream: true)
        try rig.serverSends()
        rig.onLoop { firstStream.release() }
        #expect(first.events.withLock { $0.last } == .end)

        let second = RecordingUpstreamHandler()
        _ = rig.openStream(second, method: "POST", body: Array("order=1".utf8))
        guard let secondID = try requestID(rig, settings: false) else { return }
        rig.server.resetStream(stream: secondID, code: .internalError)
        try rig.serverSends()
        let failure = second.failure.withLock { $0 }
        #expect(failure != nil && failure?.stale == false, "\(String(describing: failure))")
    }

    /// A second connection to a server that allows 2 streams assumes 2 until its own SETTINGS come, so a third
    /// concurrent request opens a third connection rather than wait behind the server's limit.
    @Test func aConnectionStillStartingAssumesTheLimitItsServerGaveTheLastOne() throws {
        var settings = HTTP2Settings()
        settings.maxConcurrentStreams = 2
        let rig = try Rig(serverSettings: settings)
        _ = rig.openStream(RecordingUpstreamHandler())
        guard try requestID(rig, settings: true) != nil else { return }
        let second = Mutex<HTTP2UpstreamConnection?>(nil)
        let rooms = Mutex<[Bool]>([])
        rig.onLoop {
            let connection = try! HTTP2UpstreamConnection(
                adopting: MemoryByteStream(loop: rig.loop), endpoint: rig.connection.endpoint, key: rig.connection.key,
                pool: rig.pool)
            var seen = [connection.hasRoom]
            _ = connection.makeStream(handler: RecordingUpstreamHandler())
            seen.append(connection.hasRoom)
            _ = connection.makeStream(handler: RecordingUpstreamHandler())
            seen.append(connection.hasRoom)
            rooms.withLock { $0 = seen }
            second.withLock { $0 = connection }
        }
        #expect(rooms.withLock { $0 } == [true, true, false])
    }
}
