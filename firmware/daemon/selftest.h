/*
 * selftest.h — the independent self-test: HSM signatures checked with a
 * second implementation (mbedTLS), and known answers for the hash and the
 * PASSporT encoding.
 *
 *   selftest_verify_p256     one ECDSA P-256 check with mbedTLS (any thread)
 *   selftest_known_answers   SHA-256 (mbedTLS vs the core path) and the
 *                            JSON/base64url/Identity path against fixed tokens
 *   selftest_new/_free       the power-on test state of the daemon (loop only)
 *   selftest_run             signs a fixed digest with every credential's key
 *                            through the worker pool, asynchronously, and
 *                            verifies each answer against the certificate
 *   selftest_tag/_on_result  the pool results of those jobs: their tags sit
 *                            at the top of the tag space, far above any
 *                            service job slot, so the result callback tells
 *                            them apart with one comparison
 *
 * Conventions: selftest_verify_p256 and selftest_known_answers use only
 * stack storage and are reentrant: the HSM workers call the first for the
 * sampled verify-after-sign, and the console's key generation calls it as
 * its pair-wise consistency check (sign a digest with the new key on the
 * token, then verify here against the point the token reports). Both return
 * STI_OK or STI_EHSM_SELFTEST. The struct selftest lives on the I/O loop.
 */
#ifndef STI_SELFTEST_H
#define STI_SELFTEST_H

#include <stddef.h>
#include <stdint.h>

#include "cred.h"
#include "pool.h"

/* Tags of self-test jobs: SELFTEST_TAG_BASE | generation << 8 | credential. */
#define SELFTEST_TAG_BASE 0xFF000000u

/* point: uncompressed 04||X||Y; digest: SHA-256; sig: raw r||s. */
int selftest_verify_p256(const uint8_t point[65], const uint8_t digest[32], const uint8_t sig[64]);
int selftest_known_answers(void);

struct selftest;

/* Called once per run when every credential has answered: rc is STI_OK or
 * STI_EHSM_SELFTEST; why names the first credential that failed. */
typedef void (*selftest_done_fn)(void *arg, int rc, const char *why);

int selftest_new(struct selftest **out);
void selftest_free(struct selftest *st);
/* Starts a run over every bound credential of t (a previous run still in
 * flight is forgotten). t must stay alive until done is called. done may
 * be called before this returns (nothing to test, or submit refused). */
void selftest_run(struct selftest *st, struct pool *p, const struct cred_table *t,
                  selftest_done_fn done, void *arg);
static inline int selftest_tag(uint32_t tag)
{
    return tag >= SELFTEST_TAG_BASE;
}
void selftest_on_result(struct selftest *st, uint32_t tag, int status, const uint8_t *sig);
/* 1 while the last finished run passed (and before any run), else 0. */
int selftest_ok(const struct selftest *st);
/* Runs that failed since start. */
unsigned long selftest_failures(const struct selftest *st);

#endif
