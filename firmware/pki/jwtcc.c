/*
 * jwtcc.c — JWTClaimConstraints (RFC 8226 §8, OID 1.3.6.1.5.5.7.1.27) and
 * EnhancedJWTClaimConstraints (RFC 9118, OID 1.3.6.1.5.5.7.1.33) as
 * OpenSSL ASN.1 templates, and the check of a PASSporT's claims against them.
 *
 *   JWTClaimConstraints ::= SEQUENCE {
 *     mustInclude     [0] JWTClaimNames OPTIONAL,
 *     permittedValues [1] JWTClaimPermittedValuesList OPTIONAL }
 *   EnhancedJWTClaimConstraints ::= SEQUENCE {
 *     mustInclude     [0] JWTClaimNames OPTIONAL,
 *     permittedValues [1] JWTClaimValuesList OPTIONAL,
 *     mustExclude     [2] JWTClaimNames OPTIONAL }
 *   JWTClaimNames ::= SEQUENCE SIZE (1..MAX) OF IA5String
 *   JWTClaimValues ::= SEQUENCE { claim IA5String,
 *                                 values SEQUENCE SIZE (1..MAX) OF UTF8String }
 * Both modules use EXPLICIT tags; at least one component must be present.
 *
 * A permitted value matches a string claim when it equals the decoded
 * string, and any other claim when it equals the claim's JSON text as sent.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/asn1t.h>
#include <openssl/objects.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "sti_err.h"
#include "verify.h"

/* Longest decoded string claim value compared against permittedValues. */
#define JWTCC_VALUE_MAX 1024

typedef struct pki_jwtpv_st {
    ASN1_IA5STRING *claim;
    STACK_OF(ASN1_UTF8STRING) *values;
} PKI_JWTPV;

DEFINE_STACK_OF(PKI_JWTPV)

/* One struct for both extensions; must_exclude stays NULL for the RFC 8226
 * form. The name lists hold IA5Strings (the template decides the tag). */
typedef struct pki_jwtcc_st {
    STACK_OF(ASN1_UTF8STRING) *must_include;
    STACK_OF(PKI_JWTPV) *permitted;
    STACK_OF(ASN1_UTF8STRING) *must_exclude;
} PKI_JWTCC;
typedef PKI_JWTCC PKI_EJWTCC;

static const ASN1_ITEM *PKI_JWTPV_it(void);
static const ASN1_ITEM *PKI_JWTCC_it(void);
static const ASN1_ITEM *PKI_EJWTCC_it(void);

ASN1_SEQUENCE(PKI_JWTPV) = {
    ASN1_SIMPLE(PKI_JWTPV, claim, ASN1_IA5STRING),
    ASN1_SEQUENCE_OF(PKI_JWTPV, values, ASN1_UTF8STRING),
} static_ASN1_SEQUENCE_END(PKI_JWTPV)

ASN1_SEQUENCE(PKI_JWTCC) = {
    ASN1_EXP_SEQUENCE_OF_OPT(PKI_JWTCC, must_include, ASN1_IA5STRING, 0),
    ASN1_EXP_SEQUENCE_OF_OPT(PKI_JWTCC, permitted, PKI_JWTPV, 1),
} static_ASN1_SEQUENCE_END(PKI_JWTCC)

ASN1_SEQUENCE(PKI_EJWTCC) = {
    ASN1_EXP_SEQUENCE_OF_OPT(PKI_EJWTCC, must_include, ASN1_IA5STRING, 0),
    ASN1_EXP_SEQUENCE_OF_OPT(PKI_EJWTCC, permitted, PKI_JWTPV, 1),
    ASN1_EXP_SEQUENCE_OF_OPT(PKI_EJWTCC, must_exclude, ASN1_IA5STRING, 2),
} static_ASN1_SEQUENCE_END(PKI_EJWTCC)

/* ------------------------------------------------------------------ */

/* Strict DER: decodes, then requires the re-encoding to be the very same
 * bytes (so no BER, no trailing data), and every list to be non-empty. */
static PKI_JWTCC *jwtcc_decode(const ASN1_OCTET_STRING *os, const ASN1_ITEM *it)
{
    const unsigned char *p = ASN1_STRING_get0_data(os);
    long n = ASN1_STRING_length(os);
    unsigned char *re = NULL;
    PKI_JWTCC *cc = (PKI_JWTCC *)ASN1_item_d2i(NULL, &p, n, it);
    if (cc == NULL)
        return NULL;
    int rn = ASN1_item_i2d((ASN1_VALUE *)cc, &re, it);
    int ok = rn == n && memcmp(re, ASN1_STRING_get0_data(os), (size_t)n) == 0;
    OPENSSL_free(re);
    ok = ok && (cc->must_include || cc->permitted || cc->must_exclude);
    ok = ok && (!cc->must_include || sk_ASN1_UTF8STRING_num(cc->must_include) > 0);
    ok = ok && (!cc->must_exclude || sk_ASN1_UTF8STRING_num(cc->must_exclude) > 0);
    ok = ok && (!cc->permitted || sk_PKI_JWTPV_num(cc->permitted) > 0);
    for (int i = 0; ok && cc->permitted && i < sk_PKI_JWTPV_num(cc->permitted); i++) {
        const PKI_JWTPV *pv = sk_PKI_JWTPV_value(cc->permitted, i);
        ok = sk_ASN1_UTF8STRING_num(pv->values) > 0;
    }
    if (!ok) {
        ASN1_item_free((ASN1_VALUE *)cc, it);
        return NULL;
    }
    return cc;
}

