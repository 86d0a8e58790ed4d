/*
 * fuzz_tnauth.c — the TNAuthList decoder, and certificate intake around it.
 *
 * 1. Any bytes go to pki_tnauth_decode. Whatever it accepts must encode
 *    back to exactly the same bytes: decode is strict DER, so a difference
 *    means one side of the codec accepts or emits something the other does
 *    not.
 * 2. Inputs that look like a certificate (SEQUENCE, more than 64 bytes) also
 *    go through d2i_X509 and the checks a chain file's certificates meet on
 *    load: scope, validity times, key point.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

#include "pki.h"
#include "sti_err.h"

static void fuzz_tnauth_roundtrip(const uint8_t *data, size_t size)
{
    struct scope s;
    scope_init(&s);
    if (pki_tnauth_decode(data, size, &s) == STI_OK) {
        uint8_t *der = NULL;
        size_t n = 0;
        if (s.n == 0)
            abort(); /* SIZE (1..MAX) was not enforced */
        if (pki_tnauth_encode(&s, &der, &n) != STI_OK)
            abort(); /* decode accepted what encode refuses */
        if (n != size || memcmp(der, data, size) != 0)
            abort();
        free(der);
    }
    scope_free(&s);
}

static void fuzz_cert_intake(const uint8_t *data, size_t size)
{
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);
    if (x == NULL)
        return;
    struct scope s;
    scope_init(&s);
    int rc = pki_cert_scope(x, &s);
    if (rc == STI_OK && s.n == 0)
        abort();
    if (rc != STI_OK && s.n != 0)
        abort(); /* a failed decode must not leave partial scope behind */
    time_t nb, na;
    (void)pki_cert_times(x, &nb, &na);
    (void)pki_cert_check_time(x, (time_t)1750000000);
    uint8_t pt[65];
    if (pki_cert_point(x, pt) == STI_OK && (pt[0] != 0x04 || pki_cert_matches_point(x, pt) != STI_OK))
        abort();
    scope_free(&s);
    X509_free(x);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_tnauth_roundtrip(data, size);
    if (size > 64 && size <= (1u << 20) && data[0] == 0x30)
        fuzz_cert_intake(data, size);
    return 0;
}
