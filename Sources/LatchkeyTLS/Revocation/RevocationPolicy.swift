/// How a client treats revocation of the server's certificate chain (`tls.revocation`).
public enum RevocationPolicy: String, Sendable, Hashable, CaseIterable {
    /// No revocation checking (the default): no OCSP staple is requested, no CRL consulted.
    case off
    /// Check the whole chain (stapled OCSP, `crl_file`, distribution-point CRLs); a revoked certificate
    /// fails the handshake, missing or expired revocation data is logged and counted and the handshake
    /// goes on.
    case soft
    /// As `soft`, and missing or expired revocation data fails the handshake too.
    case hard
}

/// The outcome of a revocation check, stable enough for metric labels (`result`).
public enum RevocationResult: String, Sendable, Hashable, CaseIterable {
    /// Every certificate that needs it has current revocation data saying "not revoked".
    case good
    /// A certificate in the chain is revoked (by a CRL or a stapled OCSP response).
    case revoked
    /// Revocation data for a certificate could not be had (no CRL yet, fetch failed, no staple).
    case unavailable
    /// The only revocation data for a certificate is out of date (a CRL past its nextUpdate, an OCSP
    /// response outside its validity window).
    case stale

    /// Ordering for a chain's verdict: revoked beats missing data, which beats stale data, which beats good.
    var severity: Int {
        switch self {
        case .good: 0
        case .stale: 1
        case .unavailable: 2
        case .revoked: 3
        }
    }
}

/// What one full handshake learned about revocation: the chain's result and, unless good, the
/// certificate it is about and why. Safe to log and show: names, serials and URLs only.
public struct RevocationReport: Sendable, Hashable, CustomStringConvertible {
    /// The policy the handshake ran under (`soft` or `hard`).
    public var policy: RevocationPolicy
    /// The worst result over the chain.
    public var result: RevocationResult
    /// The server name the handshake was for.
    public var serverName: String
    /// The certificate the result is about ("CN=api.example, serial 1F"), or the leaf when good.
    public var certificate: String
    /// The human reason ("revoked according to the CRL", "no CRL yet, fetching http://...").
    public var reason: String
    /// Where the deciding data came from: `ocsp-staple`, `crl`, or `none`.
    public var source: String
    /// Whether the handshake failed because of this result.
    public var failedHandshake: Bool

    /// "unavailable for CN=api.example, serial 1F: ..." — the line used in logs and 502 details.
    public var description: String { "\(result.rawValue) for \(certificate): \(reason)" }
}
