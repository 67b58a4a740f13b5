import COpenSSL

/// Reads OpenSSL's per-thread error queue. Callers clear it (`ERR_clear_error`) before each SSL
/// call, because Dispatch threads are shared and a stale entry would blame the wrong connection.
enum OpenSSLErrorQueue {
    /// Empties the queue and returns its entries as readable reasons, oldest first.
    static func drain() -> [String] {
        var reasons: [String] = []
        while true {
            let code = ERR_get_error()
            if code == 0 { break }
            if let reason = ERR_reason_error_string(code) {
                reasons.append(String(cString: reason))
            } else {
                var buffer = [CChar](repeating: 0, count: 256)
                ERR_error_string_n(code, &buffer, buffer.count)
                reasons.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return reasons
    }

    /// An error of kind `code`: `context`, then the drained queue (or `fallback` when it is empty).
    static func error(_ code: TLSError.Code, _ context: String, fallback: String = "unknown OpenSSL error") -> TLSError
    {
        let reasons = drain()
        let detail = reasons.isEmpty ? fallback : unique(reasons).joined(separator: "; ")
        return TLSError(code, "\(context): \(detail)")
    }

    private static func unique(_ reasons: [String]) -> [String] {
        var seen = Set<String>()
        return reasons.filter { seen.insert($0).inserted }
    }
}
