import Dispatch
#if canImport(Glibc)
import Glibc
#endif

/// Resolves host names without blocking an event loop: `getaddrinfo` runs on a separate concurrent
/// queue and the answer is delivered back on the caller's loop. IP literals are answered at once, and so are
/// `localhost` and `*.localhost`: RFC 6761 §6.3 lets them resolve only to loopback, so they never reach DNS
/// (where a resolver could answer with any address and fool the loopback rules built on the name).
public enum Resolver {
    private static let lookupQueue = DispatchQueue(label: "latchkey.resolver", attributes: .concurrent)

    /// Resolves `host` to TCP addresses for `port`; `completion` runs on `loop`.
    public static func resolve(
        host: String, port: Int, on loop: EventLoop,
        completion: @escaping @Sendable (Result<[SocketAddress], NetError>) -> Void
    ) {
        if let literal = SocketAddress(ipLiteral: host, port: port) {
            loop.execute { completion(.success([literal])) }
            return
        }
        if AddressScope.isLocalhostName(host) {
            let loopback = loopbackAddresses(port: port)
            loop.execute { completion(.success(loopback)) }
            return
        }
        lookupQueue.async {
            let result = lookup(host: host, port: port)
            loop.execute { completion(result) }
        }
    }

    /// 127.0.0.1 then ::1, what a `localhost` name resolves to.
    static func loopbackAddresses(port: Int) -> [SocketAddress] {
        ["127.0.0.1", "::1"].compactMap { SocketAddress(ipLiteral: $0, port: port) }
    }

    /// Blocking lookup; only ever called on `lookupQueue`.
    private static func lookup(host: String, port: Int) -> Result<[SocketAddress], NetError> {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_family = AF_UNSPEC
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            let reason = String(cString: gai_strerror(status))
            return .failure(NetError(.resolveFailed, "cannot resolve \(host): \(reason)"))
        }
        defer { freeaddrinfo(first) }
        var addresses: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let entry = cursor {
            if let raw = entry.pointee.ai_addr, let address = SocketAddress(storage: raw) {
                addresses.append(address)
            }
            cursor = entry.pointee.ai_next
        }
        // Prefer IPv4 first: loopback services here commonly bind 127.0.0.1 only.
        addresses.sort { $0.family == AF_INET && $1.family != AF_INET }
        return addresses.isEmpty ? .failure(NetError(.resolveFailed, "no addresses for \(host)")) : .success(addresses)
    }
}
