import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// One CRL (`X509_CRL`), owned: freed in `deinit`. Its signature is not checked here: OpenSSL checks it
/// against the issuing CA while it verifies a chain, so a forged CRL is simply never used.
///
/// Immutable once made; OpenSSL reads an `X509_CRL` from many threads during verification.
public final class CertificateRevocationList: @unchecked Sendable {
    // @unchecked Sendable: never mutated after parsing.

    /// The owned `X509_CRL`.
    let pointer: OpaquePointer

    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }

    deinit { X509_CRL_free(pointer) }

    /// Every CRL in `bytes`: one or more PEM blocks (`-----BEGIN X509 CRL-----`), or a single DER CRL.
    /// Throws when there is none or one is malformed; `what` names the source in the message.
    public static func parseAll(_ bytes: [UInt8], what: String) throws(TLSError) -> [CertificateRevocationList] {
        guard !bytes.isEmpty else { throw TLSError(.configuration, "\(what) is empty") }
        if !isDER(bytes) {
            let lists = try MemoryBIO.readPEMBlocks(bytes, what: what) { bio in
                PEM_read_bio_X509_CRL(bio, nil, nil, nil).map(CertificateRevocationList.init(takingOwnership:))
            }
            guard !lists.isEmpty else {
                throw TLSError(.configuration, "\(what) holds no CRL (PEM -----BEGIN X509 CRL----- or DER)")
            }
            return lists
        }
        ERR_clear_error()
        let parsed: OpaquePointer? = bytes.withUnsafeBufferPointer { buffer in
            var cursor: UnsafePointer<UInt8>? = buffer.baseAddress
            return d2i_X509_CRL(nil, &cursor, buffer.count)
        }
        guard let parsed else {
            throw OpenSSLErrorQueue.error(.configuration, "cannot read \(what) as a DER or PEM CRL")
        }
        return [CertificateRevocationList(takingOwnership: parsed)]
    }

    /// A DER SEQUENCE starts with 0x30; PEM text never does.
    private static func isDER(_ bytes: [UInt8]) -> Bool { bytes.first == 0x30 }

    /// The issuer as one line, e.g. "/CN=Example CA".
    public var issuer: String { X509Certificate.oneLine(X509_CRL_get_issuer(pointer)) }

    /// thisUpdate (lastUpdate) as seconds since the epoch.
    public var thisUpdate: time_t? { X509Certificate.epochSeconds(X509_CRL_get0_lastUpdate(pointer)) }

    /// nextUpdate as seconds since the epoch; `nil` when the CRL has none (it never goes stale by date).
    public var nextUpdate: time_t? { X509Certificate.epochSeconds(X509_CRL_get0_nextUpdate(pointer)) }

    /// How many certificates the CRL lists as revoked.
    public var revokedCount: Int {
        guard let revoked = X509_CRL_get_REVOKED(pointer) else { return 0 }
        return Int(OPENSSL_sk_num(revoked))
    }
}
