#ifndef LATCHKEY_COPENSSL_SHIM_H
#define LATCHKEY_COPENSSL_SHIM_H
// Umbrella header for the system OpenSSL. Function-like macros cannot be called from Swift,
// so each one used gets a `latchkey_`-prefixed static inline wrapper here (a system-library
// target cannot hold .c files; static inline needs no compile unit of its own).
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/bio.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/rsa.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/hmac.h>
#include <openssl/ocsp.h>
#include <stdlib.h>
#include <string.h>

static inline long latchkey_BIO_pending(BIO *b) { return BIO_pending(b); }
static inline long latchkey_SSL_set_tlsext_host_name(SSL *s, const char *name) {
    return SSL_set_tlsext_host_name(s, name);
}
static inline long latchkey_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long latchkey_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_mode(ctx, mode); }
// TLS policy (`tls.curves`, and `tls.ciphersuites` checked name by name: OpenSSL 3 skips unknown suite names).
static inline long latchkey_SSL_CTX_set1_groups_list(SSL_CTX *ctx, const char *list) {
    return SSL_CTX_set1_groups_list(ctx, list);
}
static inline int latchkey_sk_SSL_CIPHER_num(const STACK_OF(SSL_CIPHER) *stack) { return sk_SSL_CIPHER_num(stack); }
static inline const SSL_CIPHER *latchkey_sk_SSL_CIPHER_value(const STACK_OF(SSL_CIPHER) *stack, int i) {
    return sk_SSL_CIPHER_value(stack, i);
}
static inline void latchkey_OPENSSL_free(void *p) { OPENSSL_free(p); }
static inline uint64_t latchkey_SSL_OP_NO_COMPRESSION(void) { return SSL_OP_NO_COMPRESSION; }
static inline uint64_t latchkey_SSL_OP_NO_RENEGOTIATION(void) { return SSL_OP_NO_RENEGOTIATION; }
static inline long latchkey_SSL_MODE_RELEASE_BUFFERS(void) { return SSL_MODE_RELEASE_BUFFERS; }
// Client-side session caching with our own store (see TLSSessionCache): OpenSSL's internal store
// is keyed by session ID only and is meant for servers.
static inline long latchkey_SSL_CTX_enable_client_session_callback(SSL_CTX *ctx) {
    return SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
}
static inline void *latchkey_SSL_get_app_data(const SSL *s) { return SSL_get_app_data(s); }
static inline int latchkey_SSL_set_app_data(SSL *s, void *data) { return SSL_set_app_data(s, data); }

// Key generation (EVP_RSA_gen / EVP_EC_gen expand to the variadic EVP_PKEY_Q_keygen) and memory-BIO
// access; used by the auth tests to make throwaway keys.
static inline EVP_PKEY *latchkey_EVP_RSA_gen(unsigned int bits) { return EVP_RSA_gen(bits); }
static inline EVP_PKEY *latchkey_EVP_EC_gen(const char *curve) { return EVP_EC_gen(curve); }
/// EVP_PKEY_KEYPAIR is built from OR-ed macros Swift cannot import.
static inline int latchkey_EVP_PKEY_KEYPAIR(void) { return EVP_PKEY_KEYPAIR; }
static inline int latchkey_EVP_PKEY_ED25519(void) { return EVP_PKEY_ED25519; }
static inline long latchkey_BIO_get_mem_data(BIO *b, char **pp) { return BIO_get_mem_data(b, pp); }

