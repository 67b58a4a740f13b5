import COpenSSL

/// One handshake's revocation bookkeeping: what the chain verification found per certificate, whether
/// the handshake already waited for CRL fetches, and the final verdict once the stapled OCSP response
/// (if any) is known. A value owned by its `TLSEngine`, on the engine's loop.
struct RevocationCheck {
    /// A certificate whose revocation status is not plainly good.
    struct Finding: Equatable {
        /// 0 for the server's own certificate, 1 for its issuer, ...
        var depth: Int
        var certificate: String
        var result: RevocationResult
        var reason: String
    }

    /// What a stapled OCSP response said about the server's certificate.
    enum Staple: Equatable {
        /// The server stapled nothing.
        case none
        case good
        case revoked(String)
        /// Signed and for this certificate, but outside its validity window.
        case stale(String)
        /// Unusable: bad signature, another certificate, unknown status, not parseable.
        case invalid(String)
    }

    let policy: RevocationPolicy
    /// Per certificate that verification reported a CRL problem for (revoked, missing, expired).
    var findings: [Finding] = []
    /// Notes on distribution points per certificate (by label), to explain a missing CRL.
    var distributionNotes: [String: String] = [:]
    /// The leaf's label, once verification ran (nil: no full verification, e.g. a resumed session).
    var leaf: String?
    /// True once the handshake suspended for CRL fetches: it waits at most once.
    var hasWaited = false
    /// URLs a suspended handshake is waiting for.
    var awaitedURLs: [String] = []

    init(policy: RevocationPolicy) { self.policy = policy }

    /// The revocation meaning of a chain-verification error, or nil when it is about something else.
    static func classify(verifyError: Int32) -> RevocationResult? {
        switch verifyError {
        case X509_V_ERR_CERT_REVOKED:
            return .revoked
        case X509_V_ERR_CRL_HAS_EXPIRED, X509_V_ERR_CRL_NOT_YET_VALID, X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD,
            X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
            return .stale
        case X509_V_ERR_UNABLE_TO_GET_CRL, X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER, X509_V_ERR_CRL_SIGNATURE_FAILURE,
            X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE, X509_V_ERR_KEYUSAGE_NO_CRL_SIGN,
            X509_V_ERR_DIFFERENT_CRL_SCOPE, X509_V_ERR_CRL_PATH_VALIDATION_ERROR,
            X509_V_ERR_UNHANDLED_CRITICAL_CRL_EXTENSION:
            return .unavailable
        default:
            return nil
        }
    }

    /// Records verification's finding for the certificate at `depth`.
    mutating func record(depth: Int, certificate: String, result: RevocationResult, reason: String) {
        guard !findings.contains(where: { $0.depth == depth && $0.result == result }) else { return }
        findings.append(Finding(depth: depth, certificate: certificate, result: result, reason: reason))
    }

    /// The verdict for the whole chain once the handshake completed: the stapled response decides for the
    /// leaf when it is usable (good or revoked), the CRLs otherwise; `hard` fails on anything but good,
    /// `soft` only on revoked. Nil when no verification ran (resumed session): nothing was checked.
    func verdict(staple: Staple, serverName: String) -> RevocationReport? {
        guard let leaf else { return nil }
        var chain = findings.filter { $0.depth > 0 }
        var leafFinding = findings.first { $0.depth == 0 }
        var source = "crl"
        switch staple {
        case .good:
            if leafFinding?.result != .revoked { leafFinding = nil }
            source = "ocsp-staple"
        case .revoked(let reason):
            leafFinding = Finding(depth: 0, certificate: leaf, result: .revoked, reason: reason)
            source = "ocsp-staple"
        case .stale(let reason), .invalid(let reason):
            if var finding = leafFinding, finding.result != .revoked {
                finding.reason += "; the stapled OCSP response is unusable: \(reason)"
                if case .stale = staple { finding.result = .stale }
                leafFinding = finding
            }
        case .none:
            break
        }
        if let leafFinding { chain.insert(leafFinding, at: 0) }
        // The worst finding decides; among equals, the one nearest the leaf.
        let ordered = chain.sorted {
            $0.result.severity != $1.result.severity ? $0.result.severity > $1.result.severity : $0.depth < $1.depth
        }
        guard let deciding = ordered.first else {
            return RevocationReport(
                policy: policy, result: .good, serverName: serverName, certificate: leaf,
                reason: source == "ocsp-staple" ? "good according to the stapled OCSP response" : "not revoked",
                source: source, failedHandshake: false)
        }
        let fails = deciding.result == .revoked || policy == .hard
        let decidingSource = deciding.depth == 0 ? source : "crl"
        return RevocationReport(
            policy: policy, result: deciding.result, serverName: serverName, certificate: deciding.certificate,
            reason: deciding.reason, source: decidingSource, failedHandshake: fails)
    }
}
