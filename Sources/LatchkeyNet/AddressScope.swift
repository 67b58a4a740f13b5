#if canImport(Glibc)
import Glibc
#endif

/// Where an address leads, for the proxy's destination rules (`DestinationPolicy`); with `isLoopback(host:)`
/// and `SocketAddress.isLoopback`, the one home of the loopback rule (127.0.0.0/8, ::1, `localhost`), which
/// the config checks, the planner, the consent guard, the resolver and the destination rules all ask.
///
/// It answers two questions that err in opposite directions on purpose:
/// - `scope`: where could a connection to this address land? For refusals, so it leans wide: the unspecified
///   addresses (a connect to 0.0.0.0 reaches this host on Linux) and loopback carried in an IPv4-mapped or
///   NAT64 address count as loopback.
/// - `isLoopback`: is this certainly this host's loopback? For trust (plain-text credentials allowed, a
///   listener kept private, a `Host` naming the admin listener), so it leans narrow: 127.0.0.0/8, ::1 and
///   ::ffff:127.x only; not 0.0.0.0 or `::` (as a bind address they mean every interface), not NAT64 (a
///   gateway elsewhere).
public enum AddressScope: Sendable, Equatable {
    /// 127.0.0.0/8, ::1, and the unspecified addresses 0.0.0.0/8 and `::`, which a connect on Linux
    /// delivers to this host.
    case loopback
    /// 169.254.0.0/16 and fe80::/10 (RFC 3927, RFC 4291 §2.5.6), the home of most cloud metadata services.
    case linkLocal
    /// A cloud instance-metadata service outside link-local: fd00:ec2::254 (AWS IPv6), 100.100.100.200
    /// (Alibaba Cloud), or a well-known metadata host name.
    case metadata
    /// Anything else.
    case other
}

extension SocketAddress {
    /// The scope of this address; an IPv4-mapped IPv6 address (::ffff:a.b.c.d) and one in the NAT64 well-known
    /// prefix (64:ff9b::a.b.c.d, RFC 6052 §2.1) are judged as the IPv4 address they carry.
    public var scope: AddressScope {
        switch self {
        case .v4(let a):
            return Self.scope(ipv4: UInt32(bigEndian: a.sin_addr.s_addr))
        case .v6(let a):
            let bytes = withUnsafeBytes(of: a.sin6_addr) { Array($0) }
            return Self.scope(ipv6: bytes)
        }
    }

    static func scope(ipv4 value: UInt32) -> AddressScope {
        switch value >> 24 {
        case 127, 0: return .loopback
        default: break
        }
        if value >> 16 == 0xA9FE { return .linkLocal }  // 169.254/16
        if value == 0x6464_64C8 { return .metadata }  // 100.100.100.200
        return .other
    }

    /// 127.0.0.0/8, ::1 or ::ffff:127.x (see `AddressScope` for why not the unspecified or NAT64 forms).
    public var isLoopback: Bool {
        switch self {
        case .v4(let a):
            return UInt32(bigEndian: a.sin_addr.s_addr) >> 24 == 127
        case .v6(let a):
            let bytes = withUnsafeBytes(of: a.sin6_addr) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }), bytes[15] == 1 { return true }  // ::1
            return bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF && bytes[12] == 127
        }
    }

    static func scope(ipv6 bytes: [UInt8]) -> AddressScope {
        if bytes[0..<15].allSatisfy({ $0 == 0 }), bytes[15] <= 1 { return .loopback }  // :: and ::1
        if bytes[0..<10].allSatisfy({ $0 == 0 }), bytes[10] == 0xFF, bytes[11] == 0xFF {  // ::ffff:a.b.c.d
            let v4 = bytes[12...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return scope(ipv4: v4)
        }
        let nat64: [UInt8] = [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0]
        if Array(bytes[0..<12]) == nat64 {  // 64:ff9b::a.b.c.d
            let v4 = bytes[12...].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
            return scope(ipv4: v4)
        }
        if bytes[0] == 0xFE, bytes[1] & 0xC0 == 0x80 { return .linkLocal }  // fe80::/10
        let ec2: [UInt8] = [0xFD, 0x00, 0x0E, 0xC2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x02, 0x54]
        if bytes == ec2 { return .metadata }  // fd00:ec2::254
        return .other
    }
}

extension AddressScope {
    /// Host names that resolve to a metadata service inside a cloud instance.
    static let metadataNames: Set<String> = [
        "metadata", "metadata.google.internal", "metadata.goog", "instance-data", "instance-data.ec2.internal",
    ]

    /// The scope of a host as written (lower-cased, IPv6 without brackets, a trailing dot ignored), when it
    /// is known without DNS: an IP literal, `localhost` or `*.localhost` (RFC 6761 §6.3), a metadata name.
    /// nil for any other name (its scope is known only once resolved).
    public static func of(host: String) -> AddressScope? {
        let name = written(host)
        if let literal = SocketAddress(ipLiteral: name, port: 0) { return literal.scope }
        if isLocalhostName(name) { return .loopback }
        if metadataNames.contains(name) { return .metadata }
        return nil
    }

    /// Whether `host` as written (any case, IPv6 with or without brackets, a trailing dot ignored) is certainly
    /// this host's loopback: a loopback literal (`SocketAddress.isLoopback`) or a `localhost` name.
    public static func isLoopback(host: String) -> Bool {
        let name = written(host)
        if let literal = SocketAddress(ipLiteral: name, port: 0) { return literal.isLoopback }
        return isLocalhostName(name)
    }

    /// Whether `host` is `localhost` or a name under it (case-insensitive, a trailing dot ignored): RFC 6761
    /// §6.3 lets them resolve only to loopback, so `Resolver` answers them without DNS.
    public static func isLocalhostName(_ host: String) -> Bool {
        let name = written(host)
        return name == "localhost" || name.hasSuffix(".localhost")
    }

    /// Lower-cased, without brackets around an IPv6 literal, without one trailing dot.
    private static func written(_ host: String) -> String {
        var name = host.lowercased()
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        if name.hasSuffix(".") { name.removeLast() }
        return name
    }
}
