import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// Revocation checking inside the client handshake (see `RevocationPolicy`). OpenSSL calls back on the
/// engine's loop while it verifies the server's chain; nothing here waits on the network:
///
/// 1. `verifyChain` (the context's certificate verification callback) gathers the CRLs the cache holds for
///    the chain's distribution points, starts background fetches for those it lacks (only for the
///    certificates of a chain that verifies without revocation data, so a stranger's certificate, alone or
///    sent along with a chain that verifies, cannot make us fetch or wait), and in `hard` mode, once per
///    handshake, suspends it (`SSL_set_retry_verify`) until those fetches settle.
/// 2. OpenSSL verifies with `X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL`, using those CRLs and the
///    ones from `crl_file` in the store; `mapVerifyError` fails a revoked certificate at once and records
///    missing or expired CRLs instead of failing, because a stapled OCSP response (which a TLS 1.2 server
///    sends only after its certificate) may still vouch for the leaf.
/// 3. When the handshake completes, `finishRevocationCheck` reads the staple and gives the verdict:
///    revoked always fails, missing or stale data fails in `hard`.
extension TLSEngine {
    /// The engine whose `SSL` is being verified through `store`.
    static func engine(verifying store: OpaquePointer) -> TLSEngine? {
        let index = SSL_get_ex_data_X509_STORE_CTX_idx()
        guard index >= 0, let ssl = X509_STORE_CTX_get_ex_data(store, index),
            let engine = latchkey_SSL_get_app_data(OpaquePointer(ssl))
        else { return nil }
        return Unmanaged<TLSEngine>.fromOpaque(engine).takeUnretainedValue()
    }

    /// Step 1 and 2 (see the extension's comment). Returns what the certificate verification callback
    /// returns: 1 verified, 0 failed, or the retry-verify suspension.
    func verifyChain(_ store: OpaquePointer) -> Int32 {
        guard var check = revocation, let services = revocationServices,
            let leaf = X509_STORE_CTX_get0_cert(store)
        else { return X509_verify_cert(store) }
        let now = time(nil)
        var certificates = Self.distributionPoints(sentWith: store, leaf: leaf, cache: services.cache)
        // Fetching, waiting and explaining are only for the chain that verifies without revocation data (see
        // TLSEngine+DistributionPoints); it is built only then, so a handshake served from the cache verifies once.
        if certificates.contains(where: { $0.needsMoreThanTheCache(now: now) }) {
            certificates = Self.inVerifiedChain(certificates, store, leaf: leaf)
        }
        guard let crls = latchkey_sk_X509_CRL_new() else { return 0 }
        defer { latchkey_sk_X509_CRL_free(crls) }
        var toFetch: [String] = []
        var pending: [String] = []
        check.distributionNotes = [:]
        for entry in certificates {
            var notes: [String] = []
            // A current CRL from `crl_file` for this certificate's issuer already answers: fetch in the
            // background all the same, but never make `hard` wait for it.
            let coveredByStore = Self.storeHasCurrentCRL(store, issuerOf: entry.certificate, now: now)
            for point in entry.points {
                let url = point.url
                if point.needsFetch { toFetch.append(url) }
                switch point.lookup {
                case .crls(let lists):
                    for list in lists { _ = latchkey_sk_X509_CRL_push_ref(crls, list.pointer) }
                    // Past its nextUpdate (no handshake came by to refresh it in time): `hard` waits for the
                    // refetch rather than failing on a stale CRL a moment before a fresh one arrives, whether this
                    // handshake starts it or an earlier one did (`whenSettled` passes over a URL not being fetched).
                    if !coveredByStore, lists.contains(where: { ($0.nextUpdate ?? .max) <= now }) {
                        pending.append(url)
                        notes.append(
                            "the cached CRL from \(url) expired"
                                + (point.needsFetch ? ", fetching it again" : " and no newer one has arrived yet"))
                    }
                case .pending:
                    if !coveredByStore { pending.append(url) }
                    notes.append("revocation data not yet available, fetching \(url)")
                case .failed(let reason):
                    // A failure old enough to retry: `hard` waits for the new attempt too.
                    if point.needsFetch, !coveredByStore { pending.append(url) }
                    notes.append("fetching \(url) failed: \(reason)")
                }
            }
            if !notes.isEmpty {
                check.distributionNotes[CertificateLabel.describe(entry.certificate)] = notes.joined(separator: "; ")
            }
        }
        for url in toFetch { services.cache.fetch(url) }
        if check.policy == .hard, !pending.isEmpty, !check.hasWaited, let ssl = sslPointer(of: store) {
            check.hasWaited = true
            check.awaitedURLs = pending
            revocation = check
            return latchkey_SSL_set_retry_verify(ssl)
        }
        check.leaf = CertificateLabel.describe(leaf)
        check.findings = []
        revocation = check
        X509_STORE_CTX_set0_crls(store, crls)
        X509_STORE_CTX_set_flags(store, UInt(X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL))
        X509_STORE_CTX_set_verify_cb(store) { ok, store in
            guard ok == 0, let store, let engine = TLSEngine.engine(verifying: store) else { return ok }
            return engine.mapVerifyError(store)
        }
        let verified = X509_verify_cert(store)
        X509_STORE_CTX_set0_crls(store, nil)  // the stack is freed on return
        return verified
    }

