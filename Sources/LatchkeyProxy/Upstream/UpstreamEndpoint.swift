import LatchkeyConfig
import LatchkeyNet

/// Where and how one request goes upstream.
public struct UpstreamEndpoint: Sendable, Hashable {
    public var scheme: String
    public var host: String
    public var port: Int
    /// Name for SNI and certificate verification (the host unless `tls.server_name` says otherwise).
    public var serverName: String

    /// Which addresses the connection may reach (checked again after DNS); part of the pool key, so a
    /// connection opened under one policy never serves a request under a stricter one.
    public var destination: DestinationPolicy = .routed

    public var isTLS: Bool { scheme == "https" }
    public var authority: String { UpstreamURL.authority(host: host, port: port, scheme: scheme) }
}
