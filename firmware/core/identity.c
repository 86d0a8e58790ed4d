/*
 * identity.c — the Identity header splitter and a small strict JSON reader
 * for PASSporT headers and claims. See identity.h for the accepted syntax.
 *
 * The JSON reader is a cursor (struct id_jr) over the decoded bytes; every
 * getter checks what remains before it reads. Objects remember their member
 * names in fixed storage so duplicates are caught without allocating.
 * Internally the reader returns 0 or -1; the public functions map -1 to the
 * one error code of their layer.
 */
#include "identity.h"

#include <string.h>

#include "b64u.h"
#include "sti_err.h"
#include "tn.h"
#include "uuid.h"

#define ID_IAT_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* ------------------------------------------------------------------ */
/* JSON cursor */

struct id_jr {
    const uint8_t *p;
    size_t n;
    size_t off;
    int depth;
};

struct id_jobj {
    char names[ID_MEMBERS_MAX][ID_NAME_MAX + 1];
    unsigned n;
    int first;
};

static void jr_init(struct id_jr *r, const char *p, size_t n)
{
    r->p = (const uint8_t *)p;
    r->n = n;
    r->off = 0;
    r->depth = 0;
}

static void jr_ws(struct id_jr *r)
{
    while (r->off < r->n) {
        uint8_t c = r->p[r->off];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        r->off++;
    }
}

static int jr_peek(struct id_jr *r)
{
    jr_ws(r);
    return r->off < r->n ? r->p[r->off] : -1;
}

static int jr_eat(struct id_jr *r, int c)
{
    if (jr_peek(r) != c)
        return -1;
    r->off++;
    return 0;
}

/* Nothing but whitespace may follow the top-level value. */
static int jr_end(struct id_jr *r)
{
    jr_ws(r);
    return r->off == r->n ? 0 : -1;
}

/* Appends code point cp as UTF-8 when out is not NULL; always counts, and
 * keeps one byte for the NUL. */
static int jr_put(char *out, size_t cap, size_t *k, uint32_t cp)
{
    uint8_t b[4];
    size_t m;
    if (cp < 0x80) {
        b[0] = (uint8_t)cp;
        m = 1;
    } else if (cp < 0x800) {
        b[0] = (uint8_t)(0xc0 | (cp >> 6));
        b[1] = (uint8_t)(0x80 | (cp & 0x3f));
        m = 2;
    } else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xe0 | (cp >> 12));
        b[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (uint8_t)(0x80 | (cp & 0x3f));
        m = 3;
    } else {
        b[0] = (uint8_t)(0xf0 | (cp >> 18));
        b[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (uint8_t)(0x80 | (cp & 0x3f));
        m = 4;
    }
    if (out != NULL) {
        if (cap == 0 || m > cap - 1 - *k)
            return -1;
        memcpy(out + *k, b, m);
    }
    *k += m;
    return 0;
}

static int jr_hex4(struct id_jr *r, uint32_t *v)
{
    if (r->n - r->off < 4)
        return -1;
    uint32_t x = 0;
    for (int i = 0; i < 4; i++) {
        uint8_t c = r->p[r->off++];
        uint32_t d;
        if (c >= '0' && c <= '9')
            d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            d = (uint32_t)(c - 'A' + 10);
        else
            return -1;
        x = x << 4 | d;
    }
    *v = x;
    return 0;
}

