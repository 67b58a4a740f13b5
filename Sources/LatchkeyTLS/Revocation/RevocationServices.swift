/// What a client context with revocation checking shares with the rest of the process: the cache of
/// distribution-point CRLs (one per process, so reloads keep it) and where each handshake's report goes.
public struct RevocationServices: Sendable {
    /// Distribution-point CRLs, fetched in the background.
    public var cache: CRLCache
    /// Called once per full handshake that checked revocation, on the handshake's event loop: it must
    /// not block (count a metric, remember the last result).
    public var observer: @Sendable (RevocationReport) -> Void

    public init(cache: CRLCache, observer: @escaping @Sendable (RevocationReport) -> Void = { _ in }) {
        self.cache = cache
        self.observer = observer
    }

    /// No distribution-point fetching and no observer: `crl_file` and stapled OCSP only.
    public static func offline() -> RevocationServices { RevocationServices(cache: CRLCache(fetcher: NoCRLFetching())) }
}
