/*
 * fuzz_vsbody.c — what the verifier accepts from an x5u or CRL server
 * (firmware/vs/vs_body.c). The first byte picks the decoder, the rest is
 * its input:
 *   0 (mod 3) vs_body_chain: an accepted body is 1..VS_CHAIN_MAX parsed
 *     certificates, each re-encoding to no more DER than the body held; a
 *     refused one leaves nothing behind, with STI_EVFY_FETCH_BODY.
 *   1 vs_body_crl: the same rules for one CRL.
 *   2 vs_ttl: the rest split at the first newline into Cache-Control and
 *     Expires (no newline: Expires absent); the answer lies in
 *     [-1, VS_TTL_SATURATE] and does not depend on anything but its input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "sti_err.h"
#include "vs_fetch.h"

#define FUZZ_NOW ((time_t)1750000000)

static void fuzz_chain(const uint8_t *data, size_t size)
{
    STACK_OF(X509) *sk = (STACK_OF(X509) *)1;
    int rc = vs_body_chain(data, size, &sk);
    if (rc != STI_OK) {
        if (sk != NULL || (rc != STI_EVFY_FETCH_BODY && rc != STI_ENOMEM))
            abort();
        return;
    }
    int n = sk_X509_num(sk);
    if (n < 1 || n > VS_CHAIN_MAX)
        abort();
    for (int i = 0; i < n; i++) {
        int len = i2d_X509(sk_X509_value(sk, i), NULL);
        /* base64 makes the body at least 4/3 of the DER it carries */
        if (len <= 0 || (size_t)len > size)
            abort();
    }
    sk_X509_pop_free(sk, X509_free);
}

static void fuzz_crl(const uint8_t *data, size_t size)
{
    X509_CRL *crl = (X509_CRL *)1;
    int rc = vs_body_crl(data, size, &crl);
    if (rc != STI_OK) {
        if (crl != NULL || (rc != STI_EVFY_FETCH_BODY && rc != STI_ENOMEM))
            abort();
        return;
    }
    if (crl == NULL)
        abort();
    X509_CRL_free(crl);
}

static void fuzz_ttl(const uint8_t *data, size_t size)
{
    char *cc = malloc(size + 1);
    if (cc == NULL)
        return;
    memcpy(cc, data, size);
    cc[size] = '\0';
    char *nl = memchr(cc, '\n', size);
    char *expires = NULL;
    if (nl != NULL) {
        *nl = '\0';
        expires = nl + 1;
    }
    long a = vs_ttl(cc, expires, FUZZ_NOW);
    long b = vs_ttl(cc, expires, FUZZ_NOW);
    if (a < -1 || a > VS_TTL_SATURATE || a != b)
        abort();
    /* Freshness from the header alone never depends on the clock. */
    if (expires == NULL && vs_ttl(cc, NULL, FUZZ_NOW + 1000) != a)
        abort();
    free(cc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    switch (data[0] % 3) {
    case 0:
        fuzz_chain(data + 1, size - 1);
        break;
    case 1:
        fuzz_crl(data + 1, size - 1);
        break;
    default:
        fuzz_ttl(data + 1, size - 1);
        break;
    }
    return 0;
}
