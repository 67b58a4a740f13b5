import Dispatch
import Glibc
import LatchkeyNet
import Synchronization
import Testing

/// Collects a stream's events and signals when it closes; lives on the stream's loop.
final class RecordingDelegate: ByteStreamDelegate, @unchecked Sendable {  // touched only on the stream's loop
    var received: [UInt8] = []
    var ready = false
    var sawEOF = false
    var closeError: NetError?
    var echo = false
    let closed = DispatchSemaphore(value: 0)
    let becameReady = DispatchSemaphore(value: 0)
    var onEOF: ((any ByteStream) -> Void)?

    func streamDidBecomeReady(_ stream: any ByteStream) {
        ready = true
        becameReady.signal()
    }
    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        received += bytes
        if echo { stream.write(bytes) }
    }
    func streamDidReachEOF(_ stream: any ByteStream) {
        sawEOF = true
        if let onEOF { onEOF(stream) } else { stream.shutdownWriting() }
    }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        closeError = error
        closed.signal()
    }
}

/// Takes reads in place (the loop's buffer, lent for the call) and counts them; the array callback must not run.
final class InPlaceRecordingDelegate: ByteStreamDelegate, @unchecked Sendable {  // touched only on the stream's loop
    let recorder = RecordingDelegate()
    var inPlaceReads = 0
    var arrayReads = 0

    func streamDidBecomeReady(_ stream: any ByteStream) { recorder.streamDidBecomeReady(stream) }
    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) { arrayReads += 1 }
    func stream(_ stream: any ByteStream, didReadInPlace bytes: UnsafeRawBufferPointer) {
        inPlaceReads += 1
        recorder.stream(stream, didRead: Array(bytes))
    }
    func streamDidReachEOF(_ stream: any ByteStream) { recorder.streamDidReachEOF(stream) }
    func streamDidDrainWrites(_ stream: any ByteStream) {}
    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) { recorder.stream(stream, didCloseWith: error) }
}

/// Keeps accepted connections (and their delegates) alive for the test's duration.
final class AcceptedBox: @unchecked Sendable {
    let lock = Mutex<[TCPConnection]>([])
}

@Suite struct TCPConnectionTests {
    /// A started listener whose connections echo what they read and end their side at the peer's EOF.
    private static func startEchoListener(group: EventLoopGroup, keeping box: AcceptedBox) throws -> TCPListener {
        let listener = try TCPListener(host: "127.0.0.1", port: 0, group: group) { connection in
            let delegate = RecordingDelegate()
            delegate.echo = true
            delegate.onEOF = { $0.shutdownWriting() }
            connection.delegate = delegate
            box.lock.withLock { $0.append(connection) }
            connection.start()
        }
        listener.start()
        return listener
    }

    /// A client connection to `listener` on `loop` that sends `payload` and then ends its side; `delegate`
    /// sees what comes back. The caller holds it until the test is done.
    private static func send(
        _ payload: [UInt8], to listener: TCPListener, on loop: EventLoop, delegate: any ByteStreamDelegate
    ) -> TCPConnection {
        let client = TCPConnection(connectingTo: "127.0.0.1", port: listener.localAddress.port, loop: loop, connectTimeout: .seconds(5))
        loop.runAndWait {
            client.delegate = delegate
            client.start()
            client.write(payload)
            client.shutdownWriting()
        }
        return client
    }

    @Test(arguments: EventLoopBackend.allCases) func echoesOneMebibyteThroughARealSocket(backend: EventLoopBackend) throws {
        let group = EventLoopGroup(count: 2, backend: backend)
        let box = AcceptedBox()
        let listener = try Self.startEchoListener(group: group, keeping: box)
        defer { listener.stop() }

        let loop = group.loops[0]
        let delegate = RecordingDelegate()
        delegate.onEOF = { $0.close() }
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let client = Self.send(payload, to: listener, on: loop, delegate: delegate)
        defer { withExtendedLifetime(client) {} }  // alive until the assertions ran
        #expect(delegate.closed.wait(timeout: .now() + 30) == .success)
        loop.runAndWait {
            #expect(delegate.ready)
            #expect(delegate.closeError == nil)
            #expect(delegate.received.count == payload.count)
            #expect(delegate.received.elementsEqual(payload), "echoed bytes differ from what was sent")
        }
    }

