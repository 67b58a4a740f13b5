/// Where bytes are appended one at a time (`JSONString`, log timestamps): an array, or a log line being
/// written (`LogLine` in the proxy).
public protocol ByteSink {
    mutating func append(_ byte: UInt8)
}

extension Array: ByteSink where Element == UInt8 {}

/// Minimal JSON string quoting (RFC 8259 §7), enough for error bodies and status output.
public enum JSONString {
    public static func quote(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case let s where s.value < 0x20:
                let hex = String(s.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// `quote(text)` appended to `out` as UTF-8, byte by byte (the same escapes: they are all ASCII, and
    /// bytes of multi-byte characters pass through unchanged).
    @inlinable
    public static func appendQuoted(_ text: String, to out: inout some ByteSink) {
        out.append(UInt8(ascii: "\""))
        appendEscaped(text.utf8, to: &out)
        out.append(UInt8(ascii: "\""))
    }

    /// The inside of a JSON string for UTF-8 `bytes` (no quotes), appended to `out`. Inlinable so that log
    /// lines, which call it per field, get it specialised for their byte sequences.
    @inlinable
    public static func appendEscaped(_ bytes: some Sequence<UInt8>, to out: inout some ByteSink) {
        for byte in bytes {
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"):
                out.append(UInt8(ascii: "\\"))
                out.append(byte)
            case 0x0A:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "n"))
            case 0x0D:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "r"))
            case 0x09:
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "t"))
            case 0..<0x20:
                let hex: StaticString = "0123456789abcdef"
                out.append(UInt8(ascii: "\\"))
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hex.utf8Start[Int(byte >> 4)])
                out.append(hex.utf8Start[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
    }
}
