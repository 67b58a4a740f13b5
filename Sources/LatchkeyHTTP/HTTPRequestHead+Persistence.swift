extension HTTPRequestHead {
    /// Whether the connection stays open after this request's answer. RFC 9112 §9.3: HTTP/1.1 persists
    /// unless "close" is listed in `Connection`; HTTP/1.0 closes (keep-alive for 1.0 is an old extension
    /// Latchkey does not offer).
    public var wantsKeepAlive: Bool {
        guard version == .http1_1 else { return false }
        return !headers.hasListElement("close", in: .connection)
    }

    /// The path of an origin-form target without its query (`/a/b?x=1` → `/a/b`).
    public static func pathOnly(_ target: String) -> String {
        // Searched in the contiguous UTF-8 (through `String.UTF8View` it cost ~250 instructions a call).
        var text = target
        return text.withUTF8 { bytes in
            guard let query = bytes.firstIndex(of: UInt8(ascii: "?")) else { return target }
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[..<query]), as: UTF8.self)
        }
    }
}
