import LatchkeyConfig
import LatchkeyHTTP
import LatchkeyNet

/// Where and how one request goes upstream.
///
/// Immutable, and a class: every plan holds one and plans are copied, so a copy is one retain. The authority
/// (`host[:port]`, the Host field and the log name it) is formatted once, and the hash computed once: every
/// request hashes its endpoint to find an idle connection, and hashing four Strings each time was a visible
/// share of a request's cost. Equality is by value.
public final class UpstreamEndpoint: Sendable, Hashable {
    public let scheme: String
    public let host: String
    public let port: Int
    /// Name for SNI and certificate verification (the host unless `tls.server_name` says otherwise).
    public let serverName: String
    /// `host[:port]`: the port only when it is not the scheme's default; IPv6 literals in brackets.
    public let authority: String
    /// `Host: authority`, prepared once for every request to this endpoint (`RequestRewrite`).
    public let hostField: HTTPHeaders.PreparedField

    /// Which addresses the connection may reach (checked again after DNS); part of the pool key, so a
    /// connection opened under one policy never serves a request under a stricter one.
    public let destination: DestinationPolicy

    private let addressHash: Int

    public init(
        scheme: String, host: String, port: Int, serverName: String, destination: DestinationPolicy = .routed
    ) {
        self.scheme = scheme
        self.host = host
        self.port = port
        self.serverName = serverName
        self.destination = destination
        authority = UpstreamURL.authority(host: host, port: port, scheme: scheme)
        hostField = HTTPHeaders.PreparedField(name: "Host", value: authority)
        var hasher = Hasher()
        hasher.combine(scheme)
        hasher.combine(host)
        hasher.combine(port)
        hasher.combine(serverName)
        addressHash = hasher.finalize()
    }

    /// This endpoint under another destination policy.
    public func with(destination: DestinationPolicy) -> UpstreamEndpoint {
        UpstreamEndpoint(scheme: scheme, host: host, port: port, serverName: serverName, destination: destination)
    }

    public var isTLS: Bool { scheme == "https" }

    public static func == (a: UpstreamEndpoint, b: UpstreamEndpoint) -> Bool {
        // Plans of one route share their endpoint: the pool's lookups nearly always end at the first test.
        a === b || a.addressHash == b.addressHash && a.port == b.port && a.destination == b.destination && a.host == b.host
            && a.scheme == b.scheme && a.serverName == b.serverName
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(addressHash)
        hasher.combine(destination)
    }
}
