import Dispatch
import LatchkeyNet
import Synchronization
import Testing

@testable import LatchkeyProxy

/// The pool's idle lists on a loop of their own, with connections that never connect (nothing is started):
/// which connection a take returns, which key it belongs to, and what leaves the pool when.
@Suite(.serialized) struct UpstreamPoolTests {
    final class Rig: @unchecked Sendable {  // the pool is touched on `loop` only
        let loop = EventLoop(label: "test.pool")
        let pool: UpstreamPool

        init(maxIdlePerEndpoint: Int = 4) {
            pool = UpstreamPool(loop: loop, maxIdlePerEndpoint: maxIdlePerEndpoint, idleTimeout: .seconds(60))
        }

        deinit { onLoop { [pool] in pool.closeAll() } }

        func onLoop<T: Sendable>(_ work: @escaping @Sendable () -> T) -> T {
            let result = Mutex<T?>(nil)
            let done = DispatchSemaphore(value: 0)
            loop.execute {
                result.withLock { $0 = work() }
                done.signal()
            }
            done.wait()
            return result.withLock { $0! }
        }

        func connection(to endpoint: UpstreamEndpoint) -> UpstreamConnection {
            onLoop { [loop] in
                try! UpstreamConnection(endpoint: endpoint, tls: nil, loop: loop, connectTimeout: .seconds(1))
            }
        }
    }

    static func endpoint(port: Int = 8089) -> UpstreamEndpoint {
        UpstreamEndpoint(scheme: "http", host: "127.0.0.1", port: port, serverName: "127.0.0.1")
    }

    @Test func takesTheMostRecentlyReleasedFirst() {
        let rig = Rig()
        let endpoint = Self.endpoint()
        let older = rig.connection(to: endpoint)
        let newer = rig.connection(to: endpoint)
        let taken: [ObjectIdentifier?] = rig.onLoop {
            rig.pool.release(older, tls: nil)
            rig.pool.release(newer, tls: nil)
            return (0..<3).map { _ in rig.pool.takeIdle(endpoint: endpoint, tls: nil).map(ObjectIdentifier.init) }
        }
        #expect(taken == [ObjectIdentifier(newer), ObjectIdentifier(older), nil])
        #expect(rig.onLoop { older.idleMembership == nil && newer.idleMembership == nil })
    }

    /// Keys compare by value: a reload's new endpoint object for the same origin finds the old connections,
    /// and another port does not.
    @Test func anEqualEndpointObjectSharesTheListAndAnotherPortDoesNot() {
        let rig = Rig()
        let first = Self.endpoint()
        let connection = rig.connection(to: first)
        let (otherPort, sameOrigin): (Bool, Bool) = rig.onLoop {
            rig.pool.release(connection, tls: nil)
            let otherPort = rig.pool.takeIdle(endpoint: Self.endpoint(port: 8090), tls: nil) != nil
            let sameOrigin = rig.pool.takeIdle(endpoint: Self.endpoint(), tls: nil) === connection
            return (otherPort, sameOrigin)
        }
        #expect(!otherPort)
        #expect(sameOrigin)
    }

    @Test func pastTheLimitTheOldestIsClosed() {
        let rig = Rig(maxIdlePerEndpoint: 1)
        let endpoint = Self.endpoint()
        let older = rig.connection(to: endpoint)
        let newer = rig.connection(to: endpoint)
        let (idle, olderClosed, newerClosed) = rig.onLoop {
            rig.pool.release(older, tls: nil)
            rig.pool.release(newer, tls: nil)
            return (rig.pool.idleCount, older.isClosed, newer.isClosed)
        }
        #expect(idle == 1)
        #expect(olderClosed && !newerClosed)
    }

    /// A connection that closes while idle leaves its list, and the emptied list leaves the pool; a later
    /// release to the same key starts a list of its own that takes find.
    @Test func aConnectionClosingWhileIdleLeavesThePool() {
        let rig = Rig()
        let endpoint = Self.endpoint()
        let closing = rig.connection(to: endpoint)
        let next = rig.connection(to: endpoint)
        let (afterClose, takenAfterClose, takenNext): (Int, Bool, Bool) = rig.onLoop {
            rig.pool.release(closing, tls: nil)
            closing.close()
            let afterClose = rig.pool.idleCount
            let takenAfterClose = rig.pool.takeIdle(endpoint: endpoint, tls: nil) != nil
            rig.pool.release(next, tls: nil)
            let takenNext = rig.pool.takeIdle(endpoint: endpoint, tls: nil) === next
            return (afterClose, takenAfterClose, takenNext)
        }
        #expect(afterClose == 0)
        #expect(!takenAfterClose)
        #expect(takenNext)
    }

    @Test func closedOrUnwantedConnectionsAreNotKept() {
        let rig = Rig(maxIdlePerEndpoint: 0)
        let endpoint = Self.endpoint()
        let unwanted = rig.connection(to: endpoint)
        let (idle, closed) = rig.onLoop {
            rig.pool.release(unwanted, tls: nil)
            return (rig.pool.idleCount, unwanted.isClosed)
        }
        #expect(idle == 0)
        #expect(closed)
    }
}
