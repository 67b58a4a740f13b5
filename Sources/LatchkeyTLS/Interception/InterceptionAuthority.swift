import COpenSSL
import Dispatch
import LatchkeyNet
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// The interception CA in memory: mints a leaf certificate per intercepted host on demand and
/// keeps the server contexts for the most recently used hosts in a bounded LRU cache.
///
/// The CA key is read once here and held only as an `EVP_PKEY`; nothing in this type prints it
/// (errors name what failed, never key bytes). Leaves are never written to disk.
///
/// Cost is bounded: minting (an EC key generation and one signature, well under a millisecond) is
/// serialized — at most one mint runs at a time, whichever thread asks — and the asynchronous
/// `context(forHost:on:_:)` does it on a private serial queue, so a burst of new hosts queues there
/// instead of running signatures on event loops. Concurrent requests for the same new host are
/// coalesced: the later ones find the first one's leaf in the cache. Memory is bounded by
/// `cacheCapacity` leaves (a certificate and key each, about 2 KB); all leaves share one `SSL_CTX`.
public final class InterceptionAuthority: @unchecked Sendable {
    // @unchecked Sendable: `minter` and `base` are immutable after init; the cache and counters
    // live in `state` (a Mutex); minting is serialized by `minting` (a Mutex).

    /// The CA certificate as PEM (public; for diagnostics and to hand to clients).
    public let certificatePEM: [UInt8]
    /// The CA's subject, e.g. "/CN=Latchkey interception CA host".
    public let subject: String
    /// How long new leaves are valid (clamped to the CA's notAfter).
    public let leafValidity: Duration
    /// The most leaves cached.
    public let cacheCapacity: Int

    private let minter: LeafCertificateMinter
    private let base: ServerSSLContext
    private let state: Mutex<(cache: LRUCache<String, TLSServerContext>, statistics: InterceptionStatistics)>
    private let minting = Mutex(())
    private let mintQueue = DispatchQueue(label: "latchkey.interception.mint")

    /// The protocols offered to intercepted clients (RFC 7301), in the server's order of preference: HTTP/2
    /// first (the client adapter speaks it over the intercepted stream), else HTTP/1.1.
    public static let alpnProtocols = ["h2", "http/1.1"]

    /// Loads the CA. Throws `.configuration` when the certificate or key cannot be read, the key does
    /// not belong to the certificate, the certificate is not a CA (basicConstraints CA:TRUE, and
    /// keyCertSign when keyUsage is present) or is outside its validity period, or `leafValidity`
    /// is not positive. `certificatePEM` may hold intermediates after the CA; they are sent along.
    public init(
        certificatePEM: [UInt8], keyPEM: [UInt8], leafValidity: Duration, cacheCapacity: Int = 1024
    ) throws(TLSError) {
        guard leafValidity >= .seconds(1) else {
            throw TLSError(.configuration, "the leaf validity must be positive")
        }
        guard cacheCapacity >= 1 else { throw TLSError(.configuration, "the leaf cache needs room for one host") }
        let chain = try X509Certificate.parseAll(pem: certificatePEM, what: "the CA certificate")
        let ca = chain[0]
        let key = try PrivateKey(pem: keyPEM, what: "the CA key")
        guard key.matches(ca) else {
            throw TLSError(.configuration, "the CA key does not belong to the CA certificate '\(ca.subjectLine)'")
        }
        try Self.checkIsUsableCA(ca)
        guard let notAfter = ca.notAfter else {
            throw TLSError(.configuration, "cannot read the CA certificate's notAfter")
        }
        let base = try ServerSSLContext(alpnProtocols: Self.alpnProtocols, minimumVersion: .tls12)
        if !ca.isSelfIssued {
            // An intermediate CA: clients trust the root, so they need the CA (and what follows it) sent.
            for certificate in chain {
                X509_up_ref(certificate.pointer)
                guard latchkey_SSL_CTX_add_extra_chain_cert(base.context, certificate.pointer) == 1 else {
                    X509_free(certificate.pointer)
                    throw OpenSSLErrorQueue.error(
                        .configuration, "cannot add '\(certificate.subjectLine)' to the chain")
                }
            }
        }
        self.certificatePEM = ca.pem
        self.subject = ca.subjectLine
        self.leafValidity = leafValidity
        self.cacheCapacity = cacheCapacity
        self.minter = LeafCertificateMinter(
            issuer: ca, issuerKey: key, validity: leafValidity, issuerNotAfter: notAfter)
        self.base = base
        self.state = Mutex((LRUCache(capacity: cacheCapacity), InterceptionStatistics()))
    }

