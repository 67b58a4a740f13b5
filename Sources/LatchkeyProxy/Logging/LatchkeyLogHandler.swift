import LatchkeyConfig
import Logging
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Log lines as text or JSON, one `write(2)` each, to standard error, with every secret value known to the
/// process's `SecretScrubber` replaced.
///
/// Written for the access log's volume: swift-log's `StreamLogHandler` formats a timestamp with `strftime`
/// and locks a `FILE*` for every line, which cost a quarter of the proxy's throughput in `scripts/bench`.
/// Here the timestamp is formatted once per second and each line is assembled in one buffer. A single
/// `write` of a line is atomic against other writers of the same descriptor, so lines never interleave.
public struct LatchkeyLogHandler: LogHandler {
    public enum Format: String, Sendable, CaseIterable {
        case text
        case json
    }

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    private let fileDescriptor: Int32
    /// How lines are made (copies of the handler share it, and so does the access log's batched path).
    let composer: LogLineComposer

    /// - Parameter scrubber: the process's scrubber, applied to every line as it leaves.
    public init(
        label: String, level: Logger.Level, format: Format, scrubber: SecretScrubber, fileDescriptor: Int32 = 2
    ) {
        self.logLevel = level
        self.fileDescriptor = fileDescriptor
        composer = LogLineComposer(label: label, format: format, scrubber: scrubber)
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let explicit = event.metadata
        // The common case has no handler metadata: skip the merge and its copy.
        var merged = explicit ?? [:]
        if !metadata.isEmpty { merged.merge(metadata) { explicitValue, _ in explicitValue } }
        let fields = merged.keys.sorted().map { key -> (key: String, value: String) in
            let value = merged[key]!
            if case .string(let string) = value { return (key, string) }
            return (key, value.description)
        }
        Self.writeAll(line(level: event.level, message: event.message.description, sortedFields: fields), to: fileDescriptor)
    }

    /// Whether lines of `level` are written.
    public func writes(_ level: Logger.Level) -> Bool { level >= logLevel }

    /// Where lines go (standard error unless told otherwise).
    public var descriptor: Int32 { fileDescriptor }

    /// Whether `line(...)` alone gives what `log(event:)` would write: no handler metadata to merge in.
    public var composesAlone: Bool { metadata.isEmpty }

    /// One line, newline-terminated and scrubbed, exactly as `log(event:)` writes it for string metadata, from
    /// fields already sorted by key.
    public func line(level: Logger.Level, message: String, sortedFields: [(key: String, value: String)]) -> [UInt8] {
        let buffer = LogBuffer(capacity: 384)
        composer.appendLine(level: level, to: buffer) { line in
            line.message(message)
            for (key, value) in sortedFields { line.field(key, value) }
        }
        return Array(buffer.bytes)
    }

    /// Writes all of `bytes` (one `write` unless the descriptor takes less), retrying on EINTR.
    public static func writeAll(_ bytes: [UInt8], to fileDescriptor: Int32) {
        bytes.withUnsafeBufferPointer { writeAll($0, to: fileDescriptor) }
    }

    /// `writeAll` for bytes in place (a log buffer).
    static func writeAll(_ bytes: UnsafeBufferPointer<UInt8>, to fileDescriptor: Int32) {
        guard let base = bytes.baseAddress else { return }
        var offset = 0
        while offset < bytes.count {
            let written = write(fileDescriptor, base + offset, bytes.count - offset)
            if written <= 0 {
                if written < 0, errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}

/// What a `LatchkeyLogHandler` makes lines with: their format, the logger's label, the scrubber and the
/// timestamp cache. A class, so that the access log's batched path composes a line through one reference
/// instead of copying the handler (a label, metadata and two objects: six retains and releases a line).
final class LogLineComposer: @unchecked Sendable {  // immutable; `quotedLabel` is freed only in deinit
    private let format: LatchkeyLogHandler.Format
    private let scrubber: SecretScrubber
    private let timestamp = Timestamp()
    /// The label as a JSON string, made once: quoting it for every JSON line cost 450 instructions.
    private let quotedLabel: UnsafeBufferPointer<UInt8>

    init(label: String, format: LatchkeyLogHandler.Format, scrubber: SecretScrubber) {
        self.format = format
        self.scrubber = scrubber
        var quoted: [UInt8] = []
        JSONString.appendQuoted(label, to: &quoted)
        quotedLabel = .allocatedCopy(of: quoted)
    }

    deinit { quotedLabel.deallocate() }

    /// Composes one line at the end of `buffer` (`compose` adds the message parts, then the fields sorted by
    /// key) and scrubs it there: the access log's per-request path, with no String or dictionary per field.
    func appendLine(level: Logger.Level, to buffer: LogBuffer, _ compose: (inout LogLine) -> Void) {
        let start = buffer.count
        var line = LogLine(
            format: format, quotedLabel: quotedLabel, level: level, timestamp: timestamp, appendingTo: buffer)
        compose(&line)
        line.finish()
        // The last boundary before a log line leaves the process: no known secret value gets through,
        // whatever text (provider, upstream, config) a message quotes.
        let added = UnsafeBufferPointer(rebasing: buffer.bytes[start...])
        guard scrubber.containsSecret(added) else { return }
        let scrubbed = scrubber.scrub(Array(added))
        buffer.truncate(to: start)
        buffer.append(scrubbed)
    }
}

/// RFC 3339 UTC timestamps with millisecond precision, the seconds part formatted once per second. An
/// instance per `LogLineComposer` (not a global), so that nothing mutable is shared beyond its owner.
final class Timestamp: Sendable {
    /// The formatted second, as bytes, and which second it is.
    private let cache = Mutex<(second: Int, prefix: [UInt8])>((-1, []))

    /// `2026-12-03T19:05:01.123Z` appended to `line`; the part up to the seconds comes from the cache.
    func append(to line: inout LogLine) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = now.tv_sec
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        cache.withLock { cached in
            if cached.second != second {
                var time = second
                var parts = tm()
                gmtime_r(&time, &parts)
                var prefix: [UInt8] = []
                prefix.append(contentsOf: String(Int(parts.tm_year) + 1900).utf8)
                for (separator, value) in [
                    ("-", Int(parts.tm_mon) + 1), ("-", Int(parts.tm_mday)), ("T", Int(parts.tm_hour)),
                    (":", Int(parts.tm_min)), (":", Int(parts.tm_sec)),
                ] {
                    prefix.append(contentsOf: separator.utf8)
                    prefix.append(UInt8(truncatingIfNeeded: 0x30 + value / 10))
                    prefix.append(UInt8(truncatingIfNeeded: 0x30 + value % 10))
                }
                cached = (second, prefix)
            }
            cached.prefix.withUnsafeBufferPointer { line.append($0) }
        }
        line.append(UInt8(ascii: "."))
        line.append(UInt8(truncatingIfNeeded: 0x30 + milliseconds / 100))
        line.append(UInt8(truncatingIfNeeded: 0x30 + milliseconds / 10 % 10))
        line.append(UInt8(truncatingIfNeeded: 0x30 + milliseconds % 10))
        line.append(UInt8(ascii: "Z"))
    }
}
