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
    /// `firstMatch` searches by. Immutable once published: a scrub takes the current snapshot with one retain.
    private final class Values: Sendable {
        /// Every registered form, oldest first: at `capacity` the oldest go, never a secret just rotated in.
        let registered: [String]
        let strings: [String]
        let bytes: [[UInt8]]
        /// Each value's bytes, one after another in `storage` (in `strings` order), and its anchor: the
        /// offset of its byte that is rarest in log text (`Anchor`).
        let needles: [Needle]
        let storage: [UInt8]
        /// The distinct anchor bytes, each with the indices (longest value first) of the values anchored on it.
        let byAnchorByte: [(byte: UInt8, values: [Int])]
        /// Which bytes start a value, for the per-byte search (`firstMatchByTable`).
        let firstBytes: [Bool]

        init(registered: [String] = []) {
            self.registered = registered
            strings = registered.sorted { $0.utf8.count > $1.utf8.count }
            bytes = strings.map { Array($0.utf8) }
            var needles: [Needle] = []
            var storage: [UInt8] = []
            var firstBytes = [Bool](repeating: false, count: 256)
            var groups: [UInt8: [Int]] = [:]
            for (index, value) in bytes.enumerated() {
                let anchor = Anchor.offset(in: value)
                needles.append(Needle(start: storage.count, count: value.count, anchor: anchor))
                storage += value
                firstBytes[Int(value[0])] = true
                groups[value[anchor], default: []].append(index)
            }
            self.needles = needles
            self.storage = storage
            self.firstBytes = firstBytes
            byAnchorByte = groups.keys.sorted().map { ($0, groups[$0]!) }
        }
    }

    /// Where one value lies in `Values.storage`, and the offset of the byte `firstMatch` finds it by.
    private struct Needle: Sendable {
        let start: Int
        let count: Int
        let anchor: Int
    }

    /// Which byte of a value `firstMatch` looks for with `memchr`: the one least frequent in the lines this
    /// process writes, so that the search stops mostly where the value really is. Every log line passes
    /// here, and its bytes are far from random: by its first byte, a token starting with `t` stopped at
    /// each of the fourteen `t`s of `latchkey.` in an access-log line, about 4,600 instructions a line.
    enum Anchor {
        /// An access-log line in both formats, as `latchkey run` writes them.
        private static let sample = """
            2026-12-05T07:17:52.841Z info GET h1.test/static 200 latchkey.attempts=1 latchkey.bytes_in=0 \
            latchkey.bytes_out=64 latchkey.connection=bench latchkey.duration_ms=0 latchkey.host=h1.test \
            latchkey.method=GET latchkey.outcome=ok latchkey.path=/static latchkey.route=to-h1 \
            latchkey.status=200 latchkey.upstream=http://127.0.0.1:18314 latchkey.upstream_ms=0
            {"ts":"2026-12-05T07:17:52.848Z","level":"info","message":"POST api.example.com/v1/items 201",\
            "latchkey.attempts":1,"latchkey.bytes_in":312,"latchkey.bytes_out":1024,"latchkey.connection":\
            "partner","latchkey.duration_ms":3,"latchkey.host":"api.example.com","latchkey.method":"POST",\
            "latchkey.outcome":"ok","latchkey.path":"/v1/items","latchkey.route":"partner-api",\
            "latchkey.status":201,"latchkey.upstream":"https://api.example.com","latchkey.upstream_ms":2}
            """
        private static let counts: [Int] = {
            var counts = [Int](repeating: 0, count: 256)
            for byte in sample.utf8 { counts[Int(byte)] += 1 }
            return counts
        }()

        /// The offset in `value` of its byte least frequent in `sample` (the first of equals).
        static func offset(in value: [UInt8]) -> Int {
            var best = 0
            for offset in value.indices where counts[Int(value[offset])] < counts[Int(value[best])] { best = offset }
            return best
        }
    }

    /// Up to this many distinct anchor bytes, `firstMatch` looks for each with `memchr` (vectorised: a few
    /// dozen instructions for a line when the anchor is rare in it); beyond, one table lookup per byte of the
    /// text (about five instructions a byte).
    static let memchrAnchors = 16

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
        if values.byAnchorByte.count > Self.memchrAnchors { return firstMatchByTable(in: haystack, values) }
        let end = haystack.count
        return values.storage.withUnsafeBufferPointer { storage in
            var best: Int?
            for group in values.byAnchorByte {
                guard group.values[0] < (best ?? .max) else { continue }  // none of its values could be longer
                var position = 0
                while position < end, let found = memchr(base + position, Int32(group.byte), end - position) {
                    position = base.distance(to: found.assumingMemoryBound(to: UInt8.self))
                    for index in group.values where index < (best ?? .max) {
                        let needle = values.needles[index]
                        let start = position - needle.anchor
                        if start >= 0, needle.count <= end - start,
                            memcmp(storage.baseAddress! + needle.start, base + start, needle.count) == 0
                        {
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
