import COpenSSL

#if canImport(Glibc)
    import Glibc
#endif

/// One X.509 certificate (`X509`), owned: freed in `deinit`.
///
/// Immutable once made; OpenSSL allows an `X509` to be read and signed against from many threads.
final class X509Certificate: @unchecked Sendable {
    // @unchecked Sendable: never mutated after init (minting fills a fresh X509 before wrapping it).

    /// The owned `X509`.
    let pointer: OpaquePointer

    /// Wraps `pointer`, taking over the caller's reference.
    init(takingOwnership pointer: OpaquePointer) { self.pointer = pointer }

    deinit { X509_free(pointer) }

    /// Every certificate in `pem`, in order. Throws when there is none or one is malformed.
    static func parseAll(pem: [UInt8], what: String) throws(TLSError) -> [X509Certificate] {
        let certificates = try MemoryBIO.readPEMBlocks(pem, what: what) { bio in
            PEM_read_bio_X509(bio, nil, nil, nil).map(X509Certificate.init(takingOwnership:))
        }
        guard !certificates.isEmpty else {
            throw TLSError(.configuration, "\(what) holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// The certificate as PEM text.
    var pem: [UInt8] {
        let bio = MemoryBIO()
        _ = PEM_write_bio_X509(bio.pointer, pointer)
        return bio.contents
    }

    /// The subject as one line, e.g. "/CN=Latchkey interception CA host".
    var subjectLine: String { Self.oneLine(X509_get_subject_name(pointer)) }

    /// True when subject and issuer are the same name (a root, or at least self-issued).
    var isSelfIssued: Bool { X509_NAME_cmp(X509_get_subject_name(pointer), X509_get_issuer_name(pointer)) == 0 }

    /// notAfter as seconds since the epoch, or `nil` when it cannot be read.
    var notAfter: time_t? { Self.epochSeconds(X509_get0_notAfter(pointer)) }

    /// notBefore as seconds since the epoch, or `nil` when it cannot be read.
    var notBefore: time_t? { Self.epochSeconds(X509_get0_notBefore(pointer)) }

    static func epochSeconds(_ time: UnsafePointer<ASN1_TIME>?) -> time_t? {
        guard let time else { return nil }
        var parts = tm()
        guard ASN1_TIME_to_tm(time, &parts) == 1 else { return nil }
        return timegm(&parts)
    }

    static func oneLine(_ name: OpaquePointer?) -> String {
        guard let name else { return "?" }
        var buffer = [CChar](repeating: 0, count: 512)
        guard X509_NAME_oneline(name, &buffer, Int32(buffer.count)) != nil else { return "?" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