    /// The server context for `host` if one is cached (and then marked most recently used); never
    /// mints. Cheap and callable from any thread. `nil` also for a host no leaf can be made for.
    public func cachedContext(forHost host: String) -> TLSServerContext? {
        guard let name = LeafHostName(host) else { return nil }
        return lookUp(name)
    }

    /// The server context for `host` (a DNS name or IP literal, brackets and a trailing dot
    /// allowed), minting and caching a leaf on a miss. Blocks while another mint runs; callable from
    /// any thread, but event loops should use `context(forHost:on:_:)`.
    public func context(forHost host: String) throws(TLSError) -> TLSServerContext {
        guard let name = LeafHostName(host) else {
            state.withLock { $0.statistics.mintFailures += 1 }
            throw TLSError(
                .configuration, "cannot mint a certificate for '\(Self.printable(host))': not a host name or IP address"
            )
        }
        if let cached = lookUp(name) { return cached }
        return try minting.withLock { _ throws(TLSError) -> TLSServerContext in
            if let cached = lookUp(name) { return cached }  // minted while this thread waited
            let minted: TLSServerContext
            do throws(TLSError) {
                let (certificate, key) = try minter.mint(for: name)
                minted = TLSServerContext(base: base, certificate: certificate, key: key)
            } catch {
                state.withLock { $0.statistics.mintFailures += 1 }
                throw error
            }
            state.withLock { state in
                state.statistics.mints += 1
                if state.cache.insert(minted, forKey: name.value) != nil { state.statistics.evictions += 1 }
                state.statistics.cachedHosts = state.cache.count
            }
            return minted
        }
    }

    /// Answers with the server context for `host` on `loop`: a cached one at once (synchronously,
    /// before this returns), a new one after minting on the authority's serial queue, delivered
    /// through `loop.execute`. Call on `loop`; `completion` always runs there, exactly once.
    public func context(
        forHost host: String, on loop: EventLoop,
        _ completion: @escaping (Result<TLSServerContext, TLSError>) -> Void
    ) {
        if let cached = cachedContext(forHost: host) {
            completion(.success(cached))
            return
        }
        let delivery = LoopConfined(completion)
        mintQueue.async { [self] in
            let result = Result { () throws(TLSError) -> TLSServerContext in try context(forHost: host) }
            loop.execute { delivery.value(result) }
        }
    }

    /// A snapshot of the counters.
    public var statistics: InterceptionStatistics { state.withLock { $0.statistics } }

    /// Hosts cached, most recently used first (for tests and diagnostics).
    public var cachedHosts: [String] { state.withLock { $0.cache.keysByRecency } }

    private func lookUp(_ name: LeafHostName) -> TLSServerContext? {
        state.withLock { state in
            guard let cached = state.cache.value(forKey: name.value) else { return nil }
            state.statistics.hits += 1
            return cached
        }
    }

    /// Refuses certificates that cannot sign leaves clients accept: not a CA by basicConstraints
    /// (or without keyCertSign when keyUsage is present, RFC 5280 §4.2.1.3), expired or not yet valid.
    private static func checkIsUsableCA(_ ca: X509Certificate) throws(TLSError) {
        guard X509_check_ca(ca.pointer) == 1 else {
            throw TLSError(
                .configuration,
                "the certificate '\(ca.subjectLine)' is not a CA "
                    + "(it needs basicConstraints CA:TRUE and keyUsage keyCertSign)")
        }
        let now = time(nil)
        if let notAfter = ca.notAfter, notAfter <= now {
            throw TLSError(.configuration, "the CA certificate '\(ca.subjectLine)' has expired")
        }
        if let notBefore = ca.notBefore, notBefore > now + LeafCertificateMinter.clockSkewAllowance {
            throw TLSError(.configuration, "the CA certificate '\(ca.subjectLine)' is not valid yet")
        }
    }

    private static func printable(_ host: String) -> String {
        String(
            decoding: host.utf8.prefix(255).map { (0x21...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}

/// Carries a value created on an event loop through another queue and back.
private final class LoopConfined<Value>: @unchecked Sendable {
    // @unchecked Sendable: `value` is only touched on the loop it was created on (the queue in
    // between just holds the reference).
    let value: Value
    init(_ value: Value) { self.value = value }
}
