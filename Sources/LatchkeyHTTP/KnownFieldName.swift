/// The field names the proxy itself reads, removes or rewrites, recognised once when a field is added to
/// `HTTPHeaders`: a lookup by one of them then compares one byte per field instead of the name's bytes.
/// Every request and response is searched a dozen times for these (framing, Host, Connection and the
/// hop-by-hop set, credentials, Via), so recognising them once is cheaper than comparing names each time.
/// Any other name is `.other` and compared byte by byte (ASCII case-insensitive) as before.
public enum KnownFieldName: UInt8, Sendable, CaseIterable, BitwiseCopyable {
    case other
    case host, connection, contentLength, transferEncoding, keepAlive, proxyConnection, te, trailer, upgrade
    case authorization, proxyAuthorization, proxyAuthenticate, via, maxForwards, location, expect
    case proxyAuthenticationInfo

    /// The name's case-insensitive identity; `.other` for names not listed here.
    init(_ name: UnsafeBufferPointer<UInt8>) {
        // Length first: at most two candidates share one, so at most two comparisons.
        switch name.count {
        case 2: self = Self.match(name, "te", .te)
        case 3: self = Self.match(name, "via", .via)
        case 4: self = Self.match(name, "host", .host)
        case 6: self = Self.match(name, "expect", .expect)
        case 7:
            let trailer = Self.match(name, "trailer", .trailer)
            self = trailer != .other ? trailer : Self.match(name, "upgrade", .upgrade)
        case 8: self = Self.match(name, "location", .location)
        case 10:
            let connection = Self.match(name, "connection", .connection)
            self = connection != .other ? connection : Self.match(name, "keep-alive", .keepAlive)
        case 12: self = Self.match(name, "max-forwards", .maxForwards)
        case 13: self = Self.match(name, "authorization", .authorization)
        case 14: self = Self.match(name, "content-length", .contentLength)
        case 16: self = Self.match(name, "proxy-connection", .proxyConnection)
        case 17: self = Self.match(name, "transfer-encoding", .transferEncoding)
        case 18: self = Self.match(name, "proxy-authenticate", .proxyAuthenticate)
        case 19: self = Self.match(name, "proxy-authorization", .proxyAuthorization)
        case 25: self = Self.match(name, "proxy-authentication-info", .proxyAuthenticationInfo)
        default: self = .other
        }
    }

    /// The identity of a name given as a `String` (a lookup's argument).
    init(_ name: String) {
        // Literals and parsed names are contiguous UTF-8 already; anything else is made so first.
        var name = name
        self = name.withUTF8 { KnownFieldName($0) }
    }

    /// Hop-by-hop by definition (RFC 9110 §7.6.1), whatever `Connection` says; see
    /// `HTTPHeaders.hopByHopFieldNames`.
    var isHopByHop: Bool { KnownFieldNames.hopByHop.contains(self) }

    /// `known` when `name` equals `lowercased` ignoring ASCII case, else `.other`. The caller switched on
    /// the length, so both have the same count; compared a word at a time (`ByteWords`).
    @inline(__always)
    private static func match(_ name: UnsafeBufferPointer<UInt8>, _ lowercased: StaticString, _ known: Self) -> Self {
        guard let base = name.baseAddress else { return .other }
        return ByteWords.equalsLowercased(
            UnsafeRawPointer(base), UnsafeRawPointer(lowercased.utf8Start), count: lowercased.utf8CodeUnitCount)
            ? known : .other
    }
}

/// A set of `KnownFieldName`s, one bit each: what a rewrite drops (`HTTPHeaders.forwarded`).
public struct KnownFieldNames: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ name: KnownFieldName) { rawValue = 1 << UInt32(name.rawValue) }

    public static let authorization = Self(.authorization)
    public static let proxyAuthorization = Self(.proxyAuthorization)
    public static let proxyAuthenticate = Self(.proxyAuthenticate)
    public static let proxyAuthenticationInfo = Self(.proxyAuthenticationInfo)
    /// `Content-Length` and `Transfer-Encoding`: what `HTTPHeaders.setFraming` writes afresh.
    public static let framing: Self = [Self(.contentLength), Self(.transferEncoding)]
    /// The fields hop-by-hop by definition, whatever `Connection` says (RFC 9110 §7.6.1; the names of
    /// `HTTPHeaders.hopByHopFieldNames`).
    public static let hopByHop: Self = [
        Self(.connection), Self(.keepAlive), Self(.proxyConnection), Self(.te), Self(.transferEncoding),
        Self(.trailer), Self(.upgrade),
    ]

    @inline(__always)
    public func contains(_ name: KnownFieldName) -> Bool { rawValue & (1 << UInt32(name.rawValue)) != 0 }
}
