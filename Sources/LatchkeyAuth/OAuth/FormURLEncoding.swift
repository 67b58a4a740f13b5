/// `application/x-www-form-urlencoded` serialization per the WHATWG URL Standard §5.2 (the byte
/// serializer): space becomes `+`, ALPHA / DIGIT / `*-._` stay, every other UTF-8 byte becomes `%XX`
/// (upper-case hex). RFC 6749 Appendix B and §2.3.1 use this encoding for form bodies and for the
/// client id and secret inside a Basic credential.
public enum FormURLEncoding {
    private static let hex = Array("0123456789ABCDEF".utf8)

    /// Encodes one name or value.
    public static func encode(_ text: String) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "_"):
                out.append(byte)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Encodes name/value pairs in order as `n1=v1&n2=v2`.
    public static func encode(_ pairs: [(String, String)]) -> String {
        pairs.map { encode($0.0) + "=" + encode($0.1) }.joined(separator: "&")
    }
}
