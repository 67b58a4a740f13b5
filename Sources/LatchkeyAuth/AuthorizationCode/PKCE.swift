import COpenSSL

/// Proof Key for Code Exchange (RFC 7636) with the S256 method only (§4.2; `plain` is never used).
///
/// The verifier is 32 random bytes (RAND_bytes) in unpadded base64url: 43 characters from the
/// unreserved set, the minimum length of §4.1 and the recommendation of §7.1. The challenge is
/// `BASE64URL(SHA256(ASCII(code_verifier)))`.
public struct PKCE: Sendable, Equatable {
    /// `code_verifier`: secret until the code exchange; kept only in memory with its `state`.
    public let verifier: String
    /// `code_challenge`, sent on the authorization request.
    public let challenge: String
    /// `code_challenge_method`.
    public static let method = "S256"

    /// A verifier from fresh randomness.
    public init() throws(CryptoError) {
        self.init(verifierBytes: try SecureRandom.bytes(32))
    }

    /// The verifier for given octets (tests use RFC 7636 Appendix B's).
    public init(verifierBytes: [UInt8]) {
        self.init(verifier: Base64.encodeURLSafe(verifierBytes))
    }

    /// An existing verifier (43–128 characters of `[A-Za-z0-9-._~]`, §4.1).
    public init(verifier: String) {
        precondition(Self.isValidVerifier(verifier), "invalid code_verifier")
        self.verifier = verifier
        challenge = Base64.encodeURLSafe(Digest.sha256(Array(verifier.utf8)))
    }

    /// §4.1: `43*128unreserved`.
    public static func isValidVerifier(_ text: String) -> Bool {
        (43...128).contains(text.utf8.count)
            && text.utf8.allSatisfy { b in
                (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x2D || b == 0x2E
                    || b == 0x5F || b == 0x7E
            }
    }

    public static func == (a: PKCE, b: PKCE) -> Bool { a.verifier == b.verifier }
}
