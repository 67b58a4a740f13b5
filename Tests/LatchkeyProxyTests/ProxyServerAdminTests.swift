import Dispatch
import Foundation
import LatchkeyConfig
import LatchkeyNet
import Logging
import Synchronization
import Testing

@testable import LatchkeyProxy

#if canImport(Glibc)
import Glibc
#endif

/// Issue 11: the proxy binds the admin listener but does not know what is spoken on it; the handler the
/// composition root hands to `start(admin:)` gets every connection accepted there.
@Suite struct ProxyServerAdminTests {
    final class RecordingHandler: AdminConnectionHandler {
        let accepted = DispatchSemaphore(value: 0)
        let count = Mutex(0)
        func serve(_ connection: TCPConnection) {
            count.withLock { $0 += 1 }
            connection.close()
            accepted.signal()
        }
    }

    /// Opens a blocking TCP connection to 127.0.0.1:`port` and returns its descriptor.
    func connect(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        try #require(connected, "connect: \(errno)")
        return fd
    }

    @Test func connectionsOnTheAdminListenerGoToTheInjectedHandler() throws {
        let configuration = ProxyConfiguration(
            sourcePath: "test.conf", listen: ListenAddress(host: "127.0.0.1", port: 0),
            admin: ListenAddress(host: "127.0.0.1", port: 0))
        let runtime = try ProxyRuntime(configuration: configuration) { _ in preconditionFailure("no connections") }
        let ownListeners = OwnListeners()
        let server = ProxyServer(
            runtime: runtime, logger: Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() }),
            scrubber: SecretScrubber(), ownListeners: ownListeners, loopCount: 1)
        let handler = RecordingHandler()
        let bound = try server.start(admin: handler)
        defer { server.stopListening() }
        let admin = try #require(bound.admin)
        // Both listeners are guarded in the injected set (the token client shares it).
        #expect(ownListeners.contains(admin) && ownListeners.contains(bound.proxy))
        let fd = try connect(port: admin.port)
        defer { close(fd) }
        #expect(handler.accepted.wait(timeout: .now() + 10) == .success)
        #expect(handler.count.withLock { $0 } == 1)
    }
}
