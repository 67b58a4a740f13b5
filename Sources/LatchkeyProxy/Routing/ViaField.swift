import LatchkeyHTTP

/// This process's entry in `Via` (RFC 9110 §7.6.3) and the loop check that reads it.
///
/// The received-by part is a pseudonym, `latchkey-` plus 48 random bits drawn once per process, so two
/// chained Latchkeys never mistake each other for themselves and no host name or port is disclosed.
/// The values are built once: forwarding adds a field line, it never builds a string.
enum ViaField {
    /// `latchkey-` and 12 lowercase hex digits, fixed for the life of the process.
    static let pseudonym: String = {
        let bits = UInt64.random(in: 0..<(1 << 48))
        let hex = String(bits, radix: 16)
        return "latchkey-" + String(repeating: "0", count: 12 - hex.count) + hex
    }()

    private static let value10 = "1.0 " + pseudonym
    private static let value11 = "1.1 " + pseudonym

    private static let field10 = HTTPHeaders.PreparedField(name: "Via", value: value10)
    private static let field11 = HTTPHeaders.PreparedField(name: "Via", value: value11)

    /// `received-protocol SP received-by` for a message received as `version` (the version of the hop it
    /// came from, not the one it leaves with).
    static func value(receivedVersion version: HTTPVersion) -> String {
        version == .http1_0 ? value10 : value11
    }

    /// The `Via` field with `value(receivedVersion:)`, prepared once.
    static func field(receivedVersion version: HTTPVersion) -> HTTPHeaders.PreparedField {
        version == .http1_0 ? field10 : field11
    }

    /// Whether any `Via` entry names `pseudonym` as its received-by: the message has passed this proxy
    /// before, so forwarding it again would loop. Comments and other entries are ignored.
    static func names(_ pseudonym: String, in headers: HTTPHeaders) -> Bool {
        guard headers.contains(.via) else { return false }
        return headers.listElements(for: "Via").contains { entry in
            let parts = entry.split(whereSeparator: { $0 == " " || $0 == "\t" })
            return parts.count >= 2 && String(parts[1]).asciiCaseInsensitiveEquals(pseudonym)
        }
    }
}
