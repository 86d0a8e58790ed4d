/*
 * vs_verify.h — one STI-VS verification driven on the event loop: the
 * Identity header's own checks (pki_vfy_begin), its chain by x5u from the
 * cache (pinned, cached or fetched once for all who ask), the path's
 * checks, each certificate's CRL (pinned, cached or fetched), then scope,
 * orig and constraints. The order and the codes are verify.h's; what
 * revocation could be checked is reported beside the result.
 *
 *   vs_verifier_new   the verifications of one process, over one cache
 *   vs_verifier_free  after vs_cache_free (which runs no more callbacks):
 *                     frees what still waited, without its callback
 *   vs_verify_start   begins one; the callback runs exactly once (unless
 *                     the verifier is freed first)
 *
 * Revocation policy: off (no CRL is looked at), prefer (a CRL that cannot
 * be had leaves that certificate unchecked and says so: VS_REV_UNKNOWN),
 * require (it fails with STI_EVFY_CRL). A CRL that is had but does not
 * verify, or that lists the certificate, fails under prefer and require.
 *
 * Conventions: event-loop thread only; the cache and cfg outlive every
 * verification started with them. The callback may run inside
 * vs_verify_start (a header that fails its own checks needs no I/O); the
 * result is valid only during the callback.
 */
#ifndef STI_VS_VERIFY_H
#define STI_VS_VERIFY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "scope.h"
#include "verify.h"
#include "vs_cache.h"
#include "vsproto.h"

enum vs_crl_policy { VS_CRL_OFF = 0, VS_CRL_PREFER = 1, VS_CRL_REQUIRE = 2 };

struct vs_verify_cfg {
    X509_STORE *anchors; /* trust anchors, loaded once; borrowed */
    long max_age;        /* the operator's iat window; a caller may only narrow it */
    long skew;           /* seconds an iat may lie ahead */
    enum scope_spc_policy spc_policy;
    enum vs_crl_policy crl;
};

struct vs_verifier;

/* r: the outcome (r->code STI_OK or the failed check's code, r->check,
 * r->detail, claims); rev: enum vs_revocation. */
typedef void (*vs_verify_cb)(void *arg, const struct pki_vfy_result *r, int rev);

/* max_age 0: the operator's; otherwise min(max_age, cfg->max_age). now:
 * the verification time (0: the clock). STI_OK: cb has run or will run;
 * STI_ENOMEM: it will not. */
int vs_verifier_new(struct vs_cache *c, const struct vs_verify_cfg *cfg, struct vs_verifier **out);
void vs_verifier_free(struct vs_verifier *v);
int vs_verify_start(struct vs_verifier *v, const char *in, size_t n, uint32_t max_age, time_t now,
                    vs_verify_cb cb, void *arg);

#endif
