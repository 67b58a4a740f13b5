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
    private let label: String
    private let format: Format
    private let fileDescriptor: Int32
    private let scrubber: SecretScrubber
    /// This handler's cache of the formatted second (copies of the handler share it).
    private let timestamp = Timestamp()

    /// - Parameter scrubber: the process's scrubber, applied to every line as it leaves.
    public init(
        label: String, level: Logger.Level, format: Format, scrubber: SecretScrubber, fileDescriptor: Int32 = 2
    ) {
        self.label = label
        self.logLevel = level
        self.format = format
        self.scrubber = scrubber
        self.fileDescriptor = fileDescriptor
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
    /// fields already sorted by key. The access log calls this directly (no `Logger.Metadata` dictionary per
    /// request) and batches the lines itself.
    public func line(level: Logger.Level, message: String, sortedFields: [(key: String, value: String)]) -> [UInt8] {
        var out = ""
        out.reserveCapacity(320)
        switch format {
        case .text:
            out += timestamp.current()
            out += " "
            out += level.rawValue
            out += " "
            out += message
            for (key, value) in sortedFields {
                out += " "
                out += key
                out += "="
                out += Self.textValue(value)
            }
        case .json:
            out += "{\"time\":\""
            out += timestamp.current()
            out += "\",\"level\":\""
            out += level.rawValue
            out += "\",\"logger\":"
            out += JSONString.quote(label)
            out += ",\"message\":"
            out += JSONString.quote(message)
            for (key, value) in sortedFields {
                out += ","
                out += JSONString.quote(key)
                out += ":"
                out += JSONString.quote(value)
            }
            out += "}"
        }
        out += "\n"
        // The last boundary before a log line leaves the process: no known secret value gets through,
        // whatever text (provider, upstream, config) a message quotes.
        return Array(scrubber.scrub(out).utf8)
    }

    /// Writes all of `bytes` (one `write` unless the descriptor takes less), retrying on EINTR.
    public static func writeAll(_ bytes: [UInt8], to fileDescriptor: Int32) {
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = write(fileDescriptor, raw.baseAddress! + offset, raw.count - offset)
                if written <= 0 {
                    if written < 0, errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// Values with spaces or quotes are quoted so that a line stays splittable on spaces.
    private static func textValue(_ text: String) -> String {
        // Bytes, not Characters: no grapheme breaking on the per-request path.
        let needsQuotes = text.isEmpty || text.utf8.contains { $0 <= 0x20 || $0 == 0x22 || $0 == 0x3D || $0 == 0x7F }
        return needsQuotes ? JSONString.quote(text) : text
    }
}

/// RFC 3339 UTC timestamps with millisecond precision, the seconds part formatted once per second. An
/// instance per log handler (not a global), so that nothing mutable is shared beyond its owner.
final class Timestamp: Sendable {
    private let cache = Mutex<(second: Int, text: String)>((-1, ""))

    func current() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = now.tv_sec
        let milliseconds = Int(now.tv_nsec / 1_000_000)
        let prefix = cache.withLock { cached -> String in
            if cached.second == second { return cached.text }
            var time = second
            var parts = tm()
            gmtime_r(&time, &parts)
            let text = String(format4(Int(parts.tm_year) + 1900)) + "-" + pad2(Int(parts.tm_mon) + 1) + "-"
                + pad2(Int(parts.tm_mday)) + "T" + pad2(Int(parts.tm_hour)) + ":" + pad2(Int(parts.tm_min)) + ":"
                + pad2(Int(parts.tm_sec))
            cached = (second, text)
            return text
        }
        return prefix + "." + pad3(milliseconds) + "Z"
    }

    private func pad2(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    private func pad3(_ value: Int) -> String { value < 10 ? "00\(value)" : value < 100 ? "0\(value)" : "\(value)" }
    private func format4(_ value: Int) -> String { String(value) }
}
