/* scope.c — TNAuthList scope sets: validation, text form, containment. */
#include "scope.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sti_err.h"

/* 10^k for k = 0..15: a 15-digit TN is below 10^15, so every number and
 * every range end of this module fits a uint64_t with room to spare. */
static const uint64_t scope_pow10[TN_MAX + 1] = {
    UINT64_C(1),
    UINT64_C(10),
    UINT64_C(100),
    UINT64_C(1000),
    UINT64_C(10000),
    UINT64_C(100000),
    UINT64_C(1000000),
    UINT64_C(10000000),
    UINT64_C(100000000),
    UINT64_C(1000000000),
    UINT64_C(10000000000),
    UINT64_C(100000000000),
    UINT64_C(1000000000000),
    UINT64_C(10000000000000),
    UINT64_C(100000000000000),
    UINT64_C(1000000000000000),
};

/* Longest text token: "range:" + 15 digits + "/" + a count below 10^16. */
#define SCOPE_TOKEN_MAX 40

/* Numeric value and digit length of a TN made of digits only. Returns 0, or
 * -1 when tn is not 1..15 digits (e.g. it holds '#' or '*', which have no
 * place on the number line and only ever match themselves). */
static int scope_tn_value(const char *tn, size_t *len, uint64_t *val)
{
    uint64_t v = 0;
    size_t n = 0;
    for (; n < TN_BUF && tn[n] != '\0'; n++) {
        if (tn[n] < '0' || tn[n] > '9')
            return -1;
        v = v * 10 + (uint64_t)(tn[n] - '0');
    }
    if (n == 0 || n > TN_MAX)
        return -1;
    *len = n;
    *val = v;
    return 0;
}

/* Characters an SPC may hold: printable ASCII except space and ',', which
 * separate tokens in the text form and would not survive a round trip. */
static int scope_spc_char(char c)
{
    return c > 0x20 && c < 0x7f && c != ',';
}

/* Validate e and build its canonical copy: unused fields zeroed, so two
 * equal entries are equal byte for byte. */
static int scope_entry_clean(const struct scope_entry *e, struct scope_entry *out)
{
    const char *nul;
    size_t len = 0;
    uint64_t v = 0;

    memset(out, 0, sizeof *out);
    out->kind = e->kind;
    switch (e->kind) {
    case SCOPE_SPC:
        nul = memchr(e->spc, '\0', sizeof e->spc);
        if (nul == NULL || nul == e->spc)
            return STI_ESCOPE_SYNTAX;
        for (const char *p = e->spc; p < nul; p++)
            if (!scope_spc_char(*p))
                return STI_ESCOPE_SYNTAX;
        memcpy(out->spc, e->spc, (size_t)(nul - e->spc));
        return STI_OK;
    case SCOPE_ONE:
        nul = memchr(e->tn, '\0', sizeof e->tn);
        if (nul == NULL || tn_check(e->tn, (size_t)(nul - e->tn)) != STI_OK)
            return STI_ESCOPE_SYNTAX;
        memcpy(out->tn, e->tn, (size_t)(nul - e->tn));
        return STI_OK;
    case SCOPE_RANGE:
        if (scope_tn_value(e->tn, &len, &v) != 0)
            return STI_ESCOPE_SYNTAX;
        /* RFC 8226 count is 2..MAX; the range stays within numbers of the
         * start's digit length, so its last number is below 10^len. */
        if (e->count < 2 || e->count > scope_pow10[len] - v)
            return STI_ESCOPE_SYNTAX;
        memcpy(out->tn, e->tn, len);
        out->count = e->count;
        return STI_OK;
    default:
        return STI_ESCOPE_SYNTAX;
    }
}

void scope_init(struct scope *s)
{
    s->e = NULL;
    s->n = 0;
    s->cap = 0;
}

void scope_free(struct scope *s)
{
    if (s == NULL)
        return;
    free(s->e);
    scope_init(s);
}

int scope_add(struct scope *s, const struct scope_entry *e)
{
    struct scope_entry clean;
    if (s == NULL || e == NULL)
        return STI_EINVAL;
    int rc = scope_entry_clean(e, &clean);
    if (rc != STI_OK)
        return rc;
    if (s->n == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 8;
        if (ncap < s->cap || ncap > SIZE_MAX / sizeof *s->e)
            return STI_ENOMEM;
        struct scope_entry *ne = realloc(s->e, ncap * sizeof *ne);
        if (ne == NULL)
            return STI_ENOMEM;
        s->e = ne;
        s->cap = ncap;
    }
    s->e[s->n++] = clean;
    return STI_OK;
}

