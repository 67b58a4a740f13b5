/// What one side of an HTTP/2 connection announces in its SETTINGS and enforces on what it receives.
/// The defaults suit a proxy: bounded memory per connection, windows large enough not to throttle one stream
/// on a fast link.
public struct HTTP2Settings: Sendable, Equatable {
    /// Streams the peer may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS).
    public var maxConcurrentStreams: UInt32 = 100
    /// Bytes of DATA the peer may send on one stream before this side consumes them (SETTINGS_INITIAL_WINDOW_SIZE).
    public var initialWindowSize: UInt32 = 256 * 1024
    /// Bytes of DATA the peer may send on the connection as a whole before this side consumes them.
    public var connectionWindowSize: UInt32 = 1 << 20
    /// The largest header section accepted (name + value + 32 per field, RFC 9113 §6.5.2). A larger one resets
    /// its stream (`HTTP2Event.headersTooLarge`).
    public var maxHeaderListSize: UInt32 = 64 * 1024
    /// The HPACK dynamic table the peer's encoder may use (SETTINGS_HEADER_TABLE_SIZE).
    public var headerTableSize: UInt32 = 4096
    /// Extended CONNECT (RFC 8441), announced by a server that accepts it.
    public var enableConnectProtocol = false
    /// Rapid-reset guard (CVE-2023-44487): the peer may reset this many streams in a burst, refilled at
    /// `resetRatePerSecond`; past that the connection ends with GOAWAY(ENHANCE_YOUR_CALM).
    public var resetBurst: UInt32 = 1000
    public var resetRatePerSecond: UInt32 = 33

    public init() {}
}
