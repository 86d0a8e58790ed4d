/*
 * uri.c — token and key selectors: a plain token label, or the subset of
 * RFC 7512 PKCS#11 URIs that names one token and one private key.
 *
 * Path attributes: token, serial, object, id, type (private only);
 * manufacturer, model and library-* describe the module/token and are
 * ignored. Anything else in the path is a configuration error, so that a
 * selector we do not implement (slot-id, ...) is never silently dropped.
 * Query attributes are ignored (module-path is configured elsewhere) except
 * pin-source and pin-value, refused because the PIN comes from a PIN file.
 */
#include "hsm.h"

#include <string.h>
#include <strings.h>

#include "sti_err.h"

static int hex_nibble(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes v[0..n) into out (cap bytes). STI_ECONFIG on a broken
 * escape, STI_ETOOLONG when the decoded value exceeds cap. */
static int pct_decode(const char *v, size_t n, uint8_t *out, size_t cap, size_t *outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int b = (unsigned char)v[i];
        if (v[i] == '%') {
            if (n - i < 3)
                return STI_ECONFIG;
            int hi = hex_nibble(v[i + 1]), lo = hex_nibble(v[i + 2]);
            if (hi < 0 || lo < 0)
                return STI_ECONFIG;
            b = hi << 4 | lo;
            i += 2;
        }
        if (o == cap)
            return STI_ETOOLONG;
        out[o++] = (uint8_t)b;
    }
    *outlen = o;
    return STI_OK;
}

/* A decoded text attribute into a NUL-terminated buffer of max chars. */
static int pct_decode_str(const char *v, size_t n, char *out, size_t max)
{
    uint8_t tmp[HSM_OBJLABEL_MAX];
    size_t len;
    int rc = pct_decode(v, n, tmp, max < sizeof tmp ? max : sizeof tmp, &len);
    if (rc != STI_OK)
        return rc;
    if (memchr(tmp, 0, len))
        return STI_ECONFIG; /* labels are C strings on our side */
    memcpy(out, tmp, len);
    out[len] = '\0';
    return STI_OK;
}

static int attr_is(const char *name, size_t n, const char *want)
{
    return strlen(want) == n && memcmp(name, want, n) == 0;
}

enum {
    SEEN_TOKEN = 1,
    SEEN_SERIAL = 2,
    SEEN_OBJECT = 4,
    SEEN_ID = 8,
    SEEN_TYPE = 16,
    SEEN_MANUF = 32,
    SEEN_MODEL = 64
};

static int parse_path_attr(const char *a, size_t n, struct hsm_token_sel *tok,
                           struct hsm_key_sel *key, unsigned *seen)
{
    const char *eq = memchr(a, '=', n);
    if (!eq || eq == a)
        return STI_ECONFIG;
    size_t nl = (size_t)(eq - a);
    const char *v = eq + 1;
    size_t vl = n - nl - 1;
    unsigned bit;

    if (attr_is(a, nl, "token"))
        bit = SEEN_TOKEN;
    else if (attr_is(a, nl, "serial"))
        bit = SEEN_SERIAL;
    else if (attr_is(a, nl, "object"))
        bit = SEEN_OBJECT;
    else if (attr_is(a, nl, "id"))
        bit = SEEN_ID;
    else if (attr_is(a, nl, "type"))
        bit = SEEN_TYPE;
    else if (attr_is(a, nl, "manufacturer"))
        bit = SEEN_MANUF;
    else if (attr_is(a, nl, "model"))
        bit = SEEN_MODEL;
    else if (attr_is(a, nl, "library-manufacturer") || attr_is(a, nl, "library-description") ||
             attr_is(a, nl, "library-version"))
        return STI_OK;
    else
        return STI_ECONFIG; /* includes pin-source/pin-value put in the path */

    /* RFC 7512: each path attribute at most once. */
    if (*seen & bit)
        return STI_ECONFIG;
    *seen |= bit;

    switch (bit) {
    case SEEN_TOKEN:
        return pct_decode_str(v, vl, tok->label, HSM_LABEL_MAX);
    case SEEN_SERIAL:
        return pct_decode_str(v, vl, tok->serial, HSM_SERIAL_MAX);
    case SEEN_OBJECT:
        return pct_decode_str(v, vl, key->label, HSM_OBJLABEL_MAX);
    case SEEN_ID:
        return pct_decode(v, vl, key->id, HSM_ID_MAX, &key->id_len);
    case SEEN_TYPE: {
        char t[16];
        int rc = pct_decode_str(v, vl, t, sizeof t - 1);
        if (rc == STI_ETOOLONG || (rc == STI_OK && strcmp(t, "private") != 0))
            return STI_ECONFIG;
        return rc;
    }
    default:
        return STI_OK;
    }
}

static int parse_query(const char *q)
{
    while (*q) {
        size_t n = strcspn(q, "&");
        size_t nl = strcspn(q, "=&");
        if (attr_is(q, nl, "pin-source") || attr_is(q, nl, "pin-value"))
            return STI_ECONFIG;
        q += n;
        if (*q == '&')
            q++;
    }
    return STI_OK;
}

static int uri_parse(const char *spec, struct hsm_token_sel *tok, struct hsm_key_sel *key,
                     int *is_uri)
{
    static const char scheme[] = "pkcs11:";
    int rc;

    memset(tok, 0, sizeof *tok);
    memset(key, 0, sizeof *key);
    *is_uri = 0;
    if (!spec || !*spec)
        return STI_EINVAL;
    if (strncasecmp(spec, scheme, sizeof scheme - 1) != 0)
        return STI_OK;

    *is_uri = 1;
    const char *p = spec + sizeof scheme - 1;
    size_t plen = strcspn(p, "?");
    unsigned seen = 0;

    if (p[plen] == '?' && (rc = parse_query(p + plen + 1)) != STI_OK)
        return rc;
    /* "pkcs11:" alone selects any token. Otherwise the path is
     * attr *(";" attr): no empty attributes, no trailing ';'. */
    size_t i = 0;
    while (plen > 0) {
        size_t n = strcspn(p + i, ";?");
        if (n == 0)
            return STI_ECONFIG;
        if ((rc = parse_path_attr(p + i, n, tok, key, &seen)) != STI_OK)
            return rc;
        i += n;
        if (i == plen)
            break;
        i++; /* ';' */
        if (i == plen)
            return STI_ECONFIG;
    }
    return STI_OK;
}

int hsm_uri_parse(const char *spec, struct hsm_token_sel *tok, struct hsm_key_sel *key)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    int is_uri;
    int rc = uri_parse(spec, &t, &k, &is_uri);

    if (!tok)
        return STI_EINVAL;
    if (rc != STI_OK)
        return rc;
    if (!is_uri) {
        size_t n = strlen(spec);
        if (n > HSM_LABEL_MAX)
            return STI_ETOOLONG;
        memcpy(t.label, spec, n + 1);
    }
    *tok = t;
    if (key)
        *key = k;
    return STI_OK;
}

int hsm_key_sel_parse(const char *spec, struct hsm_key_sel *key)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    int is_uri;
    int rc = uri_parse(spec, &t, &k, &is_uri);

    if (!key)
        return STI_EINVAL;
    if (rc != STI_OK)
        return rc;
    if (!is_uri) {
        size_t n = strlen(spec);
        if (n > HSM_OBJLABEL_MAX)
            return STI_ETOOLONG;
        memcpy(k.label, spec, n + 1);
    } else if (!k.label[0] && k.id_len == 0) {
        return STI_ECONFIG; /* a key URI must name the key */
    }
    *key = k;
    return STI_OK;
}
