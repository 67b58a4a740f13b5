/// Which addresses an outgoing connection may reach, checked on the name before DNS (`refusal(forHost:)`) and
/// on every address after it (`refusal(for:)`, in `TCPConnection`), so a name that resolves to a refused
/// range is caught too.
///
/// The proxy's own listeners are refused in every policy; see `OwnListeners`.
public struct DestinationPolicy: Sendable, Hashable {
    /// Whether loopback (and the unspecified addresses, which reach this host) may be reached.
    public var allowsLoopback: Bool
    /// Whether link-local and metadata addresses (169.254.169.254, fd00:ec2::254, ...) may be reached.
    public var allowsLinkLocal: Bool

    public init(allowsLoopback: Bool, allowsLinkLocal: Bool) {
        self.allowsLoopback = allowsLoopback
        self.allowsLinkLocal = allowsLinkLocal
    }

    /// Routed traffic: the operator named the upstream, so any address but the proxy's own listeners.
    public static let routed = DestinationPolicy(allowsLoopback: true, allowsLinkLocal: true)

    /// Unmatched (passthrough) requests and tunnels: never link-local or metadata; loopback only when the
    /// proxy listens on loopback itself (a client that reaches a loopback listener can reach loopback anyway).
    public static func passthrough(listenerIsLoopback: Bool) -> DestinationPolicy {
        DestinationPolicy(allowsLoopback: listenerIsLoopback, allowsLinkLocal: false)
    }

    /// A redirect the proxy follows to a host no route names: neither loopback nor link-local nor metadata.
    public static let redirect = DestinationPolicy(allowsLoopback: false, allowsLinkLocal: false)

    /// Why `scope` is refused, or nil when it is allowed.
    public func refusal(for scope: AddressScope) -> String? {
        switch scope {
        case .loopback where !allowsLoopback: "a loopback address"
        case .linkLocal where !allowsLinkLocal: "a link-local address"
        case .metadata where !allowsLinkLocal: "a cloud metadata address"
        default: nil
        }
    }

    /// Why `address` (resolved) is refused, or nil when it is allowed.
    public func refusal(for address: SocketAddress) -> String? {
        refusal(for: address.scope).map { "\(address.host) is \($0)" }
    }

    /// Why `host` is refused when its scope is known without DNS (literal, localhost, metadata name); nil
    /// when allowed or not known yet.
    public func refusal(forHost host: String) -> String? {
        guard let scope = AddressScope.of(host: host) else { return nil }
        return refusal(for: scope).map { "\(host) is \($0)" }
    }
}

extension DestinationPolicy {
    /// The check `TCPConnection` runs on each resolved address: the proxy's own listeners first, then
    /// this policy's scopes. Returns the reason for a refusal.
    public func admission(excluding listeners: OwnListeners) -> @Sendable (SocketAddress) -> String? {
        let policy = self
        return { address in
            if listeners.contains(address) { return "\(address) is one of this proxy's own listeners" }
            return policy.refusal(for: address)
        }
    }
}
