/* uuid.c — RFC 4122 UUID formatting and normalisation. */
#include "uuid.h"

#include "sti_err.h"

static const char uuid_hex[] = "0123456789abcdef";

/* Positions of the four hyphens in the 8-4-4-4-12 form. */
static int uuid_is_dash_pos(size_t i)
{
    return i == 8 || i == 13 || i == 18 || i == 23;
}

void uuid_v4_format(const uint8_t rnd[16], char out[UUID_BUF])
{
    uint8_t b[16];
    for (size_t i = 0; i < 16; i++)
        b[i] = rnd[i];
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4: random */
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* variant 10xx: RFC 4122 */

    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (uuid_is_dash_pos(o))
            out[o++] = '-';
        out[o++] = uuid_hex[b[i] >> 4];
        out[o++] = uuid_hex[b[i] & 0x0f];
    }
    out[o] = '\0';
}

int uuid_normalize(const char *in, size_t n, char out[UUID_BUF])
{
    if (out == NULL)
        return STI_EINVAL;
    out[0] = '\0';
    if (in == NULL || n != UUID_STR_LEN)
        return STI_EORIGID;
    char tmp[UUID_BUF];
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (uuid_is_dash_pos(i)) {
            if (c != '-')
                return STI_EORIGID;
            tmp[i] = c;
        } else if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
            tmp[i] = c;
        } else if (c >= 'A' && c <= 'F') {
            tmp[i] = (char)(c - 'A' + 'a');
        } else {
            return STI_EORIGID;
        }
    }
    tmp[n] = '\0';
    /* Copy only on success so out never holds half an identifier. */
    for (size_t i = 0; i <= n; i++)
        out[i] = tmp[i];
    return STI_OK;
}