int scope_copy(struct scope *dst, const struct scope *src)
{
    if (dst == NULL || src == NULL)
        return STI_EINVAL;
    if (dst == src)
        return STI_OK;
    struct scope_entry *ne = NULL;
    if (src->n > 0) {
        if (src->n > SIZE_MAX / sizeof *ne)
            return STI_ENOMEM;
        ne = malloc(src->n * sizeof *ne);
        if (ne == NULL)
            return STI_ENOMEM;
        memcpy(ne, src->e, src->n * sizeof *ne);
    }
    /* Replace dst only once the copy exists, so failure leaves it intact. */
    free(dst->e);
    dst->e = ne;
    dst->n = src->n;
    dst->cap = src->n;
    return STI_OK;
}

/* Case-insensitive match of a lowercase ASCII prefix. */
static int scope_prefix(const char *s, size_t n, const char *pfx)
{
    size_t k = strlen(pfx);
    if (n < k)
        return 0;
    for (size_t i = 0; i < k; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != pfx[i])
            return 0;
    }
    return 1;
}

/* Decimal count: 1..16 digits, no leading zero (one spelling per value). */
static int scope_count_parse(const char *s, size_t n, uint64_t *out)
{
    if (n == 0 || n > 16 || s[0] == '0')
        return STI_ESCOPE_SYNTAX;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return STI_ESCOPE_SYNTAX;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    *out = v;
    return STI_OK;
}

static int scope_token_parse(const char *t, size_t n, struct scope_entry *e)
{
    struct scope_entry raw;
    memset(&raw, 0, sizeof raw);
    if (n > SCOPE_TOKEN_MAX || memchr(t, '\0', n) != NULL)
        return STI_ESCOPE_SYNTAX;

    if (scope_prefix(t, n, "spc:")) {
        size_t k = n - 4;
        if (k == 0 || k > SCOPE_SPC_MAX)
            return STI_ESCOPE_SYNTAX;
        raw.kind = SCOPE_SPC;
        memcpy(raw.spc, t + 4, k);
    } else if (scope_prefix(t, n, "tn:")) {
        size_t k = n - 3;
        if (k == 0 || k > TN_MAX)
            return STI_ESCOPE_SYNTAX;
        raw.kind = SCOPE_ONE;
        memcpy(raw.tn, t + 3, k);
    } else if (scope_prefix(t, n, "range:")) {
        const char *body = t + 6;
        size_t k = n - 6;
        const char *slash = memchr(body, '/', k);
        if (slash == NULL)
            return STI_ESCOPE_SYNTAX;
        size_t slen = (size_t)(slash - body);
        if (slen == 0 || slen > TN_MAX)
            return STI_ESCOPE_SYNTAX;
        raw.kind = SCOPE_RANGE;
        memcpy(raw.tn, body, slen);
        int rc = scope_count_parse(slash + 1, k - slen - 1, &raw.count);
        if (rc != STI_OK)
            return rc;
    } else {
        return STI_ESCOPE_SYNTAX;
    }
    return scope_entry_clean(&raw, e);
}

int scope_entry_parse(const char *text, struct scope_entry *e)
{
    struct scope_entry tmp;
    if (text == NULL || e == NULL)
        return STI_EINVAL;
    /* Bounded length: anything longer than a token is rejected anyway. */
    const char *nul = memchr(text, '\0', SCOPE_TOKEN_MAX + 2);
    if (nul == NULL)
        return STI_ESCOPE_SYNTAX;
    int rc = scope_token_parse(text, (size_t)(nul - text), &tmp);
    if (rc == STI_OK)
        *e = tmp;
    return rc;
}

int scope_entry_format(const struct scope_entry *e, char *out, size_t cap)
{
    struct scope_entry c;
    int n;
    if (e == NULL || out == NULL)
        return STI_EINVAL;
    /* Never print an entry scope_add would refuse: the text must parse. */
    if (scope_entry_clean(e, &c) != STI_OK)
        return STI_EINVAL;
    if (cap == 0)
        return STI_ETOOLONG;
    switch (c.kind) {
    case SCOPE_SPC:
        n = snprintf(out, cap, "spc:%s", c.spc);
        break;
    case SCOPE_ONE:
        n = snprintf(out, cap, "tn:%s", c.tn);
        break;
    default:
        n = snprintf(out, cap, "range:%s/%" PRIu64, c.tn, c.count);
        break;
    }
    if (n < 0)
        return STI_EINTERNAL;
    return (size_t)n < cap ? STI_OK : STI_ETOOLONG;
}

static int scope_is_sep(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == ',';
}

