/* b64u.c — strict base64url without padding. */
#include "b64u.h"

#include <stdint.h>

#include "sti_err.h"

static const char b64u_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Value of one url-safe character, -1 for anything else (including '=',
 * '+', '/' and whitespace: the strict form admits none of them). */
static int b64u_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int b64u_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen)
{
    if ((in == NULL && n != 0) || out == NULL)
        return STI_EINVAL;
    /* B64U_ENC_LEN would wrap for absurd n; such input can never fit. */
    if (n > (SIZE_MAX / 4) * 3 - 3)
        return STI_ETOOLONG;
    size_t need = B64U_ENC_LEN(n);
    if (cap < need + 1)
        return STI_ETOOLONG;

    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64u_alphabet[(v >> 18) & 63];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
        out[o++] = b64u_alphabet[(v >> 6) & 63];
        out[o++] = b64u_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64u_alphabet[(v >> 18) & 63];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = b64u_alphabet[(v >> 18) & 63];
        out[o++] = b64u_alphabet[(v >> 12) & 63];
        out[o++] = b64u_alphabet[(v >> 6) & 63];
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return STI_OK;
}

int b64u_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    if ((in == NULL && n != 0) || (out == NULL && cap != 0))
        return STI_EINVAL;
    /* A single leftover character carries only 6 bits: never a whole byte. */
    if (n % 4 == 1)
        return STI_EINVAL;
    /* Validate everything before writing, so a rejected input leaves out
     * untouched and the error does not depend on cap. */
    for (size_t i = 0; i < n; i++)
        if (b64u_val(in[i]) < 0)
            return STI_EINVAL;
    size_t rem = n % 4;
    if (rem == 2 && (b64u_val(in[n - 1]) & 0x0f) != 0)
        return STI_EINVAL; /* 4 unused bits must be zero: canonical form */
    if (rem == 3 && (b64u_val(in[n - 1]) & 0x03) != 0)
        return STI_EINVAL; /* 2 unused bits must be zero */

    size_t need = (n / 4) * 3 + (rem ? rem - 1 : 0);
    if (cap < need)
        return STI_ETOOLONG;

    size_t o = 0, i = 0;
    for (; i + 4 <= n; i += 4) {
        uint32_t v = ((uint32_t)b64u_val(in[i]) << 18) | ((uint32_t)b64u_val(in[i + 1]) << 12) |
                     ((uint32_t)b64u_val(in[i + 2]) << 6) | (uint32_t)b64u_val(in[i + 3]);
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    if (rem >= 2) {
        uint32_t v = ((uint32_t)b64u_val(in[i]) << 18) | ((uint32_t)b64u_val(in[i + 1]) << 12);
        if (rem == 3)
            v |= (uint32_t)b64u_val(in[i + 2]) << 6;
        out[o++] = (uint8_t)(v >> 16);
        if (rem == 3)
            out[o++] = (uint8_t)(v >> 8);
    }
    if (outlen)
        *outlen = o;
    return STI_OK;
}
