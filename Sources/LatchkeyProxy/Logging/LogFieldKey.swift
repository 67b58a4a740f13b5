import LatchkeyConfig

/// A log field's key with the bytes each line format writes before its value, made once: ` key=` for text
/// and `,"key":` for JSON. The access log writes a dozen fields per request; appending a key this way is one
/// copy instead of a String's UTF-8 walk plus the separators around it.
struct LogFieldKey: @unchecked Sendable {  // immutable; the buffers are never freed or written after init
    /// The key as `Logger.Metadata` names it (`LogKey`).
    let name: String
    /// ` key=`
    let text: UnsafeBufferPointer<UInt8>
    /// `,"key":`
    let json: UnsafeBufferPointer<UInt8>

    /// For keys held in `static let`s: the two buffers live as long as the process.
    init(_ name: String) {
        self.name = name
        text = Self.permanent(Array(" \(name)=".utf8))
        var json: [UInt8] = [UInt8(ascii: ",")]
        JSONString.appendQuoted(name, to: &json)
        json.append(UInt8(ascii: ":"))
        self.json = Self.permanent(json)
    }

    private static func permanent(_ bytes: [UInt8]) -> UnsafeBufferPointer<UInt8> {
        let buffer = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = buffer.initialize(from: bytes)
        return UnsafeBufferPointer(buffer)
    }
}

/// The access log's keys (`AccessLog.compose`), sorted as the line writes them.
extension LogFieldKey {
    static let attempts = LogFieldKey(LogKey.attempts)
    static let bytesIn = LogFieldKey(LogKey.bytesIn)
    static let bytesOut = LogFieldKey(LogKey.bytesOut)
    static let connection = LogFieldKey(LogKey.connection)
    static let durationMs = LogFieldKey(LogKey.durationMs)
    static let host = LogFieldKey(LogKey.host)
    static let intercepted = LogFieldKey(LogKey.intercepted)
    static let method = LogFieldKey(LogKey.method)
    static let outcome = LogFieldKey(LogKey.outcome)
    static let path = LogFieldKey(LogKey.path)
    static let protocolName = LogFieldKey(LogKey.protocolName)
    static let route = LogFieldKey(LogKey.route)
    static let status = LogFieldKey(LogKey.status)
    static let upstream = LogFieldKey(LogKey.upstream)
    static let upstreamMs = LogFieldKey(LogKey.upstreamMs)
}
