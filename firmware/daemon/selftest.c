/* selftest.c — HSM signatures checked by mbedTLS; known answers. */
#include "selftest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/ecp.h>
#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "log.h"
#include "passport.h"
#include "pki.h"
#include "sti_err.h"

/* ---- known answers (the vectors of tests/unit/test_passport.c, computed
 * outside this code base with basenc and sha256sum) ---- */

#define KAT_X5U "https://cr.example.com/sti/cert.pem"
static const char kat_header_b64[] =
    "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0Ii"
    "wieDV1IjoiaHR0cHM6Ly9jci5leGFtcGxlLmNvbS9zdGkvY2VydC5wZW0ifQ";
static const char kat_claims_b64[] =
    "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjE1NTU1MDEyMyJdfSwiaWF0IjoxNzAwMDAwMDAwLCJvcmlnIj"
    "p7InRuIjoiMTIwMjU1NTAxMDAifSwib3JpZ2lkIjoiMTIzZTQ1NjctZTg5Yi00MmQzLWE0NTYtNDI2NjE0MTc0MDAw"
    "In0";
/* SHA-256 of kat_header_b64 "." kat_claims_b64: also the digest the
 * power-on test has every credential key sign. */
static const uint8_t kat_digest[32] = {
    0x8a, 0x2c, 0x11, 0xcf, 0xeb, 0x60, 0xa0, 0x80, 0xf5, 0xef, 0x74, 0xc4, 0xcc, 0x34, 0x13, 0x5f,
    0xd5, 0xa0, 0xc9, 0x0a, 0xe6, 0x43, 0x82, 0x03, 0xa1, 0x94, 0xe2, 0xa9, 0xfd, 0x22, 0x75, 0x70};
/* bytes 0x00..0x3f in base64url */
static const char kat_sig_b64[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw";
/* FIPS 180-2 "abc" */
static const uint8_t kat_abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                                    0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                                    0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
/* An ES256 signature of kat_digest made by openssl with a throwaway key:
 * the verifier must accept it, and refuse it with one bit flipped. */
static const uint8_t kat_point[65] = {
    0x04, 0x3b, 0x1f, 0xb6, 0x8f, 0xf1, 0x9a, 0x90, 0xa3, 0xed, 0xcc, 0x8b, 0x8c, 0xbe, 0xa6, 0x99,
    0xce, 0x84, 0xda, 0x8c, 0xba, 0xee, 0xa6, 0x9a, 0xdd, 0x59, 0x97, 0xbd, 0x2f, 0x7b, 0x5d, 0x89,
    0xa0, 0xa3, 0xae, 0x5c, 0x73, 0xa2, 0xef, 0xf1, 0xf0, 0xc2, 0x76, 0x03, 0xd0, 0xf5, 0x01, 0x13,
    0x23, 0x54, 0x99, 0xf2, 0x69, 0xdd, 0x6e, 0x31, 0xb8, 0x10, 0x17, 0x99, 0x49, 0x8b, 0x68, 0x55,
    0xf7};
static const uint8_t kat_sig[64] = {
    0x6a, 0xa8, 0x07, 0x44, 0x0c, 0xc5, 0xd2, 0x3c, 0x57, 0x42, 0xb1, 0xf8, 0xe0, 0x9e, 0xeb, 0x7c,
    0x89, 0x84, 0xda, 0x1a, 0xd3, 0x06, 0x51, 0x03, 0xf2, 0xe0, 0xf1, 0x3e, 0x7b, 0x89, 0xf6, 0xd2,
    0x7a, 0x5a, 0x17, 0xac, 0x7a, 0xaf, 0x96, 0xad, 0x47, 0x9d, 0x21, 0x00, 0xdf, 0x46, 0x32, 0x4a,
    0xad, 0x70, 0x84, 0x2b, 0x0d, 0x4d, 0x57, 0xbe, 0xb6, 0xdd, 0xdd, 0xc5, 0x8d, 0x82, 0x88, 0x24};

int selftest_verify_p256(const uint8_t point[65], const uint8_t digest[32], const uint8_t sig[64])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    int rc = STI_EHSM_SELFTEST;
    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    if (mbedtls_ecp_group_load(&grp, MBEDTLS_ECP_DP_SECP256R1) == 0 &&
        mbedtls_ecp_point_read_binary(&grp, &q, point, 65) == 0 &&
        mbedtls_ecp_check_pubkey(&grp, &q) == 0 && mbedtls_mpi_read_binary(&r, sig, 32) == 0 &&
        mbedtls_mpi_read_binary(&s, sig + 32, 32) == 0 &&
        mbedtls_ecdsa_verify(&grp, digest, 32, &q, &r, &s) == 0)
        rc = STI_OK;
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&s);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return rc;
}

