/* cli_auth.c — admin passphrase records: salted scrypt, parameters stored
 * with the hash, constant-time comparison. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "cli.h"
#include "sti_err.h"

#define SALT_LEN 16
#define HASH_LEN 32
#define SCRYPT_R 8
#define SCRYPT_P 1

void cli_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

static int kdf(const char *pass, size_t n, const uint8_t *salt, unsigned log2n, unsigned r,
               unsigned p, uint8_t out[HASH_LEN])
{
    if (log2n < 10 || log2n > 20 || r < 1 || r > 32 || p < 1 || p > 4)
        return STI_EINVAL;
    uint64_t N = 1ull << log2n;
    uint64_t maxmem = 128ull * r * (N + p + 2) + (1u << 20);
    return EVP_PBE_scrypt(pass, n, salt, SALT_LEN, N, r, p, maxmem, out, HASH_LEN) == 1
               ? STI_OK
               : STI_EINTERNAL;
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, size_t len, uint8_t *out, size_t n)
{
    if (len != 2 * n)
        return -1;
    for (size_t i = 0; i < 2 * n; i++) {
        int v = s[i] >= '0' && s[i] <= '9'   ? s[i] - '0'
                : s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10
                                             : -1;
        if (v < 0)
            return -1;
        if (i % 2 == 0)
            out[i / 2] = (uint8_t)(v << 4);
        else
            out[i / 2] |= (uint8_t)v;
    }
    return 0;
}

int cli_pass_hash(const char *pass, size_t n, unsigned log2n, char *rec, size_t cap)
{
    uint8_t salt[SALT_LEN], h[HASH_LEN];
    char sh[2 * SALT_LEN + 1], hh[2 * HASH_LEN + 1];
    int rc;
    if (RAND_bytes(salt, sizeof salt) != 1)
        return STI_EINTERNAL;
    if ((rc = kdf(pass, n, salt, log2n, SCRYPT_R, SCRYPT_P, h)))
        return rc;
    hex(salt, SALT_LEN, sh);
    hex(h, HASH_LEN, hh);
    cli_wipe(h, sizeof h);
    if (snprintf(rec, cap, "scrypt$%u$%u$%u$%s$%s", log2n, SCRYPT_R, SCRYPT_P, sh, hh) >= (int)cap)
        return STI_ETOOLONG;
    return STI_OK;
}

int cli_pass_verify(const char *rec, const char *pass, size_t n)
{
    unsigned log2n, r, p;
    int off = 0;
    uint8_t salt[SALT_LEN], want[HASH_LEN], got[HASH_LEN];
    if (sscanf(rec, "scrypt$%2u$%2u$%1u$%n", &log2n, &r, &p, &off) != 3 || off == 0)
        return STI_EINVAL;
    const char *s = rec + off, *dollar = strchr(s, '$');
    if (!dollar || unhex(s, (size_t)(dollar - s), salt, SALT_LEN) ||
        unhex(dollar + 1, strlen(dollar + 1), want, HASH_LEN))
        return STI_EINVAL;
    int rc = kdf(pass, n, salt, log2n, r, p, got);
    if (rc == STI_OK)
        rc = CRYPTO_memcmp(got, want, HASH_LEN) == 0 ? STI_OK : STI_EAUTH;
    cli_wipe(got, sizeof got);
    return rc;
}
