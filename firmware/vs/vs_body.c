/*
 * vs_body.c — what a fetched body may be (a PEM chain, a CRL) and how long
 * an answer stays fresh. Pure functions over caller-owned bytes: no I/O,
 * no libevent, so the fuzz target drives them directly.
 *
 * Strictness is the point: a chain file is PEM certificate blocks and
 * whitespace, nothing else, because anything a lenient reader skips (junk
 * between blocks, a private key pasted in, trailing DER) is something a
 * second implementation might read differently.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sti_err.h"
#include "vs_fetch.h"

/* Bodies are capped by the fetcher far below this; the bound only keeps
 * lengths inside the int and long that OpenSSL's APIs take. */
#define VS_BODY_LIMIT (64u << 20)

static int vs_ws(uint8_t c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t vs_skip_ws(const uint8_t *b, size_t n, size_t off)
{
    while (off < n && vs_ws(b[off]))
        off++;
    return off;
}

/* Offset of needle in b[from, n), or n when absent. */
static size_t vs_find(const uint8_t *b, size_t n, size_t from, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = from; m <= n && i <= n - m; i++)
        if (b[i] == (uint8_t)needle[0] && memcmp(b + i, needle, m) == 0)
            return i;
    return n;
}

/*
 * The PEM block of type label that starts exactly at *off (after
 * whitespace), decoded to DER; *off moves past it. 1 when only whitespace
 * is left, 0 with *der set, or STI_EVFY_FETCH_BODY. OpenSSL decodes the
 * block we cut out, so it cannot skip text before it, and PEM_FLAG_ONLY_B64
 * refuses Proc-Type/DEK-Info headers (an encrypted block is not a chain).
 */
static int vs_pem_next(const uint8_t *b, size_t n, size_t *off, const char *label,
                       unsigned char **der, long *dlen)
{
    char begin[40], end[40];
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long len = 0;
    BIO *bio = NULL;
    int rc = STI_EVFY_FETCH_BODY;

    size_t at = vs_skip_ws(b, n, *off);
    if (at == n) {
        *off = n;
        return 1;
    }
    snprintf(begin, sizeof begin, "-----BEGIN %s-----", label);
    snprintf(end, sizeof end, "-----END %s-----", label);
    size_t bl = strlen(begin);
    STI_CHECK(n - at >= bl && memcmp(b + at, begin, bl) == 0, STI_EVFY_FETCH_BODY);
    size_t e = vs_find(b, n, at + bl, end);
    STI_CHECK(e < n, STI_EVFY_FETCH_BODY);
    size_t stop = e + strlen(end);
    /* The END line is a line of its own: nothing glued after it. */
    STI_CHECK(stop == n || vs_ws(b[stop]), STI_EVFY_FETCH_BODY);
    bio = BIO_new_mem_buf(b + at, (int)(stop - at));
    STI_CHECK(bio != NULL, STI_ENOMEM);
    STI_CHECK(PEM_read_bio_ex(bio, &name, &header, &data, &len, PEM_FLAG_ONLY_B64) == 1,
              STI_EVFY_FETCH_BODY);
    STI_CHECK(strcmp(name, label) == 0 && header[0] == '\0' && len > 0, STI_EVFY_FETCH_BODY);
    *der = data;
    *dlen = len;
    data = NULL;
    *off = stop;
    rc = STI_OK;
out:
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_free(data);
    BIO_free(bio);
    return rc;
}