    /// `write(taking:)` hands the writer's array over and gives back an empty one, whether the stream takes the
    /// array (nothing waiting: it becomes the stream's buffer) or copies it behind what is waiting; bytes leave
    /// in the order written, mixed with plain `write`s, and a large array is not kept for the writer.
    @Test(arguments: EventLoopBackend.allCases) func writesTakingTheWritersArrayLeaveInOrderAndGiveItBackEmpty(
        backend: EventLoopBackend
    ) throws {
        let group = EventLoopGroup(count: 2, backend: backend)
        let box = AcceptedBox()
        let listener = try Self.startEchoListener(group: group, keeping: box)
        defer { listener.stop() }

        let loop = group.loops[0]
        let delegate = RecordingDelegate()
        delegate.onEOF = { $0.close() }
        let client = TCPConnection(connectingTo: "127.0.0.1", port: listener.localAddress.port, loop: loop, connectTimeout: .seconds(5))
        defer { withExtendedLifetime(client) {} }
        let first = Array("first message, taken whole;".utf8)
        let second = Array(" second, copied behind it;".utf8)
        let third = Array(" third, a plain write;".utf8)
        let large = (0..<(64 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 13) }
        loop.runAndWait {
            client.delegate = delegate
            client.start()
            var output = first
            client.write(taking: &output)  // nothing waiting: the stream takes the array
            #expect(output.isEmpty)
            output.append(contentsOf: second)
            client.write(taking: &output)  // the first still waits (the connect is under way): a copy
            #expect(output.isEmpty)
            #expect(output.capacity > 0, "a small array keeps its storage for the next message")
            client.write(third)
            output.append(contentsOf: large)
            client.write(taking: &output)
            #expect(output.isEmpty)
            #expect(output.capacity <= TCPConnection.retainedCapacity, "a large array is not kept for the writer")
            client.shutdownWriting()
        }
        #expect(delegate.closed.wait(timeout: .now() + 30) == .success)
        loop.runAndWait {
            #expect(delegate.closeError == nil)
            #expect(delegate.received.elementsEqual(first + second + third + large), "bytes differ from what was written")
        }
    }

    /// A delegate that takes reads in place gets every byte through that callback and none as arrays; one that
    /// does not (the echo side, `RecordingDelegate`) gets arrays through the protocol's default.
    @Test(arguments: EventLoopBackend.allCases) func aDelegateCanTakeReadsInPlace(backend: EventLoopBackend) throws {
        let group = EventLoopGroup(count: 2, backend: backend)
        let box = AcceptedBox()
        let listener = try Self.startEchoListener(group: group, keeping: box)
        defer { listener.stop() }

        let loop = group.loops[0]
        let delegate = InPlaceRecordingDelegate()
        delegate.recorder.onEOF = { $0.close() }
        let payload = (0..<(256 << 10)).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let client = Self.send(payload, to: listener, on: loop, delegate: delegate)
        defer { withExtendedLifetime(client) {} }  // alive until the assertions ran
        #expect(delegate.recorder.closed.wait(timeout: .now() + 30) == .success)
        loop.runAndWait {
            #expect(delegate.recorder.closeError == nil)
            #expect(delegate.recorder.received.elementsEqual(payload), "bytes read in place differ from what was sent")
            #expect(delegate.inPlaceReads > 0)
            #expect(delegate.arrayReads == 0)
        }
    }

