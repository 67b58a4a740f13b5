import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The addresses this process listens on (proxy and admin), so that no outgoing connection ever reaches
/// them: a request through the proxy to its own admin port would come from 127.0.0.1 and carry the
/// proxy's authority, and a route to its own listener would loop.
///
/// Filled once the listeners are bound (ports chosen by the kernel included); read from any loop.
public final class OwnListeners: Sendable {
    private let addresses = Mutex<[SocketAddress]>([])

    public init() {}

    /// Records a bound listener address.
    public func add(_ address: SocketAddress) { addresses.withLock { $0.append(address) } }

    /// Whether connecting to `address` would reach one of the listeners: the same port and the same
    /// address, or loopback/unspecified forms of it, or any address of this host for a listener bound to
    /// the wildcard address (0.0.0.0, ::).
    public func contains(_ address: SocketAddress) -> Bool {
        let port = address.port
        let listeners = addresses.withLock { $0 }.filter { $0.port == port }
        guard !listeners.isEmpty else { return false }
        let targetHost = address.canonicalHost
        let targetIsLocal = address.scope == .loopback
        for listener in listeners {
            let listenerHost = listener.canonicalHost
            if listenerHost == targetHost || (targetIsLocal && listener.scope == .loopback) { return true }
            if listener.isUnspecified, targetIsLocal || Self.localInterfaceHosts().contains(targetHost) { return true }
        }
        return false
    }

    /// The addresses of this host's interfaces (getifaddrs); only asked when a port matches a listener.
    private static func localInterfaceHosts() -> Set<String> {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return [] }
        defer { freeifaddrs(first) }
        var hosts: Set<String> = []
        var cursor: UnsafeMutablePointer<ifaddrs>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ifa_addr, let address = SocketAddress(storage: raw) {
                hosts.insert(address.canonicalHost)
            }
            cursor = entry.pointee.ifa_next
        }
        return hosts
    }
}

extension SocketAddress {
    /// The address text, with an IPv4-mapped IPv6 address (::ffff:a.b.c.d) written as IPv4.
    var canonicalHost: String {
        let text = host
        if text.hasPrefix("::ffff:"), text.contains(".") { return String(text.dropFirst(7)) }
        return text
    }

    /// 0.0.0.0 or `::`.
    var isUnspecified: Bool { host == "0.0.0.0" || host == "::" }
}
