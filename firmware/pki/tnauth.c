/*
 * tnauth.c — the TNAuthList extension (RFC 8226 section 9) as OpenSSL ASN.1
 * templates, and the strict DER codec between it and struct scope.
 *
 *   TNAuthorizationList ::= SEQUENCE SIZE (1..MAX) OF TNEntry
 *   TNEntry ::= CHOICE {
 *     spc   [0] EXPLICIT ServiceProviderCode,    -- IA5String
 *     range [1] EXPLICIT TelephoneNumberRange,   -- SEQUENCE { start, count }
 *     one   [2] EXPLICIT TelephoneNumber }       -- IA5String
 *
 * The RFC's module is DEFINITIONS EXPLICIT TAGS. Some parsers in the field
 * assume IMPLICIT; we emit EXPLICIT and refuse anything else on read.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/safestack.h>

#include "pki.h"
#include "sti_err.h"

/* RFC 8226 leaves count unbounded above; no range can cover more numbers
 * than exist at 15 digits, so anything larger is a malformed extension. */
#define TNAUTH_COUNT_MAX 1000000000000000ULL /* 10^15 */

/* ------------------------------------------------------------------ */
/* ASN.1 templates (file-local: nothing outside pki needs these types) */

typedef struct pki_tnrange_st {
    ASN1_IA5STRING *start;
    ASN1_INTEGER *count;
} PKI_TNRANGE;

typedef struct pki_tnentry_st {
    int type; /* TNENTRY_SPC / TNENTRY_RANGE / TNENTRY_ONE: the CHOICE index */
    union {
        ASN1_IA5STRING *spc;
        PKI_TNRANGE *range;
        ASN1_IA5STRING *one;
    } d;
} PKI_TNENTRY;

enum { TNENTRY_SPC = 0, TNENTRY_RANGE = 1, TNENTRY_ONE = 2 };

DEFINE_STACK_OF(PKI_TNENTRY)
typedef STACK_OF(PKI_TNENTRY) PKI_TNAUTHLIST;

/* Static items: forward declarations so the templates can refer to them. */
static const ASN1_ITEM *PKI_TNRANGE_it(void);
static const ASN1_ITEM *PKI_TNENTRY_it(void);
static const ASN1_ITEM *PKI_TNAUTHLIST_it(void);

