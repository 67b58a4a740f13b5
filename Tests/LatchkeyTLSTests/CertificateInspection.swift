import COpenSSL
import Foundation

/// A certificate parsed with libcrypto for assertions, freed in `deinit`.
final class InspectedCertificate {
    let x509: OpaquePointer

    init(pem: [UInt8]) throws {
        let bio = BIO_new(BIO_s_mem())!
        defer { BIO_free(bio) }
        _ = pem.withUnsafeBytes { BIO_write(bio, $0.baseAddress, Int32($0.count)) }
        guard let x509 = PEM_read_bio_X509(bio, nil, nil, nil) else { throw InspectionError("not a PEM certificate") }
        self.x509 = x509
    }

    convenience init(file: String) throws {
        try self.init(pem: Array(try Data(contentsOf: URL(fileURLWithPath: file))))
    }

    deinit { X509_free(x509) }

    /// subjectAltName only: the CN fallback is off, as in browsers.
    func matchesHost(_ host: String) -> Bool {
        X509_check_host(x509, host, host.utf8.count, UInt32(X509_CHECK_FLAG_NEVER_CHECK_SUBJECT), nil) == 1
    }
    func matchesIP(_ address: String) -> Bool { X509_check_ip_asc(x509, address, 0) == 1 }
    var isCA: Bool { X509_check_ca(x509) != 0 }
    var keyUsage: UInt32 { X509_get_key_usage(x509) }
    var extendedKeyUsage: UInt32 { X509_get_extended_key_usage(x509) }
    var publicKeyBits: Int32 { EVP_PKEY_get_bits(X509_get0_pubkey(x509)) }
    var publicKeyType: Int32 { EVP_PKEY_get_base_id(X509_get0_pubkey(x509)) }
    var notBefore: time_t { Self.seconds(X509_get0_notBefore(x509)) }
    var notAfter: time_t { Self.seconds(X509_get0_notAfter(x509)) }
    var subject: String { Self.oneLine(X509_get_subject_name(x509)) }
    var issuer: String { Self.oneLine(X509_get_issuer_name(x509)) }

    var serialHex: String {
        guard let number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x509), nil) else { return "" }
        defer { BN_free(number) }
        guard let hex = BN_bn2hex(number) else { return "" }
        defer { latchkey_OPENSSL_free(hex) }
        return String(cString: hex)
    }

    var hasSubjectKeyIdentifier: Bool { X509_get0_subject_key_id(x509) != nil }
    var hasAuthorityKeyIdentifier: Bool { X509_get0_authority_key_id(x509) != nil }

    /// True when the extension `nid` is present and marked critical.
    func isCritical(_ nid: Int32) -> Bool {
        let index = X509_get_ext_by_NID(x509, nid, -1)
        guard index >= 0, let ext = X509_get_ext(x509, index) else { return false }
        return X509_EXTENSION_get_critical(ext) == 1
    }

    /// Verifies this certificate against `caFile` for TLS server use; returns the verify error (0 = OK).
    func verify(trusting caFile: String) -> Int32 {
        let store = X509_STORE_new()!
        defer { X509_STORE_free(store) }
        _ = X509_STORE_load_file(store, caFile)
        let context = X509_STORE_CTX_new()!
        defer { X509_STORE_CTX_free(context) }
        _ = X509_STORE_CTX_init(context, store, x509, nil)
        _ = X509_STORE_CTX_set_purpose(context, X509_PURPOSE_SSL_SERVER)
        if X509_verify_cert(context) == 1 { return 0 }
        return X509_STORE_CTX_get_error(context)
    }

    private static func seconds(_ time: UnsafePointer<ASN1_TIME>?) -> time_t {
        var parts = tm()
        _ = ASN1_TIME_to_tm(time, &parts)
        return timegm(&parts)
    }

    private static func oneLine(_ name: OpaquePointer?) -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        _ = X509_NAME_oneline(name, &buffer, Int32(buffer.count))
        return buffer.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    }
}

struct InspectionError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

extension TestCertificates {
    func bytes(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
}