    private func sslPointer(of store: OpaquePointer) -> OpaquePointer? {
        let index = SSL_get_ex_data_X509_STORE_CTX_idx()
        guard index >= 0, let ssl = X509_STORE_CTX_get_ex_data(store, index) else { return nil }
        return OpaquePointer(ssl)
    }

    /// Whether the trust store (the operator's `crl_file`) holds a CRL from `certificate`'s issuer that is
    /// still within its nextUpdate.
    private static func storeHasCurrentCRL(_ store: OpaquePointer, issuerOf certificate: OpaquePointer, now: time_t)
        -> Bool
    {
        guard let issuer = X509_get_issuer_name(certificate), let found = X509_STORE_CTX_get1_crls(store, issuer) else {
            ERR_clear_error()
            return false
        }
        defer { latchkey_sk_X509_CRL_free(found) }
        for index in 0..<OPENSSL_sk_num(found) {
            guard let raw = OPENSSL_sk_value(found, index) else { continue }
            let next = X509Certificate.epochSeconds(X509_CRL_get0_nextUpdate(OpaquePointer(raw)))
            if (next ?? .max) > now { return true }
        }
        return false
    }

    /// The per-certificate callback during verification: revoked fails now; missing or expired CRLs are
    /// recorded and let through (`finishRevocationCheck` decides); a self-signed trust anchor needs no CRL.
    func mapVerifyError(_ store: OpaquePointer) -> Int32 {
        let error = X509_STORE_CTX_get_error(store)
        guard let result = RevocationCheck.classify(verifyError: error),
            let certificate = X509_STORE_CTX_get_current_cert(store)
        else { return 0 }
        let depth = Int(X509_STORE_CTX_get_error_depth(store))
        let label = CertificateLabel.describe(certificate)
        let issuer = CertificateLabel.describeName(X509_get_issuer_name(certificate))
        let openSSLReason = String(cString: X509_verify_cert_error_string(Int(error)))
        switch result {
        case .revoked:
            revocation?.record(
                depth: depth, certificate: label, result: .revoked,
                reason: "revoked according to the CRL from \(issuer)")
            return 0
        case .good:
            return 1
        case .stale, .unavailable:
            if latchkey_X509_is_self_signed(certificate) != 0 {
                X509_STORE_CTX_set_error(store, X509_V_OK)  // a trust anchor is not subject to revocation
                return 1
            }
            var reason =
                result == .stale
                ? "the CRL from \(issuer) is out of date (\(openSSLReason))"
                : "no usable CRL from \(issuer) (\(openSSLReason))"
            if let notes = revocation?.distributionNotes[label] { reason += "; \(notes)" }
            revocation?.record(depth: depth, certificate: label, result: result, reason: reason)
            X509_STORE_CTX_set_error(store, X509_V_OK)
            return 1
        }
    }

    /// Step 3: the verdict once the handshake completed (nil: go on). Reports it to the context's observer.
    func finishRevocationCheck() -> TLSError? {
        guard let check = revocation, let services = revocationServices, let serverName else { return nil }
        guard let report = check.verdict(staple: OCSPStaple.evaluate(ssl), serverName: serverName) else { return nil }
        revocationReport = report
        services.observer(report)
        return report.failedHandshake ? Self.revocationError(report) : nil
    }

    /// For a handshake that failed during verification: the revocation verdict when a certificate was revoked.
    func revocationFailure() -> TLSError? {
        guard let check = revocation, let services = revocationServices, let serverName,
            check.findings.contains(where: { $0.result == .revoked }),
            let report = check.verdict(staple: .none, serverName: serverName)
        else { return nil }
        revocationReport = report
        services.observer(report)
        return Self.revocationError(report)
    }

    static func revocationError(_ report: RevocationReport) -> TLSError {
        TLSError(
            .revocation,
            "certificate revocation check failed (revocation: \(report.policy.rawValue)): "
                + "\(report.certificate): \(report.reason)"
        )
    }

    /// Calls `callback` (on any thread) once the CRL fetches this suspended handshake waits for settled.
    public func whenRevocationDataSettles(_ callback: @escaping @Sendable () -> Void) {
        guard let revocation, let revocationServices else { return callback() }
        revocationServices.cache.whenSettled(revocation.awaitedURLs, callback)
    }
}
