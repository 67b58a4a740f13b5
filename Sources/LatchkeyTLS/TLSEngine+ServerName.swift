import COpenSSL

extension TLSEngine {
    /// The SNI callback of every server context (RFC 6066 §3). OpenSSL calls it for each
    /// ClientHello, with or without SNI; it finds the engine through the SSL's app data, which is
    /// set only when the engine has a `requiredServerName`.
    static let serverNameCallback: latchkey_servername_callback = { ssl, alert, _ in
        guard let ssl, let data = latchkey_SSL_get_app_data(ssl) else { return SSL_TLSEXT_ERR_OK }
        let engine = Unmanaged<TLSEngine>.fromOpaque(data).takeUnretainedValue()
        guard let required = engine.requiredServerName,
            let offered = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name)
        else { return SSL_TLSEXT_ERR_OK }  // no SNI: accepted (IP literals carry none)
        let name = UnsafeRawBufferPointer(start: offered, count: strlen(offered))
        if TLSEngine.serverName(name, matches: required) { return SSL_TLSEXT_ERR_OK }
        engine.refusedServerName = TLSEngine.printable(name)
        alert?.pointee = SSL_AD_UNRECOGNIZED_NAME
        return SSL_TLSEXT_ERR_ALERT_FATAL
    }

    /// True when the SNI bytes `offered` name `required` (already normalized and lower case):
    /// ASCII case-insensitive, one trailing dot ignored.
    static func serverName(_ offered: UnsafeRawBufferPointer, matches required: String) -> Bool {
        var offered = offered[...]
        if offered.last == UInt8(ascii: ".") { offered = offered.dropLast() }
        let required = required.utf8
        guard offered.count == required.count else { return false }
        return zip(offered, required).allSatisfy { lowercase($0) == $1 }
    }

    private static func lowercase(_ byte: UInt8) -> UInt8 {
        (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
    }

    /// The client's name as it may appear in an error or log: printable ASCII, at most 255 bytes.
    fileprivate static func printable(_ bytes: UnsafeRawBufferPointer) -> String {
        let shown = bytes.prefix(255).map {
            (0x21...0x7E).contains($0) && $0 != UInt8(ascii: "'") ? $0 : UInt8(ascii: "?")
        }
        return String(decoding: shown, as: UTF8.self) + (bytes.count > 255 ? "…" : "")
    }
}
