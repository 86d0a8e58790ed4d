/*
 * verify.h — a strict STI-VS: verifies a SHAKEN Identity header (or bare
 * PASSporT) against a trust anchor, reporting the first check that fails.
 *
 * Conventions: the caller owns opts and result; pki_verify never keeps a
 * pointer to either. opts->chain, when given, is borrowed (not freed, not
 * modified). Every outcome is in result->code (0 or an STI_E* code) and
 * also returned; on failure result->check names the check and
 * result->detail says why. The parsed header and claims are filled in as
 * far as parsing got. Thread-safe as long as callers do not share a result;
 * the x5u cache directory may be shared (entries are written atomically).
 * Not on the signing path: this allocates and may read the trust anchor
 * file; it never touches the network.
 *
 * Checks, in order (check name -> code):
 *   format      the value is an Identity header or compact JWS   STI_EVFY_FORMAT
 *   header      alg ES256, ppt shaken, typ passport, x5u https,   STI_EVFY_HEADER
 *               nothing else; Identity alg/ppt params agree
 *   info        Identity info URI == x5u                          STI_EVFY_INFO
 *   claims      SHAKEN claims well-formed (identity.h)            STI_EVFY_CLAIMS
 *   iat         not after now + skew                              STI_EVFY_FUTURE
 *               not more than max_age before now                  STI_EVFY_STALE
 *   x5u         opts->chain (pki_verify); the steps API takes it  STI_EVFY_FETCH
 *               from the caller (the verifier's cache and fetcher)
 *   key         leaf key EC P-256                                 STI_EPKI_KEYTYPE
 *   signature   ES256 raw r||s (64 bytes, r and s in [1, n-1])    STI_EVFY_SIG
 *   chain       X509_verify_cert to the trust anchor at now       STI_EVFY_CHAIN,
 *                                                 STI_EPKI_EXPIRED, STI_EPKI_NOTYET
 *   keyusage    signer digitalSignature, CAs keyCertSign          STI_EVFY_KEYUSAGE
 *   revocation  (steps API only) each certificate against its     STI_EVFY_REVOKED,
 *               issuer's CRL                                      STI_EVFY_CRL
 *   scope       each TNAuthList within its issuer's               STI_ESCOPE_OUTSIDE
 *   orig        orig TN within the leaf's TNAuthList              STI_EVFY_SCOPE
 *   constraints (Enhanced)JWTClaimConstraints of each certificate STI_EVFY_CONSTRAINT
 */
#ifndef STI_VERIFY_H
#define STI_VERIFY_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

#include "identity.h"
#include "passport.h"
#include "scope.h"

#define PKI_OID_ENHANCEDJWTCC "1.3.6.1.5.5.7.1.33"
#define PKI_VFY_MAX_AGE_DEFAULT 60

struct pki_vfy_opts {
    const char *trust_anchor_file; /* PEM, one or more trusted roots */
    STACK_OF(X509) * chain;        /* leaf first (pki_verify needs it; it does not fetch) */
    long max_age;                  /* seconds; <= 0 means PKI_VFY_MAX_AGE_DEFAULT */
    long skew;                     /* seconds an iat may lie ahead of now (default 0) */
    time_t now;                    /* verification time: iat and certificate validity */
    enum scope_spc_policy spc_policy;
    X509_STORE *anchors; /* trusted roots loaded once (borrowed): used instead of the file */
};

struct pki_vfy_result {
    int code;
    char check[48];   /* name of the failed check, "" on success */
    char detail[256]; /* why, "" when the code says it all */
    struct id_header header;
    struct id_claims claims;
    char x5u[PP_X5U_MAX];
    char leaf_subject[256]; /* one-line RFC 2253 form, once the chain is known */
    int from_cache;         /* 1: the chain came from the x5u cache */
};

/* Verifies n bytes at in (an Identity header value or a compact JWS). */
int pki_verify(const char *in, size_t n, const struct pki_vfy_opts *o, struct pki_vfy_result *r);

/* The same checks in steps, for a caller that gets the chain and the CRLs
 * asynchronously (the verifier process, firmware/vs/). Each step returns
 * and records in r->code the first failure; the next step may only be
 * taken after STI_OK. o and r must outlive the context.
 *   pki_vfy_begin    format, header, info, claims, iat; r->x5u is then set
 *   pki_vfy_chain    key, signature, chain (to o's trust anchor), keyusage:
 *                    the signer has digitalSignature, each CA keyCertSign
 *   pki_vfy_path_len certificates of the verified path, trust anchor last
 *   pki_vfy_crl_url  the CRL Distribution Point URI of path certificate i
 *                    (STI_ENOTFOUND when it names none)
 *   pki_vfy_revoked  "revocation": crls[i] is path certificate i's CRL or
 *                    NULL when none could be had (counted in *unknown).
 *                    Each CRL must be signed by the certificate's issuer
 *                    and current at o->now (else STI_EVFY_CRL); a listed
 *                    certificate fails with STI_EVFY_REVOKED.
 *   pki_vfy_finish   scope, orig, constraints
 *   pki_vfy_end      frees the context (NULL is fine)
 * pki_vfy_begin sets *out even when it fails (free it with pki_vfy_end). */
struct pki_vfy_ctx;
int pki_vfy_begin(const char *in, size_t n, const struct pki_vfy_opts *o, struct pki_vfy_result *r,
                  struct pki_vfy_ctx **out);
int pki_vfy_chain(struct pki_vfy_ctx *v, STACK_OF(X509) * chain);
int pki_vfy_path_len(const struct pki_vfy_ctx *v);
int pki_vfy_crl_url(const struct pki_vfy_ctx *v, int i, char *url, size_t cap);
int pki_vfy_revoked(struct pki_vfy_ctx *v, X509_CRL *const *crls, int *unknown);
int pki_vfy_finish(struct pki_vfy_ctx *v);
void pki_vfy_end(struct pki_vfy_ctx *v);

/* jwtcc.c: JWTClaimConstraints (RFC 8226 §8) and EnhancedJWTClaimConstraints
 * (RFC 9118) of one certificate checked against the claims. STI_OK when the
 * certificate has neither; STI_EVFY_CONSTRAINT when one is malformed, repeated
 * or not satisfied (detail says which). */
int pki_jwtcc_check(X509 *cert, const char *claims_json, size_t n, const struct id_claims *c,
                    char *detail, size_t dcap);

#endif