int vs_body_chain(const uint8_t *body, size_t n, STACK_OF(X509) * *out)
{
    STACK_OF(X509) *chain = NULL;
    unsigned char *der = NULL;
    X509 *x = NULL;
    size_t off = 0;
    int rc;

    STI_CHECK(out != NULL && (body != NULL || n == 0), STI_EINVAL);
    *out = NULL;
    STI_CHECK(n > 0 && n <= VS_BODY_LIMIT, STI_EVFY_FETCH_BODY);
    chain = sk_X509_new_null();
    STI_CHECK(chain != NULL, STI_ENOMEM);
    for (;;) {
        long dlen = 0;
        rc = vs_pem_next(body, n, &off, "CERTIFICATE", &der, &dlen);
        if (rc == 1)
            break;
        STI_TRY(rc);
        /* Counted before parsing, so an 11th block costs no DER work. */
        STI_CHECK(sk_X509_num(chain) < VS_CHAIN_MAX, STI_EVFY_FETCH_BODY);
        const unsigned char *p = der;
        x = d2i_X509(NULL, &p, dlen);
        STI_CHECK(x != NULL && p == der + dlen, STI_EVFY_FETCH_BODY);
        STI_CHECK(sk_X509_push(chain, x) > 0, STI_ENOMEM);
        x = NULL;
        OPENSSL_free(der);
        der = NULL;
    }
    STI_CHECK(sk_X509_num(chain) >= 1, STI_EVFY_FETCH_BODY);
    *out = chain;
    chain = NULL;
    rc = STI_OK;
out:
    X509_free(x);
    OPENSSL_free(der);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

int vs_body_crl(const uint8_t *body, size_t n, X509_CRL **out)
{
    unsigned char *der = NULL;
    const unsigned char *p, *base;
    X509_CRL *crl = NULL;
    long dlen = 0;
    size_t off = 0;
    int rc;

    STI_CHECK(out != NULL && (body != NULL || n == 0), STI_EINVAL);
    *out = NULL;
    STI_CHECK(n > 0 && n <= VS_BODY_LIMIT, STI_EVFY_FETCH_BODY);
    if (body[0] == 0x30) {
        /* DER: a SEQUENCE, and nothing after it. */
        base = body;
        dlen = (long)n;
    } else {
        rc = vs_pem_next(body, n, &off, "X509 CRL", &der, &dlen);
        STI_CHECK(rc == STI_OK, rc == 1 ? STI_EVFY_FETCH_BODY : rc);
        STI_CHECK(vs_skip_ws(body, n, off) == n, STI_EVFY_FETCH_BODY);
        base = der;
    }
    p = base;
    crl = d2i_X509_CRL(NULL, &p, dlen);
    STI_CHECK(crl != NULL && p == base + dlen, STI_EVFY_FETCH_BODY);
    *out = crl;
    crl = NULL;
    rc = STI_OK;
out:
    X509_CRL_free(crl);
    OPENSSL_free(der);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Freshness (RFC 9111 §5.2, §5.3) */

static int vs_lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int vs_ieq(const char *s, size_t n, const char *want)
{
    size_t m = strlen(want);
    if (n != m)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (vs_lower((unsigned char)s[i]) != want[i])
            return 0;
    return 1;
}

/* RFC 9110 tchar. */
static int vs_tchar(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* delta-seconds: digits only; -1 when malformed. Saturates at 2^31 as
 * RFC 9111 §1.2.2 asks, so a huge value is "very long", not an error. */
static long vs_delta(const char *v, size_t n)
{
    long x = 0;
    if (n == 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return -1;
        if (x < VS_TTL_SATURATE)
            x = x * 10 + (v[i] - '0');
    }
    return x < VS_TTL_SATURATE ? x : VS_TTL_SATURATE;
}

/* n decimal digits at s into *v; 0 when any is not a digit. */
static int vs_digits(const char *s, int n, int *v)
{
    *v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        *v = *v * 10 + (s[i] - '0');
    }
    return 1;
}

/* IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT", to seconds; -1 otherwise
 * (the obsolete RFC 850 and asctime forms included: they count as past). */
static long long vs_http_date(const char *s)
{
    static const char days[] = "SunMonTueWedThuFriSat";
    static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int day, year, hh, mi, ss, wday = -1, mon = -1;
    struct tm tm;

    if (strlen(s) != 29 || memcmp(s + 3, ", ", 2) != 0 || s[7] != ' ' || s[11] != ' ' ||
        s[16] != ' ' || s[19] != ':' || s[22] != ':' || memcmp(s + 25, " GMT", 4) != 0)
        return -1;
    for (int i = 0; i < 7; i++)
        if (memcmp(s, days + 3 * i, 3) == 0)
            wday = i;
    for (int i = 0; i < 12; i++)
        if (memcmp(s + 8, months + 3 * i, 3) == 0)
            mon = i;
    if (wday < 0 || mon < 0 || !vs_digits(s + 5, 2, &day) || !vs_digits(s + 12, 4, &year) ||
        !vs_digits(s + 17, 2, &hh) || !vs_digits(s + 20, 2, &mi) || !vs_digits(s + 23, 2, &ss))
        return -1;
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1970 || day < 1 || day > mdays[mon] || (mon == 1 && day == 29 && !leap) || hh > 23 ||
        mi > 59 || ss > 60)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = year - 1900;
    tm.tm_mon = mon;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mi;
    tm.tm_sec = ss;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? -1 : (long long)t;
}

long vs_ttl(const char *cache_control, const char *expires, time_t now)
{
    long max_age = -1, s_maxage = -1;
    int no_store = 0;
    const char *p = cache_control;

    while (p != NULL && *p != '\0') {
        /* One directive: token [ "=" ( token / quoted-string ) ], then up
         * to the next comma. Anything malformed is skipped, not fatal. */
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break; /* trailing separators */
        const char *name = p;
        while (vs_tchar((unsigned char)*p))
            p++;
        size_t nl = (size_t)(p - name);
        const char *val = NULL;
        size_t vl = 0;
        int ok = nl > 0;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '=') {
            p++;
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p == '"') {
                val = ++p;
                while (*p != '\0' && *p != '"')
                    p++;
                vl = (size_t)(p - val);
                if (*p == '"')
                    p++;
                else
                    ok = 0;
            } else {
                val = p;
                while (vs_tchar((unsigned char)*p))
                    p++;
                vl = (size_t)(p - val);
            }
        }
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p != ',' && *p != '\0') {
            ok = 0;
            while (*p != ',' && *p != '\0')
                p++;
        }
        /* Here p has moved: at worst over the junk up to the next comma. */
        if (!ok)
            continue;
        if (vs_ieq(name, nl, "no-store")) {
            no_store = 1;
        } else if (vs_ieq(name, nl, "no-cache")) {
            /* no-cache="field" only concerns those fields (§5.2.2.4). */
            if (val == NULL)
                no_store = 1;
        } else if (vs_ieq(name, nl, "max-age") && val != NULL && max_age < 0) {
            max_age = vs_delta(val, vl);
        } else if (vs_ieq(name, nl, "s-maxage") && val != NULL && s_maxage < 0) {
            s_maxage = vs_delta(val, vl);
        }
    }
    if (no_store)
        return 0;
    /* The verifier's cache is shared by every call it checks. */
    if (s_maxage >= 0)
        return s_maxage;
    if (max_age >= 0)
        return max_age;
    if (expires != NULL) {
        /* An invalid date, "0" included, means already expired (§5.3). */
        long long t = vs_http_date(expires);
        if (t < 0 || t <= (long long)now)
            return 0;
        long long d = t - (long long)now;
        return d < VS_TTL_SATURATE ? (long)d : VS_TTL_SATURATE;
    }
    return -1;
}
