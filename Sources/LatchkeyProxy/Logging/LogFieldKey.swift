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
        text = .allocatedCopy(of: Array(" \(name)=".utf8))
        var json: [UInt8] = [UInt8(ascii: ",")]
        JSONString.appendQuoted(name, to: &json)
        json.append(UInt8(ascii: ":"))
        self.json = .allocatedCopy(of: json)
    }
}

extension LogFieldKey {
    /// The access log's keys in one value: a line takes it once, where a `static let` per key cost a
    /// lazy-initialisation check at every use (fifteen a line).
    static let accessLine = AccessLineKeys()
}

/// The access-log line's keys (`LogFieldKey.accessLine`), sorted as the line writes them (`AccessLog.compose`).
/// A class: a line takes it by reference, where copying a struct of fifteen keys cost 130 instructions.
final class AccessLineKeys: Sendable {
    let attempts = LogFieldKey(LogKey.attempts)
    let bytesIn = LogFieldKey(LogKey.bytesIn)
    let bytesOut = LogFieldKey(LogKey.bytesOut)
    let connection = LogFieldKey(LogKey.connection)
    let durationMs = LogFieldKey(LogKey.durationMs)
    let host = LogFieldKey(LogKey.host)
    let intercepted = LogFieldKey(LogKey.intercepted)
    let method = LogFieldKey(LogKey.method)
    let outcome = LogFieldKey(LogKey.outcome)
    let path = LogFieldKey(LogKey.path)
    let protocolName = LogFieldKey(LogKey.protocolName)
    let route = LogFieldKey(LogKey.route)
    let status = LogFieldKey(LogKey.status)
    let upstream = LogFieldKey(LogKey.upstream)
    let upstreamMs = LogFieldKey(LogKey.upstreamMs)
}
