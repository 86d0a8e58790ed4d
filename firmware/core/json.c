/* json.c — deterministic JSON fragments into a bounded writer. */
#include "json.h"

#include <string.h>

#include "sti_err.h"

int json_put_raw(struct buf_wr *w, const char *s)
{
    return buf_wr_bytes(w, s, strlen(s));
}

int json_put_str(struct buf_wr *w, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_wr_u8(w, '"');
    for (size_t i = 0; rc == STI_OK && i < n; i++) {
        /* Runs that need no escaping (all of a TN, most of a URL) are
         * copied in one step. */
        size_t run = 0;
        while (i + run < n && (unsigned char)s[i + run] >= 0x20 && s[i + run] != '"' &&
               s[i + run] != '\\')
            run++;
        if (run) {
            rc = buf_wr_bytes(w, s + i, run);
            i += run - 1;
            continue;
        }
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            rc = buf_wr_bytes(w, esc, sizeof esc);
        } else if (c < 0x20) {
            /* One spelling for every control character (no \n, \t short
             * forms) keeps the output a single canonical form. */
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0x0f]};
            rc = buf_wr_bytes(w, esc, sizeof esc);
        } else {
            rc = buf_wr_u8(w, c);
        }
    }
    if (rc == STI_OK)
        rc = buf_wr_u8(w, '"');
    return rc;
}

int json_put_i64(struct buf_wr *w, int64_t v)
{
    char tmp[24];
    size_t n = 0;
    /* Work on the magnitude as unsigned so INT64_MIN does not overflow. */
    uint64_t m = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[sizeof tmp - 1 - n++] = (char)('0' + (m % 10));
        m /= 10;
    } while (m != 0);
    if (v < 0)
        tmp[sizeof tmp - 1 - n++] = '-';
    return buf_wr_bytes(w, tmp + sizeof tmp - n, n);
}