// Interception (see LatchkeyTLS/Interception): the SNI callback that refuses another host's name,
// chain certificates for a signing CA that is not a root, and the string-type flag for X509_NAME.
typedef int (*latchkey_servername_callback)(SSL *, int *, void *);
static inline long latchkey_SSL_CTX_set_tlsext_servername_callback(SSL_CTX *ctx, latchkey_servername_callback cb) {
    return SSL_CTX_set_tlsext_servername_callback(ctx, cb);
}
static inline long latchkey_SSL_CTX_add1_chain_cert(SSL_CTX *ctx, X509 *x) { return SSL_CTX_add1_chain_cert(ctx, x); }
static inline long latchkey_SSL_CTX_add_extra_chain_cert(SSL_CTX *ctx, X509 *x) {
    return SSL_CTX_add_extra_chain_cert(ctx, x);
}
static inline int latchkey_MBSTRING_ASC(void) { return MBSTRING_ASC; }
static inline long latchkey_SSL_CTX_sess_set_cache_size(SSL_CTX *ctx, long size) {
    return SSL_CTX_sess_set_cache_size(ctx, size);
}

// Revocation (see LatchkeyTLS/Revocation): OCSP stapling, the retry-verify suspension and CRL stacks.
static inline long latchkey_SSL_request_ocsp_staple(SSL *s) {
    return SSL_set_tlsext_status_type(s, TLSEXT_STATUSTYPE_ocsp);
}
/// The stapled OCSP response (DER) the server sent, or a length <= 0 when none.
static inline long latchkey_SSL_get_ocsp_staple(SSL *s, const unsigned char **out) {
    unsigned char *resp = NULL;
    long length = SSL_get_tlsext_status_ocsp_resp(s, &resp);
    *out = resp;
    return length;
}
/// Suspends the handshake from the certificate verification callback (SSL_ERROR_WANT_RETRY_VERIFY).
static inline int latchkey_SSL_set_retry_verify(SSL *s) { return SSL_set_retry_verify(s); }
static inline STACK_OF(X509_CRL) *latchkey_sk_X509_CRL_new(void) { return sk_X509_CRL_new_null(); }
/// Pushes `crl` with a reference of its own (freed by latchkey_sk_X509_CRL_free).
static inline int latchkey_sk_X509_CRL_push_ref(STACK_OF(X509_CRL) *sk, X509_CRL *crl) {
    if (!X509_CRL_up_ref(crl)) return 0;
    if (sk_X509_CRL_push(sk, crl) <= 0) { X509_CRL_free(crl); return 0; }
    return 1;
}
static inline void latchkey_sk_X509_CRL_free(STACK_OF(X509_CRL) *sk) { sk_X509_CRL_pop_free(sk, X509_CRL_free); }
static inline int latchkey_sk_X509_num(const STACK_OF(X509) *sk) { return sk_X509_num(sk); }
static inline X509 *latchkey_sk_X509_value(const STACK_OF(X509) *sk, int i) { return sk_X509_value(sk, i); }
/// Frees a stack of certificates that holds a reference to each (X509_STORE_CTX_get1_chain's).
static inline void latchkey_sk_X509_pop_free(STACK_OF(X509) *sk) { sk_X509_pop_free(sk, X509_free); }
static inline int latchkey_X509_is_self_signed(X509 *x) { return (X509_get_extension_flags(x) & EXFLAG_SS) != 0; }

/// The URI after position (*point, *name) among the full names of CRL distribution points, advancing the
/// position; NULL past the last. Start at (0, 0). DIST_POINT_NAME holds a union Swift imports awkwardly.
static inline const ASN1_IA5STRING *latchkey_next_crl_distribution_uri(STACK_OF(DIST_POINT) *points, int *point,
                                                                        int *name) {
    for (; *point < sk_DIST_POINT_num(points); (*point)++, *name = 0) {
        DIST_POINT *candidate = sk_DIST_POINT_value(points, *point);
        if (candidate->distpoint == NULL || candidate->distpoint->type != 0) continue;
        GENERAL_NAMES *names = candidate->distpoint->name.fullname;
        while (*name < sk_GENERAL_NAME_num(names)) {
            GENERAL_NAME *general = sk_GENERAL_NAME_value(names, (*name)++);
            if (general->type == GEN_URI) return general->d.uniformResourceIdentifier;
        }
    }
    return NULL;
}

#endif
