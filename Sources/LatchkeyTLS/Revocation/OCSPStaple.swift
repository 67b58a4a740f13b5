import COpenSSL

/// Checks the OCSP response a server stapled to its handshake (RFC 6066 §8, RFC 6960): it must parse,
/// be signed by the certificate's issuer or a responder the issuer authorised (`OCSP_basic_verify`
/// against the verified chain and our trust store), carry a status for exactly this certificate (the
/// cert id from the leaf and its issuer) and be fresh (`OCSP_check_validity`, 5 minutes of clock skew; without
/// nextUpdate, at most `maxAgeWithoutNextUpdate` old).
enum OCSPStaple {
    /// Allowed clock skew for thisUpdate/nextUpdate, in seconds.
    static let clockSkew = 300
    /// How old (since its thisUpdate) a response without nextUpdate may be, in seconds: 7 days. RFC 6960
    /// §4.2.2.1 lets a responder leave nextUpdate out, and such a signed "good" would otherwise vouch forever,
    /// so a server could keep stapling one from before its certificate was revoked. A week is longer than
    /// responders take to refresh a status (a few days) and short enough for a revocation to take hold.
    /// A response with nextUpdate is bounded by that instead: the CA says how long it stands behind it.
    static let maxAgeWithoutNextUpdate = 7 * 86_400

    /// What the staple on `ssl` (after a full handshake, so the verified chain exists) says about its leaf.
    static func evaluate(_ ssl: OpaquePointer) -> RevocationCheck.Staple {
        var der: UnsafePointer<UInt8>? = nil
        let length = latchkey_SSL_get_ocsp_staple(ssl, &der)
        guard length > 0, der != nil else { return .none }
        ERR_clear_error()
        defer { ERR_clear_error() }
        guard let response = d2i_OCSP_RESPONSE(nil, &der, length) else {
            return .invalid("the stapled OCSP response does not parse")
        }
        defer { OCSP_RESPONSE_free(response) }
        let status = OCSP_response_status(response)
        guard status == OCSP_RESPONSE_STATUS_SUCCESSFUL else {
            return .invalid("the stapled OCSP response has responder status \(status)")
        }
        guard let basic = OCSP_response_get1_basic(response) else {
            return .invalid("the stapled OCSP response is not a basic response")
        }
        defer { OCSP_BASICRESP_free(basic) }
        guard let chain = SSL_get0_verified_chain(ssl), latchkey_sk_X509_num(chain) >= 1,
            let leaf = latchkey_sk_X509_value(chain, 0)
        else {
            return .invalid("no verified chain to check the stapled OCSP response against")
        }
        let issuer = latchkey_sk_X509_num(chain) >= 2 ? latchkey_sk_X509_value(chain, 1) : leaf
        let store = SSL_CTX_get_cert_store(SSL_get_SSL_CTX(ssl))
        guard OCSP_basic_verify(basic, chain, store, 0) == 1 else {
            let reasons = OpenSSLErrorQueue.drain()
            return .invalid(
                "the stapled OCSP response's signature does not verify"
                    + (reasons.isEmpty ? "" : " (\(reasons.joined(separator: "; ")))"))
        }
        guard let id = OCSP_cert_to_id(nil, leaf, issuer) else {
            return .invalid("cannot compute the certificate id for the stapled OCSP response")
        }
        defer { OCSP_CERTID_free(id) }
        var certificateStatus: Int32 = -1
        var reason: Int32 = -1
        var revokedAt: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var thisUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        var nextUpdate: UnsafeMutablePointer<ASN1_GENERALIZEDTIME>? = nil
        guard OCSP_resp_find_status(basic, id, &certificateStatus, &reason, &revokedAt, &thisUpdate, &nextUpdate) == 1
        else {
            return .invalid("the stapled OCSP response has no status for this certificate")
        }
        let maxAge = nextUpdate == nil ? maxAgeWithoutNextUpdate : -1
        guard OCSP_check_validity(thisUpdate, nextUpdate, clockSkew, maxAge) == 1 else {
            return .stale(
                nextUpdate == nil
                    ? "the stapled OCSP response has no nextUpdate and is more than \(maxAge / 86_400) days old "
                        + "or not yet valid (thisUpdate)"
                    : "the stapled OCSP response is outside its validity period (thisUpdate/nextUpdate)")
        }
        switch certificateStatus {
        case V_OCSP_CERTSTATUS_GOOD:
            return .good
        case V_OCSP_CERTSTATUS_REVOKED:
            let why = reason >= 0 ? " (reason: \(String(cString: OCSP_crl_reason_str(Int(reason)))))" : ""
            return .revoked("revoked according to the stapled OCSP response\(why)")
        default:
            return .invalid("the stapled OCSP response says the certificate's status is unknown")
        }
    }
}