int scope_parse_list(const char *text, struct scope *s)
{
    if (text == NULL || s == NULL)
        return STI_EINVAL;
    size_t n0 = s->n;
    int rc = STI_OK;
    const char *p = text;
    while (*p != '\0') {
        if (scope_is_sep(*p)) {
            p++;
            continue;
        }
        const char *t = p;
        while (*p != '\0' && !scope_is_sep(*p))
            p++;
        struct scope_entry e;
        STI_TRY(scope_token_parse(t, (size_t)(p - t), &e));
        STI_TRY(scope_add(s, &e));
    }
out:
    /* All or nothing: a list with one bad token adds no entries. */
    if (rc != STI_OK)
        s->n = n0;
    return rc;
}

int scope_format(const struct scope *s, char *out, size_t cap)
{
    char tok[SCOPE_TOKEN_MAX + 1];
    if (s == NULL || out == NULL)
        return STI_EINVAL;
    if (cap == 0)
        return STI_ETOOLONG;
    size_t off = 0;
    out[0] = '\0';
    for (size_t i = 0; i < s->n; i++) {
        int rc = scope_entry_format(&s->e[i], tok, sizeof tok);
        if (rc != STI_OK)
            return rc;
        size_t k = strlen(tok);
        size_t need = k + (i > 0 ? 1 : 0);
        if (cap - 1 - off < need) {
            out[off] = '\0';
            return STI_ETOOLONG;
        }
        if (i > 0)
            out[off++] = ' ';
        memcpy(out + off, tok, k);
        off += k;
        out[off] = '\0';
    }
    return STI_OK;
}

/* 1 when a (validated) range entry holds the number val of length len. */
static int scope_range_holds(const struct scope_entry *e, size_t len, uint64_t val)
{
    size_t slen = 0;
    uint64_t start = 0;
    if (scope_tn_value(e->tn, &slen, &start) != 0 || slen != len)
        return 0;
    return val >= start && val - start < e->count;
}

int scope_covers_tn(const struct scope *s, const char *tn)
{
    if (s == NULL || tn == NULL)
        return 0;
    const char *nul = memchr(tn, '\0', TN_BUF);
    if (nul == NULL || tn_check(tn, (size_t)(nul - tn)) != STI_OK)
        return 0;
    size_t len = 0;
    uint64_t val = 0;
    int numeric = scope_tn_value(tn, &len, &val) == 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct scope_entry *e = &s->e[i];
        if (e->kind == SCOPE_ONE && strcmp(e->tn, tn) == 0)
            return 1;
        if (numeric && e->kind == SCOPE_RANGE && scope_range_holds(e, len, val))
            return 1;
    }
    return 0;
}

int scope_has_spc(const struct scope *s, const char *spc)
{
    if (s == NULL || spc == NULL)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].kind == SCOPE_SPC && strcmp(s->e[i].spc, spc) == 0)
            return 1;
    return 0;
}

int scope_spc_only(const struct scope *s)
{
    /* An empty scope is not "SPC-only": under SCOPE_SPC_ALLOW that would
     * let a scope holding nothing cover every TN. */
    if (s == NULL || s->n == 0)
        return 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].kind != SCOPE_SPC)
            return 0;
    return 1;
}

/* A closed interval [lo, hi] of numbers with len digits. */
struct scope_iv {
    uint64_t lo;
    uint64_t hi;
    size_t len;
};

static int scope_iv_cmp(const void *a, const void *b)
{
    const struct scope_iv *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return 0;
}

/* The parent's numeric TN entries as sorted, merged intervals: after this,
 * intervals of one length are disjoint and never adjacent, so a child range
 * covered by several touching parent entries is covered by one interval. */
static int scope_iv_build(const struct scope *parent, struct scope_iv **out, size_t *nout)
{
    struct scope_iv *iv = NULL;
    size_t n = 0;
    *out = NULL;
    *nout = 0;
    if (parent->n == 0)
        return STI_OK;
    if (parent->n > SIZE_MAX / sizeof *iv)
        return STI_ENOMEM;
    iv = malloc(parent->n * sizeof *iv);
    if (iv == NULL)
        return STI_ENOMEM;
    for (size_t i = 0; i < parent->n; i++) {
        const struct scope_entry *e = &parent->e[i];
        size_t len = 0;
        uint64_t v = 0;
        if (e->kind == SCOPE_SPC || scope_tn_value(e->tn, &len, &v) != 0)
            continue;
        uint64_t last = v;
        if (e->kind == SCOPE_RANGE) {
            /* Skip malformed ranges rather than trust their arithmetic. */
            if (e->count < 2 || e->count > scope_pow10[len] - v)
                continue;
            last = v + e->count - 1;
        }
        iv[n].lo = v;
        iv[n].hi = last;
        iv[n].len = len;
        n++;
    }
    if (n > 1)
        qsort(iv, n, sizeof *iv, scope_iv_cmp);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && iv[m - 1].len == iv[i].len && iv[i].lo <= iv[m - 1].hi + 1) {
            if (iv[i].hi > iv[m - 1].hi)
                iv[m - 1].hi = iv[i].hi;
        } else {
            iv[m++] = iv[i];
        }
    }
    *out = iv;
    *nout = m;
    return STI_OK;
}

