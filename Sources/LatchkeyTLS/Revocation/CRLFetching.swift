/// Fetches CRLs from distribution points for a `CRLCache`. Implemented above LatchkeyTLS (the proxy's own
/// HTTP client); LatchkeyTLS knows nothing of HTTP.
///
/// Contract: the fetch runs off the data-path event loops (on the fetcher's own loop or queue), is bounded
/// in time and in body size, and calls `completion` exactly once, on any thread. It must never block the
/// caller: `fetchCRL` is called from inside a TLS handshake on an event loop.
public protocol CRLFetching: Sendable {
    /// Starts a GET of `url` (always `http://`); the body is the CRL (DER or PEM).
    func fetchCRL(from url: String, completion: @escaping @Sendable (Result<[UInt8], CRLFetchFailure>) -> Void)
}

/// Why a CRL could not be fetched: a human reason naming the URL's problem (status, timeout, size).
public struct CRLFetchFailure: Error, Sendable, Hashable, CustomStringConvertible {
    /// E.g. "connection refused", "HTTP status 404", "larger than 10485760 bytes".
    public var reason: String
    public init(reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// A fetcher for contexts that have no distribution-point fetching (tests, `latchkey check --offline`):
/// every fetch fails at once, so only `crl_file` and stapled OCSP responses count.
public struct NoCRLFetching: CRLFetching {
    public init() {}
    public func fetchCRL(from url: String, completion: @escaping @Sendable (Result<[UInt8], CRLFetchFailure>) -> Void) {
        completion(.failure(CRLFetchFailure(reason: "fetching CRLs is not enabled here")))
    }
}