static const struct id_member *jwtcc_member(const struct id_claims *c, const ASN1_STRING *name)
{
    size_t n = (size_t)ASN1_STRING_length(name);
    const unsigned char *s = ASN1_STRING_get0_data(name);
    for (unsigned i = 0; i < c->nmembers; i++)
        if (strlen(c->m[i].name) == n && memcmp(c->m[i].name, s, n) == 0)
            return &c->m[i];
    return NULL;
}

/* Printable copy of an ASN.1 string for the detail text. */
static void jwtcc_name(const ASN1_STRING *s, char *out, size_t cap)
{
    int n = ASN1_STRING_length(s);
    const unsigned char *p = ASN1_STRING_get0_data(s);
    size_t k = 0;
    for (int i = 0; i < n && k + 1 < cap; i++)
        out[k++] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
    out[k] = '\0';
}

static int jwtcc_value_ok(const PKI_JWTPV *pv, const struct id_member *m, const char *json,
                          size_t n)
{
    char val[JWTCC_VALUE_MAX];
    const char *v;
    size_t vlen;
    if (m->is_str) {
        if (id_member_str(json, n, m, val, sizeof val, &vlen) != STI_OK)
            return 0;
        v = val;
    } else {
        v = json + m->off;
        vlen = m->len;
    }
    for (int i = 0; i < sk_ASN1_UTF8STRING_num(pv->values); i++) {
        const ASN1_UTF8STRING *p = sk_ASN1_UTF8STRING_value(pv->values, i);
        if ((size_t)ASN1_STRING_length(p) == vlen && memcmp(ASN1_STRING_get0_data(p), v, vlen) == 0)
            return 1;
    }
    return 0;
}

static int jwtcc_apply(const PKI_JWTCC *cc, const char *what, const char *json, size_t n,
                       const struct id_claims *c, char *detail, size_t dcap)
{
    char name[ID_NAME_MAX + 1];
    for (int i = 0; cc->must_include && i < sk_ASN1_UTF8STRING_num(cc->must_include); i++) {
        const ASN1_STRING *s = sk_ASN1_UTF8STRING_value(cc->must_include, i);
        if (jwtcc_member(c, s) == NULL) {
            jwtcc_name(s, name, sizeof name);
            snprintf(detail, dcap, "%s mustInclude \"%s\" missing", what, name);
            return STI_EVFY_CONSTRAINT;
        }
    }
    for (int i = 0; cc->permitted && i < sk_PKI_JWTPV_num(cc->permitted); i++) {
        const PKI_JWTPV *pv = sk_PKI_JWTPV_value(cc->permitted, i);
        const struct id_member *m = jwtcc_member(c, pv->claim);
        if (m != NULL && !jwtcc_value_ok(pv, m, json, n)) {
            jwtcc_name(pv->claim, name, sizeof name);
            snprintf(detail, dcap, "%s permittedValues: \"%s\" has a value not permitted", what,
                     name);
            return STI_EVFY_CONSTRAINT;
        }
    }
    for (int i = 0; cc->must_exclude && i < sk_ASN1_UTF8STRING_num(cc->must_exclude); i++) {
        const ASN1_STRING *s = sk_ASN1_UTF8STRING_value(cc->must_exclude, i);
        if (jwtcc_member(c, s) != NULL) {
            jwtcc_name(s, name, sizeof name);
            snprintf(detail, dcap, "%s mustExclude \"%s\" present", what, name);
            return STI_EVFY_CONSTRAINT;
        }
    }
    return STI_OK;
}

static int jwtcc_one(X509 *cert, const char *oid, const ASN1_ITEM *it, const char *what,
                     const char *json, size_t n, const struct id_claims *c, char *detail,
                     size_t dcap)
{
    ASN1_OBJECT *obj = OBJ_txt2obj(oid, 1);
    PKI_JWTCC *cc = NULL;
    int rc = STI_OK;
    if (obj == NULL)
        return STI_ENOMEM;
    int idx = X509_get_ext_by_OBJ(cert, obj, -1);
    if (idx < 0)
        goto out;
    if (X509_get_ext_by_OBJ(cert, obj, idx) >= 0) {
        snprintf(detail, dcap, "%s present twice", what);
        rc = STI_EVFY_CONSTRAINT;
        goto out;
    }
    cc = jwtcc_decode(X509_EXTENSION_get_data(X509_get_ext(cert, idx)), it);
    if (cc == NULL) {
        snprintf(detail, dcap, "%s malformed", what);
        rc = STI_EVFY_CONSTRAINT;
        goto out;
    }
    rc = jwtcc_apply(cc, what, json, n, c, detail, dcap);
out:
    if (cc != NULL)
        ASN1_item_free((ASN1_VALUE *)cc, it);
    ASN1_OBJECT_free(obj);
    return rc;
}

int pki_jwtcc_check(X509 *cert, const char *claims_json, size_t n, const struct id_claims *c,
                    char *detail, size_t dcap)
{
    if (cert == NULL || claims_json == NULL || c == NULL || detail == NULL || dcap == 0)
        return STI_EINVAL;
    int rc = jwtcc_one(cert, PKI_OID_JWTCLAIMCONSTRAINTS, ASN1_ITEM_rptr(PKI_JWTCC),
                       "JWTClaimConstraints", claims_json, n, c, detail, dcap);
    if (rc == STI_OK)
        rc = jwtcc_one(cert, PKI_OID_ENHANCEDJWTCC, ASN1_ITEM_rptr(PKI_EJWTCC),
                       "EnhancedJWTClaimConstraints", claims_json, n, c, detail, dcap);
    return rc;
}