    /// Readiness is reported once per change: bytes that arrive while reading is paused must still be read
    /// once it resumes (the edge came and went meanwhile), and the accepted side on another loop gets them.
    @Test(arguments: EventLoopBackend.allCases) func bytesThatArriveWhileReadingIsPausedAreReadOnResume(backend: EventLoopBackend) throws {
        let group = EventLoopGroup(count: 2, backend: backend)
        let box = AcceptedBox()
        let payload = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let listener = try TCPListener(host: "127.0.0.1", port: 0, group: group) { connection in
            let delegate = RecordingDelegate()
            connection.delegate = delegate
            box.lock.withLock { $0.append(connection) }
            connection.start()
            connection.write(payload)
            connection.shutdownWriting()
        }
        listener.start()
        defer { listener.stop() }
        let loop = group.loops[1]
        let client = TCPConnection(connectingTo: "127.0.0.1", port: listener.localAddress.port, loop: loop, connectTimeout: .seconds(5))
        let delegate = RecordingDelegate()
        delegate.onEOF = { $0.close() }
        loop.runAndWait {
            client.delegate = delegate
            client.start()
            client.setReadingPaused(true)
        }
        #expect(delegate.becameReady.wait(timeout: .now() + 10) == .success)
        // Wait until the peer has sent all it can into the paused socket: its write buffer stops shrinking.
        let accepted = try #require(waitFor { box.lock.withLock { $0.first } })
        _ = waitFor { accepted.loop.runAndWait { accepted.pendingWriteBytes < payload.count ? true : nil } }
        loop.runAndWait {
            #expect(delegate.received.isEmpty, "read while paused")
            client.setReadingPaused(false)
        }
        #expect(delegate.closed.wait(timeout: .now() + 30) == .success)
        loop.runAndWait {
            #expect(delegate.received.count == payload.count)
            #expect(delegate.received.elementsEqual(payload))
        }
    }

    /// Polls `probe` (every 5 ms, up to 10 s) until it yields a value.
    private func waitFor<T>(_ probe: () -> T?) -> T? {
        for _ in 0..<2_000 {
            if let value = probe() { return value }
            usleep(5_000)
        }
        return nil
    }

    @Test(arguments: EventLoopBackend.allCases) func connectionRefusedIsReportedAsConnectFailed(backend: EventLoopBackend) throws {
        // A port held by a bound socket that never listens: connecting to it is refused (RST), and no
        // other test running in parallel can take it meanwhile (a stopped listener's port could be).
        let (holder, port) = try boundButNotListening()
        defer { close(holder) }
        let group = EventLoopGroup(count: 1, backend: backend)
        let loop = group.loops[0]
        let client = TCPConnection(connectingTo: "127.0.0.1", port: port, loop: loop, connectTimeout: .seconds(5))
        let delegate = RecordingDelegate()
        loop.runAndWait {
            client.delegate = delegate
            client.start()
        }
        #expect(delegate.closed.wait(timeout: .now() + 10) == .success)
        loop.runAndWait {
            #expect(delegate.ready == false)
            #expect(delegate.closeError?.code == .connectFailed)
            #expect(delegate.closeError?.detail.contains("refused") == true, "\(String(describing: delegate.closeError))")
        }
    }

    private func boundButNotListening() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        try #require(bound, "bind: \(errno)")
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    @Test(arguments: EventLoopBackend.allCases) func unresolvableHostIsReportedAsResolveFailed(backend: EventLoopBackend) {
        let loop = EventLoop(label: "test", backend: backend)
        let client = TCPConnection(connectingTo: "no-such-host.invalid", port: 80, loop: loop, connectTimeout: .seconds(10))
        let delegate = RecordingDelegate()
        loop.runAndWait {
            client.delegate = delegate
            client.start()
        }
        #expect(delegate.closed.wait(timeout: .now() + 15) == .success)
        loop.runAndWait { #expect(delegate.closeError?.code == .resolveFailed) }
    }

    @Test(arguments: EventLoopBackend.allCases) func listenerReportsTheKernelChosenPort(backend: EventLoopBackend) throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0, group: EventLoopGroup(count: 1, backend: backend)) { _ in }
        defer { listener.stop() }
        #expect(listener.localAddress.port > 0)
        #expect(listener.localAddress.host == "127.0.0.1")
    }

    @Test func socketAddressParsesLiterals() {
        #expect(SocketAddress(ipLiteral: "::1", port: 8080)?.description == "[::1]:8080")
        #expect(SocketAddress(ipLiteral: "10.1.2.3", port: 1)?.description == "10.1.2.3:1")
        #expect(SocketAddress(ipLiteral: "example.com", port: 1) == nil)
    }
}
