/*
 * cred.h — the signing credentials: certificate chain, scope, x5u and the
 * token key each one signs with, and the per-call choice among them.
 *
 * Conventions: the table is built at start (and on reload) and read-only on
 * the hot path; cred_select does no allocation and no I/O. Everything that
 * can be computed once per credential is: the base64url of the PASSporT
 * header, the scope index, the validity window.
 */
#ifndef STI_CRED_H
#define STI_CRED_H

#include <stdint.h>
#include <time.h>

#include <openssl/x509.h>

#include "config.h"
#include "passport.h"
#include "scope.h"

struct cred {
    char name[CFG_NAME_MAX + 1];
    char x5u[PP_X5U_MAX + 1];
    struct pp_cred pp; /* PASSporT parts precomputed for this x5u */
    struct scope scope;
    char scope_text[1024];
    char subject[256];
    time_t not_before, not_after;
    STACK_OF(X509) * chain;
    struct hsm_key_sel key;
    uint16_t key_idx;
    int bound; /* the token key matched the certificate */
    uint64_t signed_ok;
    uint64_t sign_errors; /* the token's errors and withheld signatures (metrics) */
    uint8_t leaf_sha256[32]; /* which leaf this is, for the parent's console */
};

struct cred_table {
    struct cred c[CFG_MAX_CREDS];
    size_t n;
};

/* Reads each credential's chain and checks what can be checked without the
 * token: chain order, TNAuthList present, x5u acceptable. Expired or not-yet-
 * valid certificates load (status shows them) but are never used. */
int cred_load(struct cred_table *t, const struct cfg *cfg, char *err, size_t errlen);
/* The same, the chains read from fs (config.h) instead of the disk. */
int cred_load_files(struct cred_table *t, const struct cfg *cfg, const struct cfg_files *fs,
                    char *err, size_t errlen);
void cred_free(struct cred_table *t);
/* The key selectors to give the HSM workers, one per credential, in order. */
void cred_key_sels(const struct cred_table *t, struct hsm_key_sel *keys, uint16_t *n);
/* Checks the leaf key of credential i against the token's public point. */
int cred_bind(struct cred *c, const uint8_t point[65]);
/* The first bound credential valid at now whose scope covers tn. When none
 * does: STI_ENOCRED if no credential at all is valid now; STI_EPKI_EXPIRED /
 * STI_EPKI_NOTYET if the only covering ones are out of their validity; else
 * STI_ESCOPE. */
int cred_select(const struct cred_table *t, const char *tn, time_t now, const struct cred **out);
/* 0 valid, 1 expired, 2 not yet valid, 3 unavailable (enum wire_cred_state). */
int cred_state(const struct cred *c, time_t now);

#endif
