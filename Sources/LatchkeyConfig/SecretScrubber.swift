import Foundation
import Synchronization

/// Replaces every known secret value in text that leaves the process: log lines, admin answers, error
/// bodies sent to the app, `check` output, and text relayed from a provider (an `error_description` that
/// echoes the client secret, a network error naming a `token_url` built from a secret).
///
/// One instance per process, made by the composition root (`latchkey run`, `check`) and handed to every
/// boundary and to whatever registers values (the config loader, credential sources); never a global, so
/// tests and a second server in one process each have their own. Values stay registered for the life of
/// the instance, so text produced under an older configuration (a request in flight across a reload, a
/// stored error) is still scrubbed. Values shorter than `minimumLength` are
/// not scrubbed (they would blank out ordinary words); each value is also matched percent-encoded and
/// JSON-escaped, the forms it takes inside a URL or a JSON body. Thread-safe.
public final class SecretScrubber: Sendable {
    /// What a secret is replaced with.
    public static let replacement = "[redacted]"
    /// Shorter values are not scrubbed.
    public static let minimumLength = 4
    /// Most distinct values kept (a reload adds a rotated secret; this bounds the list).
    static let capacity = 4_096

    /// Values to replace, longest first (so a value containing another is replaced whole), with what
    /// `firstMatch` searches by: their first bytes. Immutable once published: a scrub takes the current
    /// snapshot with one retain.
    private final class Values: Sendable {
        /// Every registered form, oldest first: at `capacity` the oldest go, never a secret just rotated in.
        let registered: [String]
        let strings: [String]
        let bytes: [[UInt8]]
        let firstBytes: [Bool]
        /// The distinct first bytes, each with the indices (longest value first) of the values it starts.
        let byFirstByte: [(byte: UInt8, values: [Int])]

        init(registered: [String] = []) {
            self.registered = registered
            strings = registered.sorted { $0.utf8.count > $1.utf8.count }
            bytes = strings.map { Array($0.utf8) }
            var firstBytes = [Bool](repeating: false, count: 256)
            var groups: [UInt8: [Int]] = [:]
            for (index, value) in bytes.enumerated() {
                firstBytes[Int(value[0])] = true
                groups[value[0], default: []].append(index)
            }
            self.firstBytes = firstBytes
            byFirstByte = groups.keys.sorted().map { ($0, groups[$0]!) }
        }
    }

    /// Up to this many distinct first bytes, `firstMatch` looks for each with `memchr` (vectorised, and
    /// the configured secrets usually start with one or two distinct bytes); beyond, one table lookup per
    /// byte of the text. Every log line passes here: the per-byte scan was ~2k instructions of a request's
    /// access-log line, `memchr` for one first byte about a tenth of that.
    static let memchrFirstBytes = 6

    private let values = Mutex(Values())

    public init() {}

    /// Adds `secrets` (and their encoded forms) to the values scrubbed from now on.
    public func register(_ secrets: some Sequence<String>) {
        var forms: Set<String> = []
        for secret in secrets where secret.count >= Self.minimumLength {
            forms.insert(secret)
            forms.insert(Self.percentEncoded(secret, keeping: "-._~", spaceAsPlus: false))  // RFC 3986 §2.3
            forms.insert(Self.percentEncoded(secret, keeping: "*-._", spaceAsPlus: true))  // HTML forms
            // Inside a JSON string: as this process writes it (`JSONString`, "/" kept, control characters
            // escaped) and with "/" as "\/" as many providers write it.
            let json = String(JSONString.quote(secret).dropFirst().dropLast())
            forms.insert(json)
            forms.insert(json.replacingOccurrences(of: "/", with: "\\/"))
        }
        guard !forms.isEmpty else { return }
        values.withLock { current in
            let known = Set(current.registered)
            let added = forms.subtracting(known).sorted()
            if added.isEmpty { return }
            current = Values(registered: Array((current.registered + added).suffix(Self.capacity)))
        }
    }

    /// `text` with every registered value replaced by `replacement`. One pass over the text's bytes (a
    /// table lookup per byte); returns `text` itself, without copying, when nothing matches.
    public func scrub(_ text: String) -> String {
        let current = values.withLock { $0 }
        guard !current.bytes.isEmpty, !text.isEmpty else { return text }
        var text = text
        guard let first = text.withUTF8({ firstMatch(in: $0, current) }) else { return text }
        var result = text
        for value in current.strings[first...] where result.contains(value) {
            result = result.replacingOccurrences(of: value, with: Self.replacement)
        }
        return result
    }