static int selftest_sha256(const void *in, size_t n, uint8_t out[32])
{
#if MBEDTLS_VERSION_NUMBER >= 0x03000000
    return mbedtls_sha256(in, n, out, 0) == 0 ? STI_OK : STI_EHSM_SELFTEST;
#else
    return mbedtls_sha256_ret(in, n, out, 0) == 0 ? STI_OK : STI_EHSM_SELFTEST;
#endif
}

int selftest_known_answers(void)
{
    static const char *what = "";
    char hdr[PP_HEADER_B64_MAX], claims[PP_CLAIMS_B64_MAX];
    char si[PP_SIGNING_INPUT_MAX], id[PP_IDENTITY_MAX], want[PP_IDENTITY_MAX];
    uint8_t d[32], sig[64];
    size_t n, sn;
    struct pp_claims c;
    struct pp_cred pc;
    int rc = STI_EHSM_SELFTEST;
    memset(&pc, 0, sizeof pc);

    /* SHA-256: two implementations, one known answer. */
    what = "SHA-256";
    STI_CHECK(selftest_sha256("abc", 3, d) == STI_OK && memcmp(d, kat_abc, 32) == 0,
              STI_EHSM_SELFTEST);
    pp_digest("abc", 3, d);
    STI_CHECK(memcmp(d, kat_abc, 32) == 0, STI_EHSM_SELFTEST);
    /* The PASSporT path the hot path uses: header, claims, digest, Identity. */
    what = "PASSporT header";
    STI_CHECK(pp_header_b64(KAT_X5U, hdr, sizeof hdr, &n) == STI_OK &&
                  strcmp(hdr, kat_header_b64) == 0,
              STI_EHSM_SELFTEST);
    what = "PASSporT claims";
    memset(&c, 0, sizeof c);
    c.attest = 'A';
    strcpy(c.orig, "12025550100");
    strcpy(c.dest[0], "12155550123");
    c.ndest = 1;
    c.iat = 1700000000;
    strcpy(c.origid, "123e4567-e89b-42d3-a456-426614174000");
    STI_CHECK(pp_claims_b64(&c, claims, sizeof claims, &n) == STI_OK &&
                  strcmp(claims, kat_claims_b64) == 0,
              STI_EHSM_SELFTEST);
    what = "signing-input digest";
    STI_CHECK(pp_cred_init(&pc, KAT_X5U) == STI_OK, STI_EHSM_SELFTEST);
    pp_cred_digest(&pc, claims, n, d);
    STI_CHECK(memcmp(d, kat_digest, 32) == 0, STI_EHSM_SELFTEST);
    sn = (size_t)snprintf(si, sizeof si, "%s.%s", kat_header_b64, kat_claims_b64);
    STI_CHECK(selftest_sha256(si, sn, d) == STI_OK && memcmp(d, kat_digest, 32) == 0,
              STI_EHSM_SELFTEST);
    what = "Identity header";
    for (int i = 0; i < 64; i++)
        sig[i] = (uint8_t)i;
    snprintf(want, sizeof want, "%s.%s.%s;info=<%s>;alg=ES256;ppt=shaken", kat_header_b64,
             kat_claims_b64, kat_sig_b64, KAT_X5U);
    STI_CHECK(pp_cred_identity(&pc, claims, n, sig, id, sizeof id - 1, &sn) == STI_OK,
              STI_EHSM_SELFTEST);
    id[sn] = '\0';
    STI_CHECK(strcmp(id, want) == 0, STI_EHSM_SELFTEST);
    /* The verifier itself: a good signature passes, a damaged one fails. */
    what = "ECDSA P-256 verify";
    memcpy(sig, kat_sig, 64);
    STI_CHECK(selftest_verify_p256(kat_point, kat_digest, sig) == STI_OK, STI_EHSM_SELFTEST);
    sig[63] ^= 1;
    STI_CHECK(selftest_verify_p256(kat_point, kat_digest, sig) == STI_EHSM_SELFTEST,
              STI_EHSM_SELFTEST);
    rc = STI_OK;
out:
    pp_cred_free(&pc);
    if (rc)
        log_error("self-test: known answer of the %s path does not match", what);
    return rc;
}

