import Dispatch
import LatchkeyNet

/// An upper-layer delegate that records events and runs test hooks; all on the stream's loop.
final class RecordingDelegate: ByteStreamDelegate, @unchecked Sendable {
    // @unchecked Sendable: mutated only on the loop; the test thread reads it after `finished` fires
    // (via `loop.runAndWait`).
    var received: [UInt8] = []
    var becameReady = false
    var reachedEOF = false
    var closeError: NetError?
    var closed = false
    let finished = DispatchSemaphore(value: 0)

    var onReady: (any ByteStream) -> Void = { _ in }
    var onRead: (any ByteStream, RecordingDelegate) -> Void = { _, _ in }
    var onEOF: (any ByteStream) -> Void = { _ in }

    func streamDidBecomeReady(_ stream: any ByteStream) {
        becameReady = true
        onReady(stream)
    }

    func stream(_ stream: any ByteStream, didRead bytes: [UInt8]) {
        received.append(contentsOf: bytes)
        onRead(stream, self)
    }

    func streamDidReachEOF(_ stream: any ByteStream) {
        reachedEOF = true
        onEOF(stream)
    }

    func streamDidDrainWrites(_ stream: any ByteStream) {}

    func stream(_ stream: any ByteStream, didCloseWith error: NetError?) {
        closed = true
        closeError = error
        finished.signal()
    }

    /// Waits up to `seconds` for `didCloseWith`; false on timeout.
    func waitUntilClosed(seconds: Int = 60) -> Bool {
        finished.wait(timeout: .now() + .seconds(seconds)) == .success
    }
}

/// Carries a loop-confined value into a `loop.execute` closure that runs on the same loop.
struct LoopConfined<Value>: @unchecked Sendable {
    // @unchecked Sendable: only ever unwrapped on the loop that owns the value.
    let value: Value
}
