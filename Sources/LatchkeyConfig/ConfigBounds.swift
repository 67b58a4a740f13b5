/// The allowed range of every number in the configuration (docs/configuration.md lists them).
///
/// Each bound is far above any sensible setting and far below where arithmetic on it could overflow:
/// the runtime multiplies and adds these values (deadline = timeout × attempts + delays, token timeouts × 3,
/// durations in nanoseconds), and a bad file must give a config error naming the key and the range, never
/// a trap in `check` or in a running proxy's reload.
public enum ConfigBounds {
    /// 24 hours in milliseconds: timeouts, deadlines, idle timeouts, token refresh margins.
    public static let day = 86_400_000
    /// 1 hour in milliseconds: fixed retry delays and the shutdown grace period.
    public static let hour = 3_600_000

    public static let timeoutMs = 1...day
    public static let deadlineMs = 1...day
    public static let idleTimeoutMs = 1...day
    public static let refreshBeforeMs = 0...day
    /// `token_wait_ms`: 0 = a request never waits for a token fetch (the route's timeout bounds it too).
    public static let tokenWaitMs = 0...hour
    public static let delayMs = 0...hour
    public static let shutdownGraceMs = 0...hour
    public static let maxRetries = 0...100
    /// Browsers stop around 20 too.
    public static let maxRedirects = 0...20
    /// A buffered body lives in memory for the whole exchange.
    public static let bodyBufferBytes = 0...(64 << 20)
    public static let maxRequestLineBytes = 1...(1 << 20)
    public static let maxHeaderBytes = 1...(16 << 20)
    public static let maxIdlePerUpstream = 0...10_000
    /// Streams one HTTP/2 client may have open at once; each can hold an exchange and its buffers.
    public static let http2MaxConcurrentStreams = 1...10_000
    /// The decoded header list of one HTTP/2 request (RFC 9113 §6.5.2), as `maxHeaderBytes`.
    public static let http2MaxHeaderListBytes = 1...(16 << 20)
    /// The HPACK dynamic table the client's encoder may use (RFC 7541 §4.2); memory per connection.
    public static let http2HeaderTableBytes = 0...65_536
    /// `workers`: event loops. More than the CPUs the process may use only adds context switches; 64 is far
    /// above any sidecar or gateway this proxy is meant for.
    public static let workers = 1...64
    /// For a number read with only a minimum: still bounded, by `Int32.max` (24 days in milliseconds, 2 GiB),
    /// so that no derived arithmetic can overflow.
    public static let fallbackMaximum = Int(Int32.max)
}
