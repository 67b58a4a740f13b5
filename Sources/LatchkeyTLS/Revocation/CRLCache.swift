import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// CRLs fetched from distribution points, per URL, shared by every TLS context of the process (so a
/// reload keeps them).
///
/// Handshakes only read it (`lookup`), on their event loop, without waiting: a URL it has no CRL for
/// yet is fetched in the background by the `CRLFetching` (`fetch`), and a handshake that must wait
/// (`hard`) asks to be told when the fetch settles (`whenSettled`) and suspends meanwhile. A CRL is
/// kept until its nextUpdate, refetched shortly before (the old one serves until the new one
/// arrives), and a failed fetch is retried after `retryAfterFailure`.
///
/// Thread-safe: one `Mutex` around the table; callbacks run outside it.
public final class CRLCache: Sendable {
    /// What the cache can say about one URL right now.
    public enum Lookup: Sendable {
        /// CRLs to use (possibly past their nextUpdate: verification then reports them as stale).
        case crls([CertificateRevocationList])
        /// Nothing yet: a fetch is under way or has not started.
        case pending
        /// The last fetch failed and no older CRL exists.
        case failed(String)
    }

    private struct Cached {
        var crls: [CertificateRevocationList]
        var refreshAt: time_t
    }

    private enum Entry {
        case fetching(previous: Cached?, waiters: [@Sendable () -> Void])
        case cached(Cached)
        case failed(reason: String, retryAt: time_t)
    }

    /// At most this many URLs are remembered; past it the entries that are not being fetched are dropped.
    public static let maxEntries = 256
    /// Seconds before a failed URL is tried again.
    public let retryAfterFailure: time_t
    /// Seconds a CRL without nextUpdate is kept before it is fetched again.
    public let lifetimeWithoutNextUpdate: time_t

    private let fetcher: any CRLFetching
    private let now: @Sendable () -> time_t
    private let entries = Mutex<[String: Entry]>([:])

    /// A cache fetching through `fetcher`; `now` (seconds since the epoch) is injectable for tests.
    public init(
        fetcher: any CRLFetching, retryAfterFailure: time_t = 30, lifetimeWithoutNextUpdate: time_t = 3600,
        now: @escaping @Sendable () -> time_t = { time(nil) }
    ) {
        self.fetcher = fetcher
        self.retryAfterFailure = retryAfterFailure
        self.lifetimeWithoutNextUpdate = lifetimeWithoutNextUpdate
        self.now = now
    }

    /// What is known about `url`, and whether it should be (re)fetched: never seen, due for refresh, or
    /// failed long enough ago. Starts nothing: the caller decides (`fetch`), after it has checked that the
    /// certificate naming the URL chains to a trusted CA, so a stranger's certificate cannot make us fetch.
    public func lookup(_ url: String) -> (Lookup, needsFetch: Bool) {
        let now = self.now()
        return entries.withLock { entries in
            switch entries[url] {
            case nil:
                return (.pending, true)
            case .fetching(let previous, _):
                return (previous.map { .crls($0.crls) } ?? .pending, false)
            case .cached(let cached):
                return (.crls(cached.crls), now >= cached.refreshAt)
            case .failed(let reason, let retryAt):
                return (.failed(reason), now >= retryAt)
            }
        }
    }

    /// Starts a fetch of `url` unless one is under way. Never blocks.
    public func fetch(_ url: String) {
        let start: Bool = entries.withLock { entries in
            switch entries[url] {
            case .fetching:
                return false
            case .cached(let cached):
                entries[url] = .fetching(previous: cached, waiters: [])
            case .failed, nil:
                if entries[url] == nil, entries.count >= Self.maxEntries { Self.evict(&entries) }
                entries[url] = .fetching(previous: nil, waiters: [])
            }
            return true
        }
        guard start else { return }
        fetcher.fetchCRL(from: url) { [self] result in complete(url, result) }
    }

    /// Calls `callback` (on any thread) once no fetch of any of `urls` is under way; at once if none is.
    public func whenSettled(_ urls: [String], _ callback: @escaping @Sendable () -> Void) {
        let pending: [String] = entries.withLock { entries in
            urls.filter { url in
                guard case .fetching = entries[url] else { return false }
                return true
            }
        }
        guard !pending.isEmpty else { return callback() }
        let remaining = Countdown(pending.count)
        let one: @Sendable () -> Void = { if remaining.tick() { callback() } }
        for url in pending {
            let added: Bool = entries.withLock { entries in
                guard case .fetching(let previous, var waiters) = entries[url] else { return false }
                waiters.append(one)
                entries[url] = .fetching(previous: previous, waiters: waiters)
                return true
            }
            if !added { one() }  // settled in between
        }
    }

    private func complete(_ url: String, _ result: Result<[UInt8], CRLFetchFailure>) {
        let now = self.now()
        let parsed: Result<[CertificateRevocationList], CRLFetchFailure> = result.flatMap { bytes in
            do {
                return .success(try CertificateRevocationList.parseAll(bytes, what: "the CRL from \(url)"))
            } catch {
                return .failure(CRLFetchFailure(reason: "\(error)"))
            }
        }
        let waiters: [@Sendable () -> Void] = entries.withLock { entries in
            guard case .fetching(let previous, let waiters) = entries[url] else { return [] }
            switch parsed {
            case .success(let crls):
                entries[url] = .cached(Cached(crls: crls, refreshAt: refreshTime(crls, now: now)))
            case .failure(let failure):
                if var previous {
                    // Keep serving the older CRL (verification reports it stale once past nextUpdate).
                    previous.refreshAt = now + retryAfterFailure
                    entries[url] = .cached(previous)
                } else {
                    entries[url] = .failed(reason: failure.reason, retryAt: now + retryAfterFailure)
                }
            }
            return waiters
        }
        for waiter in waiters { waiter() }
    }

    /// Shortly before the earliest nextUpdate (a tenth of the CRL's period, at most 5 minutes), and
    /// never sooner than `retryAfterFailure` from now, so an already expired CRL is not fetched in a loop.
    func refreshTime(_ crls: [CertificateRevocationList], now: time_t) -> time_t {
        let nextUpdates = crls.compactMap(\.nextUpdate)
        guard let next = nextUpdates.min() else { return now + lifetimeWithoutNextUpdate }
        let period = max(0, next - (crls.compactMap(\.thisUpdate).max() ?? next))
        let early = min(300, period / 10)
        return max(now + retryAfterFailure, next - early)
    }

    private static func evict(_ entries: inout [String: Entry]) {
        for (url, entry) in entries {
            if case .fetching = entry { continue }
            entries[url] = nil
            if entries.count < maxEntries { return }
        }
    }
}

/// Counts settled fetches down to zero; `tick` says whether this one was the last.
private final class Countdown: Sendable {
    private let remaining: Mutex<Int>
    init(_ count: Int) { remaining = Mutex(count) }
    func tick() -> Bool {
        remaining.withLock { count in
            count -= 1
            return count == 0
        }
    }
}
