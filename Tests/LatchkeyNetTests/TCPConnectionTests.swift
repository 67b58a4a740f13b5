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

/// Keeps accepted connections (and their delegates) alive for the test's duration.
final class AcceptedBox: @unchecked Sendable {
    let lock = Mutex<[TCPConnection]>([])
}

@Suite struct TCPConnectionTests {
    @Test func echoesOneMebibyteThroughARealSocket() throws {
        let group = EventLoopGroup(count: 2)
        let box = AcceptedBox()
        let listener = try TCPListener(host: "127.0.0.1", port: 0, group: group) { connection in
            let delegate = RecordingDelegate()
            delegate.echo = true
            delegate.onEOF = { $0.shutdownWriting() }
            connection.delegate = delegate
            box.lock.withLock { $0.append(connection) }
            connection.start()
        }
        listener.start()
        defer { listener.stop() }

        let loop = group.loops[0]
        let client = TCPConnection(connectingTo: "127.0.0.1", port: listener.localAddress.port, loop: loop, connectTimeout: .seconds(5))
        let delegate = RecordingDelegate()
        delegate.onEOF = { $0.close() }
        let payload = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        loop.queue.sync {
            client.delegate = delegate
            client.start()
            client.write(payload)
            client.shutdownWriting()
        }
        #expect(delegate.closed.wait(timeout: .now() + 30) == .success)
        loop.queue.sync {
            #expect(delegate.ready)
            #expect(delegate.closeError == nil)
            #expect(delegate.received.count == payload.count)
            #expect(delegate.received.elementsEqual(payload), "echoed bytes differ from what was sent")
        }
    }

    @Test func connectionRefusedIsReportedAsConnectFailed() throws {
        // A port held by a bound socket that never listens: connecting to it is refused (RST), and no
        // other test running in parallel can take it meanwhile (a stopped listener's port could be).
        let (holder, port) = try boundButNotListening()
        defer { close(holder) }
        let group = EventLoopGroup(count: 1)
        let loop = group.loops[0]
        let client = TCPConnection(connectingTo: "127.0.0.1", port: port, loop: loop, connectTimeout: .seconds(5))
        let delegate = RecordingDelegate()
        loop.queue.sync {
            client.delegate = delegate
            client.start()
        }
        #expect(delegate.closed.wait(timeout: .now() + 10) == .success)
        loop.queue.sync {
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

    @Test func unresolvableHostIsReportedAsResolveFailed() {
        let loop = EventLoop(label: "test")
        let client = TCPConnection(connectingTo: "no-such-host.invalid", port: 80, loop: loop, connectTimeout: .seconds(10))
        let delegate = RecordingDelegate()
        loop.queue.sync {
            client.delegate = delegate
            client.start()
        }
        #expect(delegate.closed.wait(timeout: .now() + 15) == .success)
        loop.queue.sync { #expect(delegate.closeError?.code == .resolveFailed) }
    }

    @Test func listenerReportsTheKernelChosenPort() throws {
        let listener = try TCPListener(host: "127.0.0.1", port: 0, group: EventLoopGroup(count: 1)) { _ in }
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
