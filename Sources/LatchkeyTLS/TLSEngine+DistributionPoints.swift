import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Which distribution points a handshake looks at (see `verifyChain`): those of the certificates the server sent,
/// at most `maxDistributionPointsPerCertificate` each, and, before anything is fetched, awaited or noted, only
/// those of certificates in the chain that verifies without revocation data. A server may send certificates
/// that are no part of its chain; theirs must not make the proxy fetch (a server-chosen GET, e.g. to a loopback
/// service) or wait.
extension TLSEngine {
    /// At most this many `http://` distribution points are taken from one certificate: a CA names one or two,
    /// and a certificate that verifies but names many must not fan one handshake out into many fetches.
    static let maxDistributionPointsPerCertificate = 2

    /// One certificate's distribution points and what the CRL cache knows of each.
    struct DistributionPoints {
        struct Point {
            var url: String
            var lookup: CRLCache.Lookup
            var needsFetch: Bool
        }

        /// Owned by the store being verified, valid during the verification callback.
        let certificate: OpaquePointer
        let points: [Point]

        /// Whether the handshake has more to do for this certificate than use current cached CRLs: fetch,
        /// wait, or explain a missing or expired CRL.
        func needsMoreThanTheCache(now: time_t) -> Bool {
            points.contains { point in
                guard !point.needsFetch, case .crls(let lists) = point.lookup else { return true }
                return lists.contains { ($0.nextUpdate ?? .max) <= now }
            }
        }
    }

    /// The distribution points of the leaf and of every other certificate the server sent (`store`'s untrusted
    /// ones), looked up in `cache`; certificates naming none are left out.
    static func distributionPoints(sentWith store: OpaquePointer, leaf: OpaquePointer, cache: CRLCache)
        -> [DistributionPoints]
    {
        var certificates = [leaf]
        if let untrusted = X509_STORE_CTX_get0_untrusted(store) {
            for index in 0..<latchkey_sk_X509_num(untrusted) {
                if let certificate = latchkey_sk_X509_value(untrusted, index), X509_cmp(certificate, leaf) != 0 {
                    certificates.append(certificate)
                }
            }
        }
        return certificates.compactMap { certificate in
            let urls = CertificateLabel.httpDistributionPoints(certificate, limit: maxDistributionPointsPerCertificate)
            guard !urls.isEmpty else { return nil }
            let points = urls.map { url in
                let (lookup, needsFetch) = cache.lookup(url)
                return DistributionPoints.Point(url: url, lookup: lookup, needsFetch: needsFetch)
            }
            return DistributionPoints(certificate: certificate, points: points)
        }
    }

    /// `candidates` narrowed to the certificates of the chain that verifies without revocation data
    /// (signatures, dates, trust; no revocation, no host name), its self-signed trust anchor left out
    /// (a trust anchor is not subject to revocation). None when no chain verifies: the real verification then
    /// fails on its own, and nothing has been fetched for it.
    static func inVerifiedChain(_ candidates: [DistributionPoints], _ store: OpaquePointer, leaf: OpaquePointer)
        -> [DistributionPoints]
    {
        guard let trust = X509_STORE_CTX_get0_store(store), let probe = X509_STORE_CTX_new() else { return [] }
        defer {
            X509_STORE_CTX_free(probe)
            ERR_clear_error()
        }
        guard X509_STORE_CTX_init(probe, trust, leaf, X509_STORE_CTX_get0_untrusted(store)) == 1,
            X509_verify_cert(probe) == 1, let chain = X509_STORE_CTX_get1_chain(probe)
        else { return [] }
        defer { latchkey_sk_X509_pop_free(chain) }
        var count = latchkey_sk_X509_num(chain)
        if count > 0, let anchor = latchkey_sk_X509_value(chain, count - 1), latchkey_X509_is_self_signed(anchor) != 0 {
            count -= 1
        }
        let members = (0..<max(count, 0)).compactMap { latchkey_sk_X509_value(chain, $0) }
        return candidates.filter { candidate in members.contains { X509_cmp($0, candidate.certificate) == 0 } }
    }
}
