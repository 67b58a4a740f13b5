import LatchkeyNet
import Logging

/// The access log's own path to standard error: one line per request composed without swift-log's metadata
/// dictionary, and the lines of one loop turn written together in one `write` at the turn's end.
///
/// Used when the process logs through `LatchkeyLogHandler` with no handler metadata (the `run` command);
/// otherwise (tests with other handlers) the access log goes through `Logger` as any other line does. Lines
/// are the same either way: `LatchkeyLogHandler.line` formats both.
final class AccessLogLines: Sendable {
    private let handler: LatchkeyLogHandler
    /// Each loop's batch. A list searched by identity, not a dictionary: a process has a few loops, and
    /// hashing the key cost more than comparing it with each of them.
    private let buffers: [(loop: ObjectIdentifier, buffer: LoopLogBuffer)]

    /// Nil unless `logger` writes through a `LatchkeyLogHandler` that composes lines alone.
    init?(logger: Logger, loops: [EventLoop]) {
        guard let handler = logger.handler as? LatchkeyLogHandler, handler.composesAlone else { return nil }
        self.handler = handler
        buffers = loops.map { (ObjectIdentifier($0), LoopLogBuffer(loop: $0, descriptor: handler.descriptor)) }
    }

    /// Whether info lines are written at all.
    var writesInfo: Bool { handler.writes(.info) }

    /// Composes one info line straight into `loop`'s batch (the caller runs on `loop`); see `LogLine`.
    func info(on loop: EventLoop, _ compose: (inout LogLine) -> Void) {
        let id = ObjectIdentifier(loop)
        guard let buffer = buffers.first(where: { $0.loop == id })?.buffer else {
            let line = LogBuffer()
            handler.appendLine(level: .info, to: line, compose)
            LatchkeyLogHandler.writeAll(line.bytes, to: handler.descriptor)
            return
        }
        buffer.append { pending in handler.appendLine(level: .info, to: pending, compose) }
    }
}

/// One loop's pending access-log lines. Written at the end of the loop's turn (at once on Dispatch), or as
/// soon as they pass `flushBytes`, so a burst never holds much and a quiet loop never holds a line back.
private final class LoopLogBuffer: EndOfTurnFlush, @unchecked Sendable {  // confined to `loop`
    static let flushBytes = 32 * 1024

    private let loop: EventLoop
    private let descriptor: Int32
    private let pending = LogBuffer(capacity: 4096)
    private var scheduled = false

    init(loop: EventLoop, descriptor: Int32) {
        self.loop = loop
        self.descriptor = descriptor
    }

    /// Lets `write` append one line to the batch in place.
    func append(_ write: (LogBuffer) -> Void) {
        loop.assertInLoop()
        write(pending)
        if pending.count >= Self.flushBytes {
            flushAtEndOfTurn()
        } else if !scheduled {
            scheduled = true
            loop.flushAtEndOfTurn(self)
        }
    }

    func flushAtEndOfTurn() {
        scheduled = false
        guard pending.count > 0 else { return }
        LatchkeyLogHandler.writeAll(pending.bytes, to: descriptor)
        pending.removeAll(keepingCapacityUpTo: 2 * Self.flushBytes)
    }
}
