import LatchkeyHTTP
import Testing

@testable import LatchkeyProxy

/// The request side of an HTTP/2 stream, one event at a time (issue 13): what goes to the exchange now, what
/// waits unconsumed while it is paused, and where the end goes.
@Suite struct HTTP2RequestBodyTests {
    let trailers: HTTPHeaders = ["x-checksum": "1"]

    @Test func dataFlowsThroughWhileNotPaused() {
        var body = HTTP2RequestBody()
        #expect(body.receive([1, 2], paused: false) == [1, 2])
        #expect(body.next(paused: false) == nil)
        body.receiveEnd(trailers: HTTPHeaders())
        #expect(body.next(paused: false) == .end(trailers: HTTPHeaders()))
        #expect(body.isComplete)
        #expect(body.next(paused: false) == nil)
    }

    @Test func dataWaitsWhilePausedAndKeepsItsOrder() {
        var body = HTTP2RequestBody()
        #expect(body.receive([1], paused: true) == nil)
        #expect(body.heldBytes == 1)
        // Resumed, but something is still held: new DATA queues behind it.
        #expect(body.receive([2, 3], paused: false) == nil)
        #expect(body.next(paused: true) == nil)
        #expect(body.next(paused: false) == .body([1]))
        #expect(body.next(paused: false) == .body([2, 3]))
        #expect(body.heldBytes == 0)
        #expect(body.next(paused: false) == nil)
        #expect(body.receive([4], paused: false) == [4])
    }

    @Test func theEndWaitsBehindHeldDataButNotForThePause() {
        var body = HTTP2RequestBody()
        _ = body.receive([1], paused: true)
        body.receiveEnd(trailers: trailers)
        #expect(body.next(paused: true) == nil)  // held DATA first
        #expect(body.next(paused: false) == .body([1]))
        #expect(!body.isComplete)
        #expect(body.next(paused: true) == .end(trailers: trailers))  // paused again: the end still goes
        #expect(body.isComplete)
    }

    @Test func droppingHeldDataReturnsWhatToConsume() {
        var body = HTTP2RequestBody()
        _ = body.receive([1, 2, 3], paused: true)
        _ = body.receive([4], paused: true)
        #expect(body.dropHeld() == 4)
        #expect(body.state == .receiving)  // further DATA is dropped by the caller as it comes
        body.receiveEnd(trailers: trailers)
        #expect(body.dropHeld() == 0)
        #expect(body.isComplete)
    }

    @Test func closingCompletesAndIgnoresLateEvents() {
        var body = HTTP2RequestBody()
        _ = body.receive([1, 2], paused: true)
        #expect(body.close() == 2)
        #expect(body.isComplete)
        #expect(body.receive([3], paused: false) == nil)
        body.receiveEnd(trailers: trailers)
        #expect(body.next(paused: false) == nil)
    }
}
