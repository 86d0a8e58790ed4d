/*
 * pki.h — X.509 for stisign: the TNAuthList extension (RFC 8226), reading
 * certificate chains, the load-time checks a credential must pass, and the
 * PKCS#10 requests a Customer AF sends to its TN Provider. OpenSSL does all
 * ASN.1 work (the TNAuthList through ASN1_ITEM templates, not by hand).
 *
 * Conventions: functions returning OpenSSL objects transfer ownership to the
 * caller (free with X509_free / sk_X509_pop_free / X509_REQ_free). struct
 * scope outputs must be scope_init'ed by the caller and are appended to.
 * Nothing here is on the signing hot path.
 */
#ifndef STI_PKI_H
#define STI_PKI_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "scope.h"

#define PKI_OID_TNAUTHLIST "1.3.6.1.5.5.7.1.26"
#define PKI_OID_JWTCLAIMCONSTRAINTS "1.3.6.1.5.5.7.1.27"

/* Strict DER decode of a TNAuthorizationList (EXPLICIT tags; SEQUENCE of at
 * least one entry; IA5 strings within the TN alphabet; range count >= 2;
 * no trailing bytes). STI_EPKI_TNAUTH on any deviation. */
int pki_tnauth_decode(const uint8_t *der, size_t n, struct scope *out);
/* DER of the scope (must be non-empty). *der is malloc'd; caller frees. */
int pki_tnauth_encode(const struct scope *s, uint8_t **der, size_t *n);

/* Reads every certificate in a PEM file (leaf first); at least one. */
int pki_chain_load(const char *path, STACK_OF(X509) **out);
/* Same from memory (console paste). */
int pki_chain_parse(const char *pem, size_t n, STACK_OF(X509) **out);

/* Scope from a certificate's TNAuthList; STI_EPKI_NOTNAUTH if absent. */
int pki_cert_scope(X509 *cert, struct scope *out);
/* STI_EPKI_NOTYET / STI_EPKI_EXPIRED against now. */
int pki_cert_check_time(X509 *cert, time_t now);
/* The first URI of the certificate's first CRL Distribution Point (a full
 * name), NUL-terminated; STI_ENOTFOUND when it has none, STI_ETOOLONG. */
int pki_cert_crl_url(X509 *cert, char *url, size_t cap);
/* A CRL usable for certificates issued by issuer at now: issued by it
 * (name and signature, STI_EPKI_SIG) and current (thisUpdate <= now <=
 * nextUpdate, STI_EPKI_NOTYET / STI_EPKI_EXPIRED; no nextUpdate counts
 * as expired: it could never be replaced). */
int pki_crl_check(X509_CRL *crl, X509 *issuer, time_t now);
/* notBefore / notAfter as time_t. */
int pki_cert_times(X509 *cert, time_t *not_before, time_t *not_after);
/* Uncompressed P-256 point of the certificate key; STI_EPKI_KEYTYPE if the
 * key is not EC P-256. */
int pki_cert_point(X509 *cert, uint8_t point[65]);
/* STI_EPKI_KEYMISMATCH unless the certificate key equals point. */
int pki_cert_matches_point(X509 *cert, const uint8_t point[65]);
/* Each certificate is signed by the next one (names and signature); the
 * last may be self-signed or issued by a certificate not in the chain.
 * STI_EPKI_CHAIN otherwise. */
int pki_chain_check_order(STACK_OF(X509) *chain);
/* Everything a signing credential must pass before use: non-empty chain in
 * order, leaf key = point, leaf within validity at now, leaf TNAuthList
 * present and parsed into scope_out (may be NULL). */
int pki_credential_check(STACK_OF(X509) *chain, const uint8_t point[65], time_t now,
                         struct scope *scope_out);

/* A PKCS#10 request: subject "C=..,O=..,CN=.." (OpenSSL one-line "/C=US/O=X/CN=Y"
 * or "C=US,O=X,CN=Y" form), the TNAuthList of scope as a requested
 * extension, signed with key (an HSM-backed EVP_PKEY) using ecdsa-with-SHA256.
 * PEM text in *pem (malloc'd, NUL-terminated). */
int pki_csr_make(EVP_PKEY *key, const char *subject, const struct scope *scope, char **pem);
/* Parses a PEM CSR, checks its self-signature (STI_EPKI_SIG) and returns
 * the requested TNAuthList (STI_EPKI_NOTNAUTH if it asks for none). */
int pki_csr_parse(const char *pem, size_t n, X509_REQ **out, struct scope *scope_out);

/* Additions (beyond the first draft of this header). */

/* Scope from the TNAuthList in an extension list (a certificate's, or a
 * CSR's requested extensions; NULL counts as empty): STI_EPKI_NOTNAUTH if
 * absent, STI_EPKI_TNAUTH if present twice or malformed. */
int pki_tnauth_find(const STACK_OF(X509_EXTENSION) *exts, struct scope *out);
/* STI_OK when key is EC on the named curve P-256, else STI_EPKI_KEYTYPE. */
int pki_key_check_p256(const EVP_PKEY *key);
/* Uncompressed P-256 point (04 || X || Y) of key; STI_EPKI_KEYTYPE if the
 * key is not EC P-256 or does not expose its public coordinates. */
int pki_key_point(const EVP_PKEY *key, uint8_t point[65]);
/* A subject in the text form pki_csr_make takes ("/C=US/O=X/CN=Y" or
 * "C=US,O=X,CN=Y") as a new X509_NAME (caller frees). STI_EINVAL if it does
 * not parse, STI_ETOOLONG over 1024 characters. */
int pki_name_parse(const char *text, X509_NAME **out);

#endif