/* ---- the power-on test through the worker pool ---- */

struct selftest {
    uint16_t gen;
    unsigned pending;
    uint8_t awaited[CFG_MAX_CREDS];
    const struct cred_table *t;
    selftest_done_fn done;
    void *arg;
    int rc;
    char why[256];
    int ok;
    unsigned long failures;
};

int selftest_new(struct selftest **out)
{
    struct selftest *st = calloc(1, sizeof *st);
    if (!st)
        return STI_ENOMEM;
    st->ok = 1;
    *out = st;
    return STI_OK;
}

void selftest_free(struct selftest *st)
{
    free(st);
}

int selftest_ok(const struct selftest *st)
{
    return st->ok;
}

unsigned long selftest_failures(const struct selftest *st)
{
    return st->failures;
}

__attribute__((format(printf, 2, 3))) static void selftest_fail(struct selftest *st,
                                                                const char *fmt, ...)
{
    va_list ap;
    if (st->rc)
        return; /* the first failure names the run */
    st->rc = STI_EHSM_SELFTEST;
    va_start(ap, fmt);
    vsnprintf(st->why, sizeof st->why, fmt, ap);
    va_end(ap);
    log_error("self-test failed: %s; signing refused", st->why);
}

static void selftest_finish(struct selftest *st)
{
    st->ok = st->rc == STI_OK;
    if (!st->ok)
        st->failures++;
    st->gen++; /* late answers of this run are ignored */
    if (st->done)
        st->done(st->arg, st->rc, st->why);
}

void selftest_run(struct selftest *st, struct pool *p, const struct cred_table *t,
                  selftest_done_fn done, void *arg)
{
    st->gen++;
    st->pending = 0;
    memset(st->awaited, 0, sizeof st->awaited);
    st->t = t;
    st->done = done;
    st->arg = arg;
    st->rc = STI_OK;
    st->why[0] = '\0';
    if (selftest_known_answers() != STI_OK)
        selftest_fail(st, "known-answer test of SHA-256/PASSporT encoding failed");
    for (size_t i = 0; p && i < t->n && i < CFG_MAX_CREDS; i++) {
        if (!t->c[i].bound)
            continue;
        uint32_t tag = SELFTEST_TAG_BASE | (uint32_t)(st->gen & 0xFFFF) << 8 | (uint32_t)i;
        int rc = pool_submit(p, tag, t->c[i].key_idx, kat_digest);
        if (rc) {
            selftest_fail(st, "credential %s: test signature not submitted: %s", t->c[i].name,
                          sti_strerror(rc));
            continue;
        }
        st->awaited[i] = 1;
        st->pending++;
    }
    if (st->pending == 0)
        selftest_finish(st);
}

void selftest_on_result(struct selftest *st, uint32_t tag, int status, const uint8_t *sig)
{
    size_t i = tag & 0xFF;
    if (((tag >> 8) & 0xFFFF) != st->gen || !st->pending || i >= CFG_MAX_CREDS ||
        !st->awaited[i] || i >= st->t->n)
        return; /* an answer of a run that was replaced */
    st->awaited[i] = 0;
    const struct cred *c = &st->t->c[i];
    uint8_t point[65];
    if (status) {
        selftest_fail(st, "credential %s: the token could not sign the test digest: %s", c->name,
                      sti_strerror(status));
    } else if (pki_cert_point(sk_X509_value(c->chain, 0), point) != STI_OK ||
               selftest_verify_p256(point, kat_digest, sig) != STI_OK) {
        selftest_fail(st,
                      "credential %s: the token's signature does not verify with mbedTLS "
                      "against the certificate's public key",
                      c->name);
    }
    if (--st->pending == 0)
        selftest_finish(st);
}