static int jr_escape(struct id_jr *r, uint32_t *cp)
{
    if (r->off >= r->n)
        return -1;
    switch (r->p[r->off++]) {
    case '"': *cp = '"'; return 0;
    case '\\': *cp = '\\'; return 0;
    case '/': *cp = '/'; return 0;
    case 'b': *cp = 0x08; return 0;
    case 'f': *cp = 0x0c; return 0;
    case 'n': *cp = 0x0a; return 0;
    case 'r': *cp = 0x0d; return 0;
    case 't': *cp = 0x09; return 0;
    case 'u': break;
    default: return -1;
    }
    uint32_t hi, lo;
    if (jr_hex4(r, &hi) != 0)
        return -1;
    if (hi >= 0xdc00 && hi <= 0xdfff)
        return -1; /* a low surrogate on its own */
    if (hi >= 0xd800 && hi <= 0xdbff) {
        if (r->n - r->off < 2 || r->p[r->off] != '\\' || r->p[r->off + 1] != 'u')
            return -1;
        r->off += 2;
        if (jr_hex4(r, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
            return -1;
        hi = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
    }
    /* NUL would cut every C string made from this value. */
    if (hi == 0)
        return -1;
    *cp = hi;
    return 0;
}

/* One UTF-8 sequence whose lead byte c was just read: shortest form only,
 * no surrogates, nothing above U+10FFFF. */
static int jr_utf8(struct id_jr *r, uint8_t c, uint32_t *cp)
{
    size_t m;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        m = 1;
        v = c & 0x1f;
        min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        m = 2;
        v = c & 0x0f;
        min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        m = 3;
        v = c & 0x07;
        min = 0x10000;
    } else {
        return -1;
    }
    if (r->n - r->off < m)
        return -1;
    for (size_t i = 0; i < m; i++) {
        uint8_t d = r->p[r->off++];
        if ((d & 0xc0) != 0x80)
            return -1;
        v = v << 6 | (d & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
        return -1;
    *cp = v;
    return 0;
}

/* A string value; decoded into out (cap bytes with the NUL) unless out is
 * NULL, in which case it is only checked. */
static int jr_string(struct id_jr *r, char *out, size_t cap, size_t *len)
{
    size_t k = 0;
    if (jr_eat(r, '"') != 0)
        return -1;
    for (;;) {
        if (r->off >= r->n)
            return -1;
        uint8_t c = r->p[r->off++];
        uint32_t cp;
        if (c == '"')
            break;
        if (c < 0x20)
            return -1;
        if (c == '\\') {
            if (jr_escape(r, &cp) != 0)
                return -1;
        } else if (c < 0x80) {
            cp = c;
        } else if (jr_utf8(r, c, &cp) != 0) {
            return -1;
        }
        if (jr_put(out, cap, &k, cp) != 0)
            return -1;
    }
    if (out != NULL)
        out[k] = '\0';
    if (len != NULL)
        *len = k;
    return 0;
}

/* An integer: -?(0|[1-9][0-9]*), and no fraction or exponent after it. */
static int jr_int(struct id_jr *r, int64_t *v)
{
    int c = jr_peek(r);
    int neg = 0;
    uint64_t x = 0;
    if (c == '-') {
        neg = 1;
        r->off++;
    }
    if (r->off >= r->n || r->p[r->off] < '0' || r->p[r->off] > '9')
        return -1;
    if (r->p[r->off] == '0') {
        r->off++;
    } else {
        while (r->off < r->n && r->p[r->off] >= '0' && r->p[r->off] <= '9') {
            uint64_t d = (uint64_t)(r->p[r->off] - '0');
            if (x > (UINT64_C(9223372036854775807) - d) / 10)
                return -1;
            x = x * 10 + d;
            r->off++;
        }
    }
    if (r->off < r->n) {
        uint8_t t = r->p[r->off];
        if (t == '.' || t == 'e' || t == 'E' || (t >= '0' && t <= '9'))
            return -1;
    }
    *v = neg ? -(int64_t)x : (int64_t)x;
    return 0;
}

static int jr_literal(struct id_jr *r, const char *lit)
{
    size_t m = strlen(lit);
    jr_ws(r);
    if (r->n - r->off < m || memcmp(r->p + r->off, lit, m) != 0)
        return -1;
    r->off += m;
    return 0;
}

static int jr_obj_begin(struct id_jr *r, struct id_jobj *o)
{
    if (jr_eat(r, '{') != 0 || ++r->depth > ID_JSON_DEPTH_MAX)
        return -1;
    o->n = 0;
    o->first = 1;
    return 0;
}

/* 1: the next member's name is in name and the cursor is at its value;
 * 0: the object closed; -1: error (syntax, duplicate, too many members). */
static int jr_obj_next(struct id_jr *r, struct id_jobj *o, char name[ID_NAME_MAX + 1])
{
    int c = jr_peek(r);
    if (c == '}') {
        r->off++;
        r->depth--;
        return 0;
    }
    if (!o->first) {
        if (c != ',')
            return -1;
        r->off++;
    }
    o->first = 0;
    if (jr_peek(r) != '"' || jr_string(r, name, ID_NAME_MAX + 1, NULL) != 0)
        return -1;
    for (unsigned i = 0; i < o->n; i++)
        if (strcmp(o->names[i], name) == 0)
            return -1;
    if (o->n == ID_MEMBERS_MAX)
        return -1;
    memcpy(o->names[o->n++], name, ID_NAME_MAX + 1);
    return jr_eat(r, ':') == 0 ? 1 : -1;
}

static int jr_arr_begin(struct id_jr *r, int *first)
{
    if (jr_eat(r, '[') != 0 || ++r->depth > ID_JSON_DEPTH_MAX)
        return -1;
    *first = 1;
    return 0;
}

/* 1: at the next element; 0: the array closed; -1: error. */
static int jr_arr_next(struct id_jr *r, int *first)
{
    int c = jr_peek(r);
    if (c == ']') {
        r->off++;
        r->depth--;
        return 0;
    }
    if (!*first) {
        if (c != ',')
            return -1;
        r->off++;
    }
    *first = 0;
    return 1;
}

/* Checks and skips any value (depth-limited, so the recursion is too). */
static int jr_skip(struct id_jr *r)
{
    int c = jr_peek(r), k, first;
    int64_t v;
    char name[ID_NAME_MAX + 1];
    struct id_jobj o;
    switch (c) {
    case '"':
        return jr_string(r, NULL, 0, NULL);
    case '{':
        if (jr_obj_begin(r, &o) != 0)
            return -1;
        while ((k = jr_obj_next(r, &o, name)) == 1)
            if (jr_skip(r) != 0)
                return -1;
        return k;
    case '[':
        if (jr_arr_begin(r, &first) != 0)
            return -1;
        while ((k = jr_arr_next(r, &first)) == 1)
            if (jr_skip(r) != 0)
                return -1;
        return k;
    case 't':
        return jr_literal(r, "true");
    case 'f':
        return jr_literal(r, "false");
    case 'n':
        return jr_literal(r, "null");
    default:
        return jr_int(r, &v);
    }
}

/* ------------------------------------------------------------------ */
/* Header */

static int id_header_read(struct id_jr *r, struct id_header *h)
{
    struct id_jobj o;
    char name[ID_NAME_MAX + 1];
    int k;
    if (jr_peek(r) != '{' || jr_obj_begin(r, &o) != 0)
        return -1;
    while ((k = jr_obj_next(r, &o, name)) == 1) {
        if (strcmp(name, "alg") == 0) {
            k = jr_string(r, h->alg, sizeof h->alg, NULL);
            h->have |= ID_H_ALG;
        } else if (strcmp(name, "ppt") == 0) {
            k = jr_string(r, h->ppt, sizeof h->ppt, NULL);
            h->have |= ID_H_PPT;
        } else if (strcmp(name, "typ") == 0) {
            k = jr_string(r, h->typ, sizeof h->typ, NULL);
            h->have |= ID_H_TYP;
        } else if (strcmp(name, "x5u") == 0) {
            k = jr_string(r, h->x5u, sizeof h->x5u, NULL);
            h->have |= ID_H_X5U;
        } else {
            h->unknown = 1;
            k = jr_skip(r);
        }
        if (k != 0)
            return -1;
    }
    return k == 0 ? jr_end(r) : -1;
}

int id_header_parse(const char *json, size_t n, struct id_header *h)
{
    struct id_jr r;
    if (json == NULL || h == NULL)
        return STI_EINVAL;
    memset(h, 0, sizeof *h);
    jr_init(&r, json, n);
    if (id_header_read(&r, h) != 0) {
        memset(h, 0, sizeof *h);
        return STI_EVFY_HEADER;
    }
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* Claims */

#define ID_C_ATTEST 0x01u
#define ID_C_ORIG 0x02u
#define ID_C_DEST 0x04u
#define ID_C_IAT 0x08u
#define ID_C_ORIGID 0x10u
#define ID_C_ALL 0x1fu

static int jr_tn(struct id_jr *r, char out[TN_BUF])
{
    size_t len;
    if (jr_peek(r) != '"' || jr_string(r, out, TN_BUF, &len) != 0)
        return -1;
    return tn_check(out, len) == STI_OK ? 0 : -1;
}

/* orig: {"tn":"..."} exactly. */
static int id_orig_read(struct id_jr *r, struct pp_claims *c)
{
    struct id_jobj o;
    char name[ID_NAME_MAX + 1];
    int k, have = 0;
    if (jr_obj_begin(r, &o) != 0)
        return -1;
    while ((k = jr_obj_next(r, &o, name)) == 1) {
        if (strcmp(name, "tn") != 0 || jr_tn(r, c->orig) != 0)
            return -1;
        have = 1;
    }
    return k == 0 && have ? 0 : -1;
}

/* dest: {"tn":["...", ...]} exactly, 1..PP_MAX_DEST numbers. */
static int id_dest_read(struct id_jr *r, struct pp_claims *c)
{
    struct id_jobj o;
    char name[ID_NAME_MAX + 1];
    int k, first;
    if (jr_obj_begin(r, &o) != 0)
        return -1;
    while ((k = jr_obj_next(r, &o, name)) == 1) {
        if (strcmp(name, "tn") != 0 || jr_peek(r) != '[' || jr_arr_begin(r, &first) != 0)
            return -1;
        while ((k = jr_arr_next(r, &first)) == 1) {
            if (c->ndest == PP_MAX_DEST || jr_tn(r, c->dest[c->ndest]) != 0)
                return -1;
            c->ndest++;
        }
        if (k != 0)
            return -1;
    }
    return k == 0 && c->ndest > 0 ? 0 : -1;
}

static int id_claim_read(struct id_jr *r, const char *name, struct id_claims *out,
                         unsigned *have)
{
    struct pp_claims *c = &out->c;
    char buf[UUID_BUF + 1] = {0};
    size_t len = 0;
    unsigned bit;
    int rc;
    if (strcmp(name, "attest") == 0) {
        bit = ID_C_ATTEST;
        rc = jr_peek(r) == '"' ? jr_string(r, buf, 2, &len) : -1;
        if (rc == 0 && (len != 1 || (buf[0] != 'A' && buf[0] != 'B' && buf[0] != 'C')))
            rc = -1;
        c->attest = buf[0];
    } else if (strcmp(name, "orig") == 0) {
        bit = ID_C_ORIG;
        rc = jr_peek(r) == '{' ? id_orig_read(r, c) : -1;
    } else if (strcmp(name, "dest") == 0) {
        bit = ID_C_DEST;
        rc = jr_peek(r) == '{' ? id_dest_read(r, c) : -1;
    } else if (strcmp(name, "iat") == 0) {
        bit = ID_C_IAT;
        int p = jr_peek(r);
        rc = (p == '-' || (p >= '0' && p <= '9')) ? jr_int(r, &c->iat) : -1;
        if (rc == 0 && (c->iat < 1 || c->iat > ID_IAT_MAX))
            rc = -1;
    } else if (strcmp(name, "origid") == 0) {
        bit = ID_C_ORIGID;
        rc = jr_peek(r) == '"' ? jr_string(r, buf, sizeof buf, &len) : -1;
        if (rc == 0 && uuid_normalize(buf, len, c->origid) != STI_OK)
            rc = -1;
    } else {
        out->unknown = 1;
        return jr_skip(r);
    }
    *have |= bit;
    return rc;
}

static int id_claims_read(struct id_jr *r, struct id_claims *out)
{
    struct id_jobj o;
    char name[ID_NAME_MAX + 1];
    unsigned have = 0;
    int k;
    if (jr_peek(r) != '{' || jr_obj_begin(r, &o) != 0)
        return -1;
    while ((k = jr_obj_next(r, &o, name)) == 1) {
        /* jr_obj_next caps members at ID_MEMBERS_MAX, so m[] has room. */
        struct id_member *m = &out->m[out->nmembers++];
        /* Only the name and its NUL: m[] was zeroed, so the output bytes do
         * not depend on what the stack held past the terminator. */
        memcpy(m->name, name, strlen(name) + 1);
        m->is_str = jr_peek(r) == '"';
        m->off = r->off;
        if (id_claim_read(r, name, out, &have) != 0)
            return -1;
        m->len = r->off - m->off;
    }
    if (k != 0 || jr_end(r) != 0)
        return -1;
    return have == ID_C_ALL ? 0 : -1;
}

int id_claims_parse(const char *json, size_t n, struct id_claims *c)
{
    struct id_jr r;
    if (json == NULL || c == NULL)
        return STI_EINVAL;
    memset(c, 0, sizeof *c);
    jr_init(&r, json, n);
    if (id_claims_read(&r, c) != 0 || pp_claims_check(&c->c) != STI_OK) {
        memset(c, 0, sizeof *c);
        return STI_EVFY_CLAIMS;
    }
    return STI_OK;
}

int id_member_str(const char *json, size_t n, const struct id_member *m, char *out, size_t cap,
                  size_t *len)
{
    struct id_jr r;
    if (json == NULL || m == NULL || out == NULL || !m->is_str || m->off > n ||
        m->len > n - m->off)
        return STI_EINVAL;
    jr_init(&r, json + m->off, m->len);
    if (jr_string(&r, out, cap, len) != 0 || jr_end(&r) != 0)
        return STI_ETOOLONG;
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* Identity header */

static int id_is_b64u(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static int id_is_sws(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* RFC 3261 token characters. */
static int id_is_token(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr("-.!%*_+`'~", c) != NULL);
}

static int id_name_is(const char *s, size_t n, const char *want)
{
    if (n != strlen(want))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return 0;
    }
    return 1;
}

static int id_decode(const char *s, size_t n, struct id_buf *b)
{
    if (n == 0 || b->p == NULL)
        return -1;
    return b64u_decode(s, n, b->p, b->cap, &b->len) == STI_OK ? 0 : -1;
}

/* The parameters after the JWS, from in[i] to in[e]. */
static int id_params(const char *in, size_t i, size_t e, struct id_parts *p)
{
    int seen_info = 0;
    for (;;) {
        while (i < e && id_is_sws((unsigned char)in[i]))
            i++;
        if (i == e)
            break;
        if (in[i++] != ';')
            return -1;
        while (i < e && id_is_sws((unsigned char)in[i]))
            i++;
        size_t ns = i;
        while (i < e && id_is_token((unsigned char)in[i]))
            i++;
        size_t nl = i - ns;
        while (i < e && id_is_sws((unsigned char)in[i]))
            i++;
        if (nl == 0 || i == e || in[i++] != '=')
            return -1;
        while (i < e && id_is_sws((unsigned char)in[i]))
            i++;
        const char *name = in + ns;
        size_t vs = i, vl;
        if (id_name_is(name, nl, "info")) {
            if (seen_info || i == e || in[i] != '<')
                return -1;
            vs = ++i;
            while (i < e && in[i] != '>') {
                unsigned char c = (unsigned char)in[i];
                if (c <= 0x20 || c >= 0x7f || c == '<' || c == '"')
                    return -1;
                i++;
            }
            if (i == e || i == vs)
                return -1;
            p->info = in + vs;
            p->info_len = i - vs;
            i++; /* '>' */
            seen_info = 1;
        } else if (id_name_is(name, nl, "alg")) {
            while (i < e && id_is_token((unsigned char)in[i]))
                i++;
            if (p->alg != NULL || i == vs)
                return -1;
            p->alg = in + vs;
            p->alg_len = i - vs;
        } else if (id_name_is(name, nl, "ppt")) {
            if (p->ppt != NULL)
                return -1;
            if (i < e && in[i] == '"') {
                vs = ++i;
                while (i < e && in[i] != '"') {
                    unsigned char c = (unsigned char)in[i];
                    if (c < 0x20 || c >= 0x7f || c == '\\')
                        return -1;
                    i++;
                }
                if (i == e)
                    return -1;
                vl = i - vs;
                i++; /* closing quote */
            } else {
                while (i < e && id_is_token((unsigned char)in[i]))
                    i++;
                vl = i - vs;
            }
            if (vl == 0)
                return -1;
            p->ppt = in + vs;
            p->ppt_len = vl;
        } else {
            return -1; /* unknown parameter: refuse rather than ignore */
        }
    }
    return seen_info && p->ppt != NULL ? 0 : -1;
}

static int id_split(const char *in, size_t n, struct id_parts *p, struct id_buf *hdr,
                    struct id_buf *claims, struct id_buf *sig)
{
    size_t s = 0, e = n;
    while (s < e && (id_is_sws((unsigned char)in[s]) || in[s] == '\r' || in[s] == '\n'))
        s++;
    while (e > s && (id_is_sws((unsigned char)in[e - 1]) || in[e - 1] == '\r' || in[e - 1] == '\n'))
        e--;
    size_t dots[2], ndots = 0, j = s;
    for (; j < e && (id_is_b64u((unsigned char)in[j]) || in[j] == '.'); j++) {
        if (in[j] == '.') {
            if (ndots == 2)
                return -1;
            dots[ndots++] = j;
        }
    }
    if (ndots != 2)
        return -1;
    p->jws = in + s;
    p->jws_len = j - s;
    p->si_len = dots[1] - s;
    if (id_decode(in + s, dots[0] - s, hdr) != 0 ||
        id_decode(in + dots[0] + 1, dots[1] - dots[0] - 1, claims) != 0 ||
        id_decode(in + dots[1] + 1, j - dots[1] - 1, sig) != 0)
        return -1;
    if (j == e) {
        p->bare = 1;
        return 0;
    }
    return id_params(in, j, e, p);
}

int id_parse(const char *in, size_t n, struct id_parts *out, struct id_buf *hdr,
             struct id_buf *claims, struct id_buf *sig)
{
    if (in == NULL || out == NULL || hdr == NULL || claims == NULL || sig == NULL)
        return STI_EINVAL;
    memset(out, 0, sizeof *out);
    hdr->len = claims->len = sig->len = 0;
    if (n > ID_INPUT_MAX || id_split(in, n, out, hdr, claims, sig) != 0) {
        memset(out, 0, sizeof *out);
        hdr->len = claims->len = sig->len = 0;
        return STI_EVFY_FORMAT;
    }
    return STI_OK;
}
