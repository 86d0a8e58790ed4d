/* tn.c — telephone number normalisation and canonical-form check. */
#include "tn.h"

#include <string.h>

#include "sti_err.h"

/* The characters RFC 8226 allows in a TelephoneNumber. */
static int tn_is_char(char c)
{
    return (c >= '0' && c <= '9') || c == '#' || c == '*';
}

/* Characters people put between digits for readability; they carry no
 * meaning, so dropping them cannot change which number is meant. */
static int tn_is_separator(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

static char tn_lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

int tn_check(const char *s, size_t n)
{
    if (s == NULL || n == 0 || n > TN_MAX)
        return STI_ETN;
    for (size_t i = 0; i < n; i++)
        if (!tn_is_char(s[i]))
            return STI_ETN;
    return STI_OK;
}

int tn_normalize(const char *in, size_t inlen, char out[TN_BUF])
{
    if (out == NULL)
        return STI_EINVAL;
    /* A well-defined empty string on every failure path. */
    out[0] = '\0';
    if (in == NULL || inlen > TN_INPUT_MAX)
        return STI_ETN;

    size_t i = 0;
    static const char scheme[] = "tel:";
    if (inlen >= 4) {
        size_t k = 0;
        while (k < 4 && tn_lower(in[k]) == scheme[k])
            k++;
        if (k == 4)
            i = 4;
    }

    /* Build in a scratch buffer and copy only on success, so a rejected
     * input never leaves a partial number behind in out. */
    char tmp[TN_BUF];
    size_t n = 0;
    int plus_seen = 0;
    for (; i < inlen; i++) {
        char c = in[i];
        if (tn_is_char(c)) {
            if (n == TN_MAX)
                return STI_ETN;
            tmp[n++] = c;
        } else if (c == '+') {
            /* Only the E.164 prefix: one '+', before the first digit. A '+'
             * anywhere else means the input is not one number. */
            if (plus_seen || n > 0)
                return STI_ETN;
            plus_seen = 1;
        } else if (!tn_is_separator(c)) {
            return STI_ETN;
        }
    }
    if (n == 0)
        return STI_ETN;
    memcpy(out, tmp, n);
    out[n] = '\0';
    return STI_OK;
}