    /// `scrub` for UTF-8 bytes (a log line as written): returns `bytes` itself, without copying, when
    /// nothing matches.
    public func scrub(_ bytes: [UInt8]) -> [UInt8] {
        let current = values.withLock { $0 }
        guard !current.bytes.isEmpty, !bytes.isEmpty else { return bytes }
        guard bytes.withUnsafeBufferPointer({ firstMatch(in: $0, current) }) != nil else { return bytes }
        return Array(scrub(String(decoding: bytes, as: UTF8.self)).utf8)
    }

    /// Whether `text` contains a registered value.
    public func containsSecret(_ text: String) -> Bool {
        var text = text
        let current = values.withLock { $0 }
        return text.withUTF8 { firstMatch(in: $0, current) } != nil
    }

    /// Whether UTF-8 `bytes` contain a registered value (a log line in its buffer: `scrub` it only then).
    public func containsSecret(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        let current = values.withLock { $0 }
        guard !current.bytes.isEmpty else { return false }
        return firstMatch(in: bytes, current) != nil
    }

    /// The index (in `values.strings`) of the longest registered value found in `haystack`, or nil.
    private func firstMatch(in haystack: UnsafeBufferPointer<UInt8>, _ values: Values) -> Int? {
        guard let base = haystack.baseAddress else { return nil }
        if values.byFirstByte.count > Self.memchrFirstBytes { return firstMatchByTable(in: haystack, values) }
        var best: Int?
        for group in values.byFirstByte {
            guard group.values[0] < (best ?? .max) else { continue }  // none of its values could be longer
            var position = 0
            while position < haystack.count,
                let found = memchr(base + position, Int32(group.byte), haystack.count - position)
            {
                position = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                for index in group.values where index < (best ?? .max) {
                    let needle = values.bytes[index]
                    if needle.count <= haystack.count - position, Self.matches(needle, at: base + position) {
                        best = index
                        break  // the group's values are longest first
                    }
                }
                position += 1
            }
            if best == 0 { break }
        }
        return best
    }

    /// `firstMatch` for many distinct first bytes: one pass, a table lookup per byte.
    private func firstMatchByTable(in haystack: UnsafeBufferPointer<UInt8>, _ values: Values) -> Int? {
        guard let base = haystack.baseAddress else { return nil }
        // Raw pointers: this loop runs once per byte of every log line, and nearly every byte is only
        // looked up in the first-byte table.
        return values.firstBytes.withUnsafeBufferPointer { table in
            let isFirst = table.baseAddress!
            var best: Int?
            var position = 0
            let end = haystack.count
            while position < end {
                if isFirst[Int(base[position])] {
                    for (index, needle) in values.bytes.enumerated() where index < (best ?? .max) {
                        if needle.count <= end - position, Self.matches(needle, at: base + position) { best = index }
                    }
                    if best == 0 { break }
                }
                position += 1
            }
            return best
        }
    }

    private static func matches(_ needle: [UInt8], at start: UnsafePointer<UInt8>) -> Bool {
        needle.withUnsafeBufferPointer { needle in memcmp(needle.baseAddress!, start, needle.count) == 0 }
    }

    /// `text` with every byte but ALPHA / DIGIT / `keeping` as `%XX` (upper-case hex).
    private static func percentEncoded(_ text: String, keeping: String, spaceAsPlus: Bool) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        let kept = Set(keeping.utf8)
        var out: [UInt8] = []
        for byte in text.utf8 {
            if (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || kept.contains(byte)
            {
                out.append(byte)
            } else if byte == 0x20 && spaceAsPlus {
                out.append(UInt8(ascii: "+"))
            } else {
                out += [UInt8(ascii: "%"), hex[Int(byte >> 4)], hex[Int(byte & 0x0F)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

extension ProxyConfiguration {
    /// Registers this configuration's secrets with `scrubber` (`ConfigLoader.load` does, once it has loaded).
    public func registerSecrets(with scrubber: SecretScrubber) {
        scrubber.register(sensitiveValues)
    }
}