ASN1_SEQUENCE(PKI_TNRANGE) = {
    ASN1_SIMPLE(PKI_TNRANGE, start, ASN1_IA5STRING),
    ASN1_SIMPLE(PKI_TNRANGE, count, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(PKI_TNRANGE)

ASN1_CHOICE(PKI_TNENTRY) = {
    ASN1_EXP(PKI_TNENTRY, d.spc, ASN1_IA5STRING, 0),
    ASN1_EXP(PKI_TNENTRY, d.range, PKI_TNRANGE, 1),
    ASN1_EXP(PKI_TNENTRY, d.one, ASN1_IA5STRING, 2),
} static_ASN1_CHOICE_END(PKI_TNENTRY)

ASN1_ITEM_TEMPLATE(PKI_TNAUTHLIST) =
    ASN1_EX_TEMPLATE_TYPE(ASN1_TFLG_SEQUENCE_OF, 0, TNAuthorizationList, PKI_TNENTRY)
static_ASN1_ITEM_TEMPLATE_END(PKI_TNAUTHLIST)

IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(PKI_TNENTRY)
IMPLEMENT_STATIC_ASN1_ALLOC_FUNCTIONS(PKI_TNAUTHLIST)
IMPLEMENT_STATIC_ASN1_ENCODE_FUNCTIONS(PKI_TNAUTHLIST)

/* ------------------------------------------------------------------ */
/* Entry syntax, shared by both directions so that encode never emits what
 * decode would refuse. */

static int tnauth_tn_char(unsigned char c, int digits_only)
{
    if (c >= '0' && c <= '9')
        return 1;
    return !digits_only && (c == '#' || c == '*');
}

/* 1..15 of 0-9#*; a range start is digits only, since it is counted from. */
static int tnauth_tn_ok(const unsigned char *p, size_t n, int digits_only)
{
    if (n < 1 || n > TN_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!tnauth_tn_char(p[i], digits_only))
            return 0;
    return 1;
}

/* 1..32 printable ASCII (IA5 without controls, so no embedded NUL). */
static int tnauth_spc_ok(const unsigned char *p, size_t n)
{
    if (n < 1 || n > SCOPE_SPC_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (p[i] < 0x20 || p[i] > 0x7e)
            return 0;
    return 1;
}

static int tnauth_entry_ok(const struct scope_entry *e)
{
    switch (e->kind) {
    case SCOPE_SPC:
        return tnauth_spc_ok((const unsigned char *)e->spc, strnlen(e->spc, sizeof e->spc));
    case SCOPE_ONE:
        return tnauth_tn_ok((const unsigned char *)e->tn, strnlen(e->tn, sizeof e->tn), 0);
    case SCOPE_RANGE:
        return tnauth_tn_ok((const unsigned char *)e->tn, strnlen(e->tn, sizeof e->tn), 1) &&
               e->count >= 2 && e->count <= TNAUTH_COUNT_MAX;
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ */
/* Decode */

/* Copies an IA5String into dst (cap bytes incl. NUL) after the syntax check. */
static int tnauth_take_string(const ASN1_IA5STRING *s, int is_spc, int digits_only, char *dst,
                              size_t cap)
{
    const unsigned char *p = ASN1_STRING_get0_data(s);
    int len = ASN1_STRING_length(s);
    if (p == NULL || len < 0 || (size_t)len >= cap)
        return STI_EPKI_TNAUTH;
    int ok = is_spc ? tnauth_spc_ok(p, (size_t)len) : tnauth_tn_ok(p, (size_t)len, digits_only);
    if (!ok)
        return STI_EPKI_TNAUTH;
    memcpy(dst, p, (size_t)len);
    dst[len] = '\0';
    return STI_OK;
}

static int tnauth_entry_from_asn1(const PKI_TNENTRY *a, struct scope_entry *e)
{
    memset(e, 0, sizeof *e);
    switch (a->type) {
    case TNENTRY_SPC:
        e->kind = SCOPE_SPC;
        return tnauth_take_string(a->d.spc, 1, 0, e->spc, sizeof e->spc);
    case TNENTRY_ONE:
        e->kind = SCOPE_ONE;
        return tnauth_take_string(a->d.one, 0, 0, e->tn, sizeof e->tn);
    case TNENTRY_RANGE: {
        uint64_t count;
        e->kind = SCOPE_RANGE;
        if (a->d.range == NULL)
            return STI_EPKI_TNAUTH;
        int rc = tnauth_take_string(a->d.range->start, 0, 1, e->tn, sizeof e->tn);
        if (rc != STI_OK)
            return rc;
        /* get_uint64 refuses negative values and anything over 64 bits. */
        if (ASN1_INTEGER_get_uint64(&count, a->d.range->count) != 1)
            return STI_EPKI_TNAUTH;
        if (count < 2 || count > TNAUTH_COUNT_MAX)
            return STI_EPKI_TNAUTH;
        e->count = count;
        return STI_OK;
    }
    default:
        return STI_EPKI_TNAUTH;
    }
}

int pki_tnauth_decode(const uint8_t *der, size_t n, struct scope *out)
{
    int rc = STI_EPKI_TNAUTH;
    PKI_TNAUTHLIST *list = NULL;
    unsigned char *again = NULL;
    struct scope tmp;

    scope_init(&tmp);
    if (out == NULL || (der == NULL && n != 0))
        return STI_EINVAL;
    STI_CHECK(n > 0 && n <= LONG_MAX, STI_EPKI_TNAUTH);

    const unsigned char *p = der;
    list = d2i_PKI_TNAUTHLIST(NULL, &p, (long)n);
    STI_CHECK(list != NULL, STI_EPKI_TNAUTH);
    STI_CHECK(p == der + n, STI_EPKI_TNAUTH); /* trailing bytes */

    /* DER is the only accepted form: OpenSSL's decoder tolerates BER
     * (indefinite or long-form lengths, non-minimal INTEGERs), so encode the
     * result again and insist on the very same bytes. */
    int len = i2d_PKI_TNAUTHLIST(list, &again);
    STI_CHECK(len > 0 && (size_t)len == n && memcmp(again, der, n) == 0, STI_EPKI_TNAUTH);

    int count = sk_PKI_TNENTRY_num(list);
    STI_CHECK(count >= 1, STI_EPKI_TNAUTH); /* SIZE (1..MAX) */
    for (int i = 0; i < count; i++) {
        struct scope_entry e;
        STI_TRY(tnauth_entry_from_asn1(sk_PKI_TNENTRY_value(list, i), &e));
        int arc = scope_add(&tmp, &e);
        STI_CHECK(arc != STI_ENOMEM, STI_ENOMEM);
        STI_CHECK(arc == STI_OK, STI_EPKI_TNAUTH);
    }

    /* Only a fully valid list reaches the caller's scope. */
    size_t n0 = out->n;
    for (size_t i = 0; i < tmp.n; i++) {
        int arc = scope_add(out, &tmp.e[i]);
        if (arc != STI_OK) {
            out->n = n0;
            rc = arc == STI_ENOMEM ? STI_ENOMEM : STI_EPKI_TNAUTH;
            goto out;
        }
    }
    rc = STI_OK;
out:
    OPENSSL_free(again);
    PKI_TNAUTHLIST_free(list);
    scope_free(&tmp);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Encode */

static ASN1_IA5STRING *tnauth_ia5(const char *s)
{
    ASN1_IA5STRING *a = ASN1_IA5STRING_new();
    if (a != NULL && !ASN1_STRING_set(a, s, (int)strlen(s))) {
        ASN1_IA5STRING_free(a);
        a = NULL;
    }
    return a;
}

/* Builds one CHOICE value; fields are attached to the entry as soon as they
 * exist so that freeing the entry releases everything. */
static PKI_TNENTRY *tnauth_entry_to_asn1(const struct scope_entry *e)
{
    PKI_TNENTRY *a = PKI_TNENTRY_new();
    if (a == NULL)
        return NULL;
    switch (e->kind) {
    case SCOPE_SPC:
        a->type = TNENTRY_SPC;
        if ((a->d.spc = tnauth_ia5(e->spc)) == NULL)
            goto fail;
        return a;
    case SCOPE_ONE:
        a->type = TNENTRY_ONE;
        if ((a->d.one = tnauth_ia5(e->tn)) == NULL)
            goto fail;
        return a;
    case SCOPE_RANGE:
        a->type = TNENTRY_RANGE;
        a->d.range = (PKI_TNRANGE *)ASN1_item_new(ASN1_ITEM_rptr(PKI_TNRANGE));
        if (a->d.range == NULL)
            goto fail;
        if (!ASN1_STRING_set(a->d.range->start, e->tn, (int)strlen(e->tn)))
            goto fail;
        if (!ASN1_INTEGER_set_uint64(a->d.range->count, e->count))
            goto fail;
        return a;
    default:
        break;
    }
fail:
    PKI_TNENTRY_free(a);
    return NULL;
}

int pki_tnauth_encode(const struct scope *s, uint8_t **der, size_t *n)
{
    int rc = STI_ENOMEM;
    PKI_TNAUTHLIST *list = NULL;
    uint8_t *buf = NULL;

    if (s == NULL || der == NULL || n == NULL || s->n == 0)
        return STI_EINVAL;
    for (size_t i = 0; i < s->n; i++)
        if (!tnauth_entry_ok(&s->e[i]))
            return STI_EPKI_TNAUTH;

    list = PKI_TNAUTHLIST_new();
    STI_CHECK(list != NULL, STI_ENOMEM);
    for (size_t i = 0; i < s->n; i++) {
        PKI_TNENTRY *a = tnauth_entry_to_asn1(&s->e[i]);
        STI_CHECK(a != NULL, STI_ENOMEM);
        if (sk_PKI_TNENTRY_push(list, a) <= 0) {
            PKI_TNENTRY_free(a);
            rc = STI_ENOMEM;
            goto out;
        }
    }

    /* Size first, then into plain malloc'd storage: the caller frees with
     * free(), which need not be OPENSSL_free. */
    int len = i2d_PKI_TNAUTHLIST(list, NULL);
    STI_CHECK(len > 0, STI_EINTERNAL);
    buf = malloc((size_t)len);
    STI_CHECK(buf != NULL, STI_ENOMEM);
    unsigned char *p = buf;
    STI_CHECK(i2d_PKI_TNAUTHLIST(list, &p) == len, STI_EINTERNAL);

    *der = buf;
    *n = (size_t)len;
    buf = NULL;
    rc = STI_OK;
out:
    free(buf);
    PKI_TNAUTHLIST_free(list);
    return rc;
}