/* Append the numbers [lo, hi] of length len to outside as one entry. */
static int scope_report_gap(struct scope *outside, size_t len, uint64_t lo, uint64_t hi)
{
    struct scope_entry e;
    if (outside == NULL)
        return STI_OK;
    memset(&e, 0, sizeof e);
    e.kind = lo == hi ? SCOPE_ONE : SCOPE_RANGE;
    e.count = lo == hi ? 0 : hi - lo + 1;
    /* Zero-padded to len digits: leading zeros are part of the number. */
    uint64_t v = lo;
    for (size_t i = len; i > 0; i--) {
        e.tn[i - 1] = (char)('0' + (v % 10));
        v /= 10;
    }
    return scope_add(outside, &e);
}

/* Walk [lo, hi] against the merged intervals and report every gap. Sets
 * *missed when any number is uncovered. */
static int scope_iv_cover(const struct scope_iv *iv, size_t niv, size_t len, uint64_t lo,
                          uint64_t hi, struct scope *outside, int *missed)
{
    /* First interval that is of a longer length, or of this length and not
     * wholly before lo; intervals are ordered so this is a binary search. */
    size_t a = 0, b = niv;
    while (a < b) {
        size_t mid = a + (b - a) / 2;
        if (iv[mid].len < len || (iv[mid].len == len && iv[mid].hi < lo))
            a = mid + 1;
        else
            b = mid;
    }
    uint64_t x = lo;
    size_t i = a;
    for (;;) {
        if (i < niv && iv[i].len == len && iv[i].lo <= x) {
            if (iv[i].hi >= hi)
                return STI_OK;
            x = iv[i].hi + 1;
            i++;
            continue;
        }
        uint64_t gap_end = hi;
        if (i < niv && iv[i].len == len && iv[i].lo <= hi)
            gap_end = iv[i].lo - 1;
        *missed = 1;
        int rc = scope_report_gap(outside, len, x, gap_end);
        if (rc != STI_OK || gap_end == hi)
            return rc;
        x = gap_end + 1;
    }
}

static int scope_has_one(const struct scope *s, const char *tn)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->e[i].kind == SCOPE_ONE && strcmp(s->e[i].tn, tn) == 0)
            return 1;
    return 0;
}

int scope_contains(const struct scope *parent, const struct scope *child,
                   enum scope_spc_policy policy, struct scope *outside)
{
    int rc = STI_OK;
    struct scope_iv *iv = NULL;
    size_t niv = 0;
    int missed = 0;

    if (parent == NULL || child == NULL)
        return STI_EINVAL;
    /* outside grows while we read parent and child: it must be distinct. */
    if (outside == parent || outside == child)
        return STI_EINVAL;
    if (child->n == 0)
        return STI_OK;

    int spc_covers_tns = policy == SCOPE_SPC_ALLOW && scope_spc_only(parent);
    if (!spc_covers_tns)
        STI_TRY(scope_iv_build(parent, &iv, &niv));

    for (size_t i = 0; i < child->n; i++) {
        const struct scope_entry *e = &child->e[i];
        size_t len = 0;
        uint64_t v = 0;
        if (e->kind == SCOPE_SPC) {
            /* An SPC is only ever covered by the same SPC. */
            if (!scope_has_spc(parent, e->spc)) {
                missed = 1;
                if (outside != NULL)
                    STI_TRY(scope_add(outside, e));
            }
            continue;
        }
        if (spc_covers_tns)
            continue;
        if (scope_tn_value(e->tn, &len, &v) != 0 ||
            (e->kind == SCOPE_RANGE && (e->count < 2 || e->count > scope_pow10[len] - v))) {
            /* '#'/'*' TNs are not on the number line: identical single
             * entries only. Anything malformed is simply not covered. */
            if (e->kind == SCOPE_ONE && scope_has_one(parent, e->tn))
                continue;
            missed = 1;
            if (outside != NULL)
                STI_TRY(scope_add(outside, e));
            continue;
        }
        uint64_t last = e->kind == SCOPE_RANGE ? v + e->count - 1 : v;
        STI_TRY(scope_iv_cover(iv, niv, len, v, last, outside, &missed));
    }
    rc = missed ? STI_ESCOPE_OUTSIDE : STI_OK;
out:
    free(iv);
    return rc;
}
