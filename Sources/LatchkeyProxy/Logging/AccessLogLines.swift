import Dispatch
import LatchkeyNet
import Logging
import Synchronization

/// The access log's own path to standard error: one line per request composed without swift-log's metadata
/// dictionary, and each loop's lines written together, one `write` for many (see `LoopLogBuffer`).
///
/// Used when the process logs through `LatchkeyLogHandler` with no handler metadata (the `run` command);
/// otherwise (tests with other handlers) the access log goes through `Logger` as any other line does. Lines
/// are the same either way: `LatchkeyLogHandler.line` formats both.
final class AccessLogLines: Sendable {
    private let composer: LogLineComposer
    private let descriptor: Int32
    /// Whether info lines are written at all.
    let writesInfo: Bool
    /// Each loop's batch. A list searched by identity, not a dictionary: a process has a few loops, and
    /// hashing the key cost more than comparing it with each of them.
    private let buffers: [(loop: ObjectIdentifier, buffer: LoopLogBuffer)]

    /// How long a line may wait for others to share its `write` (see `LoopLogBuffer`).
    static let flushDelay: Duration = .milliseconds(20)

    /// How many bytes of lines make a batch leave at once (see `LoopLogBuffer`). Small enough that the batch
    /// stays in the first-level cache while it is composed and copied out: with 32 KiB batches, 256 busy
    /// connections cost 1-3% more CPU per request in `bench-peers` (two runs each), for a quarter of the
    /// `write`s (one per 25 lines rather than 100).
    static let flushBytes = 8 * 1024

    /// Nil unless `logger` writes through a `LatchkeyLogHandler` that composes lines alone.
    init?(logger: Logger, loops: [EventLoop], flushDelay: Duration = AccessLogLines.flushDelay) {
        guard let handler = logger.handler as? LatchkeyLogHandler, handler.composesAlone else { return nil }
        composer = handler.composer
        descriptor = handler.descriptor
        writesInfo = handler.writes(.info)
        buffers = loops.map {
            (ObjectIdentifier($0), LoopLogBuffer(loop: $0, descriptor: handler.descriptor, flushDelay: flushDelay))
        }
    }

    /// Composes one info line straight into `loop`'s batch (the caller runs on `loop`); see `LogLine`.
    func info(on loop: EventLoop, _ compose: (inout LogLine) -> Void) {
        let id = ObjectIdentifier(loop)
        guard let batch = buffers.first(where: { $0.loop == id })?.buffer else {
            let line = LogBuffer()
            composer.appendLine(level: .info, to: line, compose)
            LatchkeyLogHandler.writeAll(line.bytes, to: descriptor)
            return
        }
        batch.loop.assertInLoop()
        composer.appendLine(level: .info, to: batch.pending, compose)
        batch.didAppend()
    }

    /// Writes every loop's pending lines (a graceful stop, before the process exits), then `completion`;
    /// after `flushWait` at the latest, so that a loop stuck elsewhere cannot keep the process from exiting.
    func flush(then completion: @escaping @Sendable () -> Void) {
        let once = Mutex(false)
        @Sendable func finish() {
            guard once.withLock({ done in defer { done = true }; return !done }) else { return }
            completion()
        }
        let group = DispatchGroup()
        for (_, buffer) in buffers {
            group.enter()
            buffer.loop.execute {
                buffer.flush()
                group.leave()
            }
        }
        group.notify(queue: .global(), execute: finish)
        DispatchQueue.global().asyncAfter(deadline: .now() + Self.flushWait, execute: finish)
    }

    /// How long a graceful stop waits for the loops to write their batches.
    static let flushWait: DispatchTimeInterval = .seconds(1)
}

/// One loop's pending access-log lines, written together: once they pass `AccessLogLines.flushBytes` (8 KiB),
/// or `flushDelay` (`AccessLogLines.flushDelay`, 20 ms) after the first of them, whichever comes first (and
/// on a graceful stop). Writing at the end of every loop turn instead cost a `write` per one to three
/// requests at 16 connections, 0.8 µs of system time per request; under load a batch now fills to
/// `flushBytes` first. A line waits at most `flushDelay`
/// (nginx's `access_log ... flush=`, Envoy's file flush interval), and is lost only if the process dies
/// without stopping.
private final class LoopLogBuffer: @unchecked Sendable {  // confined to `loop`
    let loop: EventLoop
    private let descriptor: Int32
    private let flushDelay: Duration
    /// The batch; lines are appended to it in place, each followed by `didAppend()`.
    let pending = LogBuffer(capacity: 4096)
    private var timer: LoopTimer?

    init(loop: EventLoop, descriptor: Int32, flushDelay: Duration) {
        self.loop = loop
        self.descriptor = descriptor
        self.flushDelay = flushDelay
    }

    /// A line was appended to `pending`: writes the batch when it is full, or makes sure it will be.
    func didAppend() {
        if pending.count >= AccessLogLines.flushBytes {
            flush()
        } else if timer == nil {
            timer = loop.schedule(after: flushDelay) { [self] in
                timer = nil
                flush()
            }
        }
    }

    func flush() {
        timer?.cancel()
        timer = nil
        guard pending.count > 0 else { return }
        LatchkeyLogHandler.writeAll(pending.bytes, to: descriptor)
        pending.removeAll(keepingCapacityUpTo: 2 * AccessLogLines.flushBytes)
    }
}
