/// Size limits the HTTP/1.1 parsers enforce while decoding (RFC 9112 §2.3: a recipient must be
/// prepared for, and may refuse, arbitrarily long lines).
public struct HTTP1Limits: Sendable, Equatable {
    /// The longest request line or status line, CRLF not counted. Longer request lines fail with 414.
    public var maxRequestLineBytes: Int
    /// The field lines of a header (or trailer) section together, CRLFs included; the start line
    /// and the final empty line are not counted. Exceeding it fails with 431.
    public var maxHeaderBytes: Int
    /// The number of field lines in a header (or trailer) section. Exceeding it fails with 431.
    public var maxHeaderCount: Int
    /// The longest chunk-size line (size plus extensions), CRLF not counted.
    public var maxChunkSizeLineBytes: Int

    public init(
        maxRequestLineBytes: Int = 8192,
        maxHeaderBytes: Int = 65536,
        maxHeaderCount: Int = 200,
        maxChunkSizeLineBytes: Int = 4096
    ) {
        self.maxRequestLineBytes = maxRequestLineBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxChunkSizeLineBytes = maxChunkSizeLineBytes
    }
}
