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

#endif
