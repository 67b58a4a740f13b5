/// Field syntax checks (RFC 9110 §5.1, §5.5), shared by the parsers and by code that builds
/// headers from configuration (refuse a value containing CR, LF or NUL instead of injecting it).
public enum HTTPField {
    /// Whether `name` is a non-empty token (RFC 9110 §5.6.2).
    public static func isValidName(_ name: String) -> Bool {
        isValidName(name.utf8)
    }

    /// Whether `value` is a valid field value as this codec would parse it back unchanged:
    /// only HTAB, SP, visible ASCII and non-ASCII UTF-8, no leading or trailing whitespace
    /// (RFC 9110 §5.5). CR, LF, NUL and other controls are refused.
    public static func isValidValue(_ value: String) -> Bool {
        var ok = true
        for byte in value.utf8 where !isValueByte(byte) {
            ok = false
            break
        }
        guard ok, let first = value.utf8.first, let last = value.utf8.last else { return ok }
        return !isWhitespace(first) && !isWhitespace(last)
    }

    static func isValidName(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(isTokenByte)
    }

    /// tchar (RFC 9110 §5.6.2): ALPHA / DIGIT / one of ``!#$%&'*+-.^_`|~``. A lookup in a 128-bit table
    /// (bytes 0x00–0x3F, then 0x40–0x7F): every byte of every field name goes through here.
    @inline(__always)
    static func isTokenByte(_ byte: UInt8) -> Bool {
        let low: UInt64 = 0x03FF_6CFA_0000_0000  // ! # $ % & ' * + - . 0-9
        let high: UInt64 = 0x57FF_FFFF_C7FF_FFFE  // A-Z ^ _ ` a-z | ~
        switch byte >> 6 {
        case 0: return (low >> UInt64(byte & 63)) & 1 == 1
        case 1: return (high >> UInt64(byte & 63)) & 1 == 1
        default: return false
        }
    }

    /// field-vchar / SP / HTAB / obs-text (RFC 9110 §5.5).
    @inline(__always)
    static func isValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7F)
    }

    @inline(__always)
    static func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 }
}
