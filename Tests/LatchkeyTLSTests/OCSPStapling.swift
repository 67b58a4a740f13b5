import COpenSSL
import Foundation
@testable import LatchkeyTLS

/// OCSP responses signed by the revocation test CA, built with libcrypto so that thisUpdate can lie in the
/// past (`openssl ocsp` always stamps the current time), and stapled by a server engine.
enum OCSPStapling {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// A DER OCSP response, signed by the CA, saying certificate `name` of `pki` is good.
    static func goodResponse(for name: String, in pki: RevocationCertificates, thisUpdate: time_t, nextUpdate: time_t?)
        throws -> [UInt8]
    {
        let ca = try X509Certificate.parseAll(pem: try fileBytes(pki.caFile), what: "the CA")[0]
        let leaf = try X509Certificate.parseAll(pem: try fileBytes(pki.path("\(name).pem")), what: name)[0]
        let key = try fileBytes(pki.path("ca.key")).withUnsafeBytes { bytes -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(bytes.baseAddress, Int32(bytes.count)) else { return nil }
            defer { BIO_free(bio) }
            return PEM_read_bio_PrivateKey(bio, nil, nil, nil)
        }
        guard let key, let basic = OCSP_BASICRESP_new(), let id = OCSP_cert_to_id(nil, leaf.pointer, ca.pointer) else {
            throw Failure(description: "cannot start an OCSP response")
        }
        defer {
            EVP_PKEY_free(key)
            OCSP_BASICRESP_free(basic)
            OCSP_CERTID_free(id)
        }
        let this = ASN1_TIME_set(nil, thisUpdate)
        let next = nextUpdate.map { ASN1_TIME_set(nil, $0) }
        defer {
            ASN1_TIME_free(this)
            if let next { ASN1_TIME_free(next) }
        }
        guard OCSP_basic_add1_status(basic, id, V_OCSP_CERTSTATUS_GOOD, 0, nil, this, next ?? nil) != nil,
            OCSP_basic_sign(basic, ca.pointer, key, EVP_sha256(), nil, 0) == 1,
            let response = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, basic)
        else { throw Failure(description: "cannot sign an OCSP response") }
        defer { OCSP_RESPONSE_free(response) }
        var der: UnsafeMutablePointer<UInt8>? = nil
        let length = i2d_OCSP_RESPONSE(response, &der)
        guard length > 0, let der else { throw Failure(description: "cannot encode an OCSP response") }
        defer { latchkey_OPENSSL_free(der) }
        return Array(UnsafeBufferPointer(start: der, count: Int(length)))
    }

    /// Makes `server` staple `response` to its handshake when the client asks for one.
    static func staple(_ response: [UInt8], on server: TLSEngine) {
        // OpenSSL sends a staple only through a status callback (RFC 6066 §8); the response is already set.
        let callback: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?) -> Int32 = { _, _ in SSL_TLSEXT_ERR_OK }
        _ = SSL_CTX_callback_ctrl(
            SSL_get_SSL_CTX(server.ssl), SSL_CTRL_SET_TLSEXT_STATUS_REQ_CB,
            unsafeBitCast(callback, to: (@convention(c) () -> Void).self))
        // The SSL frees the response: it must come from OPENSSL_malloc.
        let copy = CRYPTO_malloc(response.count, #fileID, #line)!
        response.withUnsafeBytes { copy.copyMemory(from: $0.baseAddress!, byteCount: response.count) }
        _ = SSL_ctrl(server.ssl, SSL_CTRL_SET_TLSEXT_STATUS_REQ_OCSP_RESP, response.count, copy)
    }
}
