/*
 * verify.c — the STI-VS checks (see verify.h for the order). Nothing here
 * touches the network: the chain is given, or fetched by the verifier
 * process (firmware/vs/) that drives these checks in steps.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "identity.h"
#include "pki.h"
#include "scope.h"
#include "sti_err.h"
#include "verify.h"

/* ------------------------------------------------------------------ */
/* Result helpers */

static int vfy_fail(struct pki_vfy_result *r, const char *check, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int vfy_fail(struct pki_vfy_result *r, const char *check, int code, const char *fmt, ...)
{
    r->code = code;
    snprintf(r->check, sizeof r->check, "%s", check);
    r->detail[0] = '\0';
    if (fmt != NULL) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->detail, sizeof r->detail, fmt, ap);
        va_end(ap);
    }
    return code;
}

/* Copy of untrusted text made safe for a one-line message. */
static void vfy_printable(const char *s, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++)
        out[k++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) ? s[i] : '?';
    out[k] = '\0';
}

static void vfy_subject(X509 *x, char *out, size_t cap)
{
    BIO *b = BIO_new(BIO_s_mem());
    out[0] = '\0';
    if (b == NULL)
        return;
    if (X509_NAME_print_ex(b, X509_get_subject_name(x), 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(b, out, (int)cap - 1);
        out[n > 0 ? n : 0] = '\0';
    }
    BIO_free(b);
}

/* ------------------------------------------------------------------ */
/* ES256 */

static int vfy_es256(EVP_PKEY *key, const char *si, size_t n, const uint8_t *sig, size_t slen,
                     struct pki_vfy_result *r)
{
    EC_GROUP *g = NULL;
    BIGNUM *br = NULL, *bs = NULL;
    ECDSA_SIG *es = NULL;
    EVP_MD_CTX *mctx = NULL;
    unsigned char *der = NULL;
    int rc;

    if (slen != 64)
        return vfy_fail(r, "signature", STI_EVFY_SIG,
                        "signature is %zu bytes, ES256 needs exactly 64 (raw r||s)", slen);
    g = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1);
    br = BN_bin2bn(sig, 32, NULL);
    bs = BN_bin2bn(sig + 32, 32, NULL);
    es = ECDSA_SIG_new();
    mctx = EVP_MD_CTX_new();
    if (g == NULL || br == NULL || bs == NULL || es == NULL || mctx == NULL) {
        rc = vfy_fail(r, "signature", STI_ENOMEM, NULL);
        goto out;
    }
    const BIGNUM *order = EC_GROUP_get0_order(g);
    if (BN_is_zero(br) || BN_cmp(br, order) >= 0 || BN_is_zero(bs) || BN_cmp(bs, order) >= 0) {
        rc = vfy_fail(r, "signature", STI_EVFY_SIG, "r or s outside [1, n-1]");
        goto out;
    }
    if (!ECDSA_SIG_set0(es, br, bs)) {
        rc = vfy_fail(r, "signature", STI_ENOMEM, NULL);
        goto out;
    }
    br = bs = NULL;
    int dl = i2d_ECDSA_SIG(es, &der);
    ERR_set_mark();
    int ok = dl > 0 && EVP_DigestVerifyInit(mctx, NULL, EVP_sha256(), NULL, key) == 1 &&
             EVP_DigestVerify(mctx, der, (size_t)dl, (const unsigned char *)si, n) == 1;
    ERR_pop_to_mark();
    rc = ok ? STI_OK
            : vfy_fail(r, "signature", STI_EVFY_SIG,
                       "ES256 signature does not verify "
                       "with the leaf key");
out:
    OPENSSL_free(der);
    EVP_MD_CTX_free(mctx);
    ECDSA_SIG_free(es);
    BN_free(br);
    BN_free(bs);
    EC_GROUP_free(g);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Chain, scope, constraints */

static int vfy_chain(const struct pki_vfy_opts *o, STACK_OF(X509) * chain, struct pki_vfy_result *r,
                     STACK_OF(X509) * *verified)
{
    X509_STORE *store = NULL;
    X509_STORE_CTX *ctx = NULL;
    STACK_OF(X509) *untrusted = NULL;
    X509 *leaf = sk_X509_value(chain, 0);
    int rc;

    ERR_set_mark();
    store = X509_STORE_new();
    ctx = X509_STORE_CTX_new();
    untrusted = sk_X509_new_null();
    if (store == NULL || ctx == NULL || untrusted == NULL) {
        rc = vfy_fail(r, "chain", STI_ENOMEM, NULL);
        goto out;
    }
    if (o->anchors != NULL) {
        X509_STORE_free(store);
        store = o->anchors;
        X509_STORE_up_ref(store);
    } else if (o->trust_anchor_file == NULL ||
               X509_STORE_load_file(store, o->trust_anchor_file) != 1) {
        rc = vfy_fail(r, "chain", STI_EIO, "cannot load trust anchor %s",
                      o->trust_anchor_file ? o->trust_anchor_file : "(none)");
        goto out;
    }
    for (int i = 1; i < sk_X509_num(chain); i++)
        if (!sk_X509_push(untrusted, sk_X509_value(chain, i))) {
            rc = vfy_fail(r, "chain", STI_ENOMEM, NULL);
            goto out;
        }
    if (!X509_STORE_CTX_init(ctx, store, leaf, untrusted)) {
        rc = vfy_fail(r, "chain", STI_ENOMEM, NULL);
        goto out;
    }
    X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx), o->now);
    X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx), X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx) != 1) {
        int e = X509_STORE_CTX_get_error(ctx), d = X509_STORE_CTX_get_error_depth(ctx);
        int code = e == X509_V_ERR_CERT_HAS_EXPIRED     ? STI_EPKI_EXPIRED
                   : e == X509_V_ERR_CERT_NOT_YET_VALID ? STI_EPKI_NOTYET
                                                        : STI_EVFY_CHAIN;
        rc = vfy_fail(r, "chain", code, "certificate %d: %s", d, X509_verify_cert_error_string(e));
        goto out;
    }
    /* Only end-entity certificates sign PASSporTs. */
    if (X509_check_ca(leaf) != 0) {
        rc = vfy_fail(r, "chain", STI_EVFY_CHAIN, "the signing certificate is a CA");
        goto out;
    }
    *verified = X509_STORE_CTX_get1_chain(ctx);
    rc = *verified ? STI_OK : vfy_fail(r, "chain", STI_ENOMEM, NULL);
out:
    ERR_pop_to_mark();
    sk_X509_free(untrusted);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    return rc;
}

static void vfy_cn(X509 *x, char *out, size_t cap)
{
    X509_NAME *nm = X509_get_subject_name(x);
    int i = X509_NAME_get_index_by_NID(nm, NID_commonName, -1);
    const ASN1_STRING *s = i >= 0 ? X509_NAME_ENTRY_get_data(X509_NAME_get_entry(nm, i)) : NULL;
    if (s == NULL)
        snprintf(out, cap, "(no CN)");
    else
        vfy_printable((const char *)ASN1_STRING_get0_data(s), (size_t)ASN1_STRING_length(s), out,
                      cap);
}

/* Each certificate's TNAuthList within its issuer's (issuers without one,
 * like the STI-CA root, are skipped). */
static int vfy_scope(const struct pki_vfy_opts *o, STACK_OF(X509) * v, struct pki_vfy_result *r)
{
    int rc = STI_OK;
    char cn[64], icn[64], text[160];
    for (int i = 0; rc == STI_OK && i + 1 < sk_X509_num(v); i++) {
        X509 *child = sk_X509_value(v, i), *issuer = sk_X509_value(v, i + 1);
        struct scope ps, cs, outside;
        scope_init(&ps);
        scope_init(&cs);
        scope_init(&outside);
        vfy_cn(child, cn, sizeof cn);
        vfy_cn(issuer, icn, sizeof icn);
        int prc = pki_cert_scope(issuer, &ps);
        int crc = prc == STI_OK ? pki_cert_scope(child, &cs) : STI_OK;
        if (prc == STI_EPKI_NOTNAUTH) {
            /* skip */
        } else if (prc != STI_OK || (crc != STI_OK && crc != STI_EPKI_NOTNAUTH)) {
            rc = vfy_fail(r, "scope", prc != STI_OK ? prc : crc, "TNAuthList of %s",
                          prc != STI_OK ? icn : cn);
        } else if (crc == STI_EPKI_NOTNAUTH) {
            rc = vfy_fail(r, "scope", STI_ESCOPE_OUTSIDE, "%s has no TNAuthList but %s has one", cn,
                          icn);
        } else {
            int c = scope_contains(&ps, &cs, o->spc_policy, &outside);
            if (c == STI_ESCOPE_OUTSIDE) {
                if (scope_format(&outside, text, sizeof text) != STI_OK)
                    snprintf(text, sizeof text, "%zu entries", outside.n);
                rc = vfy_fail(r, "scope", c, "%s outside %s: %s", cn, icn, text);
            } else if (c != STI_OK) {
                rc = vfy_fail(r, "scope", c, NULL);
            }
        }
        scope_free(&ps);
        scope_free(&cs);
        scope_free(&outside);
    }
    return rc;
}

static int vfy_orig(const struct pki_vfy_opts *o, X509 *leaf, struct pki_vfy_result *r)
{
    struct scope s;
    scope_init(&s);
    int rc = pki_cert_scope(leaf, &s);
    if (rc == STI_EPKI_NOTNAUTH)
        rc = vfy_fail(r, "orig", STI_EVFY_SCOPE, "the leaf certificate has no TNAuthList");
    else if (rc != STI_OK)
        rc = vfy_fail(r, "orig", rc, "TNAuthList of the leaf");
    else if (!scope_covers_tn(&s, r->claims.c.orig) &&
             !(o->spc_policy == SCOPE_SPC_ALLOW && scope_spc_only(&s)))
        rc = vfy_fail(r, "orig", STI_EVFY_SCOPE, "orig %s not in the leaf's TNAuthList",
                      r->claims.c.orig);
    scope_free(&s);
    return rc;
}

/* ------------------------------------------------------------------ */

static int vfy_header(const struct id_parts *p, struct pki_vfy_result *r)
{
    const struct id_header *h = &r->header;
    char v[ID_SHORT_MAX + 8];
    if (!(h->have & ID_H_ALG) || strcmp(h->alg, "ES256") != 0) {
        vfy_printable(h->alg, strlen(h->alg), v, sizeof v);
        return vfy_fail(r, "header", STI_EVFY_HEADER, "alg \"%s\", only ES256 is accepted", v);
    }
    if (!(h->have & ID_H_PPT) || strcmp(h->ppt, "shaken") != 0)
        return vfy_fail(r, "header", STI_EVFY_HEADER, "ppt must be \"shaken\"");
    if (!(h->have & ID_H_TYP) || strcmp(h->typ, "passport") != 0)
        return vfy_fail(r, "header", STI_EVFY_HEADER, "typ must be \"passport\"");
    if (!(h->have & ID_H_X5U) || pp_x5u_check_flags(h->x5u, PP_X5U_QUERY_OK) != STI_OK)
        return vfy_fail(r, "header", STI_EVFY_HEADER,
                        "x5u must be an https URL without userinfo or fragment");
    if (h->unknown)
        return vfy_fail(r, "header", STI_EVFY_HEADER, "members other than alg, ppt, typ, x5u");
    if (p->alg != NULL && (p->alg_len != 5 || memcmp(p->alg, "ES256", 5) != 0))
        return vfy_fail(r, "header", STI_EVFY_HEADER, "Identity alg parameter is not ES256");
    if (p->ppt != NULL && (p->ppt_len != strlen(h->ppt) || memcmp(p->ppt, h->ppt, p->ppt_len) != 0))
        return vfy_fail(r, "header", STI_EVFY_HEADER,
                        "Identity ppt parameter differs from the PASSporT's ppt");
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* One verification in steps (verify.h) */

struct pki_vfy_ctx {
    const struct pki_vfy_opts *o;
    struct pki_vfy_result *r;
    uint8_t *mem; /* header, claims and signature bytes, decoded */
    struct id_parts p;
    struct id_buf hb, cb, sb;
    STACK_OF(X509) * verified; /* leaf first, trust anchor last */
};

static int vfy_done(struct pki_vfy_ctx *v, int rc)
{
    v->r->code = rc;
    return rc;
}

int pki_vfy_begin(const char *in, size_t n, const struct pki_vfy_opts *o, struct pki_vfy_result *r,
                  struct pki_vfy_ctx **out)
{
    struct pki_vfy_ctx *v = NULL;
    int rc;

    if (r == NULL || out == NULL)
        return STI_EINVAL;
    *out = NULL;
    memset(r, 0, sizeof *r);
    if (in == NULL || o == NULL) {
        r->code = vfy_fail(r, "format", STI_EINVAL, NULL);
        return r->code;
    }
    v = calloc(1, sizeof *v);
    if (v != NULL)
        v->mem = malloc(3 * (size_t)ID_INPUT_MAX);
    if (v == NULL || v->mem == NULL) {
        free(v);
        r->code = vfy_fail(r, "format", STI_ENOMEM, NULL);
        return r->code;
    }
    v->o = o;
    v->r = r;
    v->hb = (struct id_buf){v->mem, ID_INPUT_MAX, 0};
    v->cb = (struct id_buf){v->mem + ID_INPUT_MAX, ID_INPUT_MAX, 0};
    v->sb = (struct id_buf){v->mem + 2 * ID_INPUT_MAX, ID_INPUT_MAX, 0};
    *out = v;

    if ((rc = id_parse(in, n, &v->p, &v->hb, &v->cb, &v->sb)) != STI_OK)
        return vfy_done(v, vfy_fail(r, "format", rc,
                                    "expected <jws>;info=<url>;alg=ES256;ppt=shaken or a "
                                    "compact JWS"));
    if ((rc = id_header_parse((const char *)v->hb.p, v->hb.len, &r->header)) != STI_OK)
        return vfy_done(v, vfy_fail(r, "header", rc, "header is not a well-formed JSON object"));
    if ((rc = vfy_header(&v->p, r)) != STI_OK)
        return vfy_done(v, rc);
    memcpy(r->x5u, r->header.x5u, sizeof r->x5u);
    if (!v->p.bare &&
        (v->p.info_len != strlen(r->x5u) || memcmp(v->p.info, r->x5u, v->p.info_len) != 0)) {
        char info[96];
        vfy_printable(v->p.info, v->p.info_len, info, sizeof info);
        return vfy_done(v, vfy_fail(r, "info", STI_EVFY_INFO, "info <%s>", info));
    }
    if ((rc = id_claims_parse((const char *)v->cb.p, v->cb.len, &r->claims)) != STI_OK)
        return vfy_done(
            v, vfy_fail(r, "claims", rc, "attest, dest, iat, orig, origid as RFC 8588 requires"));

    long long iat = r->claims.c.iat, now = (long long)o->now;
    long max_age = o->max_age > 0 ? o->max_age : PKI_VFY_MAX_AGE_DEFAULT;
    long skew = o->skew > 0 ? o->skew : 0;
    if (iat > now + skew)
        return vfy_done(v, vfy_fail(r, "iat", STI_EVFY_FUTURE, "iat %lld is %lld s ahead of now",
                                    iat, iat - now));
    if (now - iat > max_age)
        return vfy_done(v, vfy_fail(r, "iat", STI_EVFY_STALE, "iat %lld is %lld s old, max %ld",
                                    iat, now - iat, max_age));
    return vfy_done(v, STI_OK);
}

/* RFC 5280 key usage as SHAKEN needs it: a PASSporT signer with
 * digitalSignature, every CA above it with keyCertSign. A certificate
 * without the extension does not qualify (the SHAKEN profile requires it). */
static int vfy_key_usage(STACK_OF(X509) * v, struct pki_vfy_result *r)
{
    char cn[64];
    for (int i = 0; i < sk_X509_num(v); i++) {
        X509 *x = sk_X509_value(v, i);
        uint32_t ku = X509_get_key_usage(x);
        int has = (X509_get_extension_flags(x) & EXFLAG_KUSAGE) != 0;
        uint32_t need = i == 0 ? KU_DIGITAL_SIGNATURE : KU_KEY_CERT_SIGN;
        if (!has || !(ku & need)) {
            vfy_cn(x, cn, sizeof cn);
            return vfy_fail(r, "keyusage", STI_EVFY_KEYUSAGE, "%s (certificate %d) %s %s", cn, i,
                            has ? "lacks" : "has no key usage, needs",
                            i == 0 ? "digitalSignature" : "keyCertSign");
        }
    }
    return STI_OK;
}

int pki_vfy_chain(struct pki_vfy_ctx *v, STACK_OF(X509) * chain)
{
    struct pki_vfy_result *r = v->r;
    int rc;
    if (chain == NULL || sk_X509_num(chain) < 1)
        return vfy_done(v, vfy_fail(r, "x5u", STI_EVFY_CHAIN, "empty certificate chain"));
    X509 *leaf = sk_X509_value(chain, 0);
    vfy_subject(leaf, r->leaf_subject, sizeof r->leaf_subject);
    EVP_PKEY *key = X509_get0_pubkey(leaf);
    if (key == NULL || pki_key_check_p256(key) != STI_OK)
        return vfy_done(v, vfy_fail(r, "key", STI_EPKI_KEYTYPE, "the leaf key is not EC P-256"));
    if ((rc = vfy_es256(key, v->p.jws, v->p.si_len, v->sb.p, v->sb.len, r)) != STI_OK)
        return vfy_done(v, rc);
    sk_X509_pop_free(v->verified, X509_free);
    v->verified = NULL;
    if ((rc = vfy_chain(v->o, chain, r, &v->verified)) != STI_OK)
        return vfy_done(v, rc);
    return vfy_done(v, vfy_key_usage(v->verified, r));
}

int pki_vfy_path_len(const struct pki_vfy_ctx *v)
{
    return v->verified ? sk_X509_num(v->verified) : 0;
}

int pki_vfy_crl_url(const struct pki_vfy_ctx *v, int i, char *url, size_t cap)
{
    if (v->verified == NULL || i < 0 || i >= sk_X509_num(v->verified))
        return STI_EINVAL;
    return pki_cert_crl_url(sk_X509_value(v->verified, i), url, cap);
}

int pki_vfy_revoked(struct pki_vfy_ctx *v, X509_CRL *const *crls, int *unknown)
{
    struct pki_vfy_result *r = v->r;
    char cn[64];
    int n = pki_vfy_path_len(v);
    *unknown = 0;
    /* The trust anchor (last) is trusted as configured: no CRL for it. */
    for (int i = 0; i + 1 < n; i++) {
        X509 *x = sk_X509_value(v->verified, i), *issuer = sk_X509_value(v->verified, i + 1);
        X509_CRL *crl = crls[i];
        X509_REVOKED *rev = NULL;
        vfy_cn(x, cn, sizeof cn);
        if (crl == NULL) {
            (*unknown)++;
            continue;
        }
        int rc = pki_crl_check(crl, issuer, v->o->now);
        if (rc != STI_OK)
            return vfy_done(
                v, vfy_fail(r, "revocation", STI_EVFY_CRL, "CRL for %s: %s", cn, sti_strerror(rc)));
        if (X509_CRL_get0_by_cert(crl, &rev, x) == 1)
            return vfy_done(v, vfy_fail(r, "revocation", STI_EVFY_REVOKED,
                                        "%s (certificate %d) is on its issuer's CRL", cn, i));
    }
    return vfy_done(v, STI_OK);
}

int pki_vfy_finish(struct pki_vfy_ctx *v)
{
    struct pki_vfy_result *r = v->r;
    int rc;
    if ((rc = vfy_scope(v->o, v->verified, r)) != STI_OK)
        return vfy_done(v, rc);
    if ((rc = vfy_orig(v->o, sk_X509_value(v->verified, 0), r)) != STI_OK)
        return vfy_done(v, rc);
    for (int i = 0; i < sk_X509_num(v->verified); i++) {
        rc = pki_jwtcc_check(sk_X509_value(v->verified, i), (const char *)v->cb.p, v->cb.len,
                             &r->claims, r->detail, sizeof r->detail);
        if (rc != STI_OK) {
            char d[sizeof r->detail];
            memcpy(d, r->detail, sizeof d);
            return vfy_done(v, vfy_fail(r, "constraints", rc, "%s", d));
        }
    }
    return vfy_done(v, STI_OK);
}

void pki_vfy_end(struct pki_vfy_ctx *v)
{
    if (v == NULL)
        return;
    sk_X509_pop_free(v->verified, X509_free);
    free(v->mem);
    free(v);
}

int pki_verify(const char *in, size_t n, const struct pki_vfy_opts *o, struct pki_vfy_result *r)
{
    struct pki_vfy_ctx *v = NULL;
    int rc = pki_vfy_begin(in, n, o, r, &v);
    if (rc == STI_OK && o->chain == NULL)
        rc = vfy_done(v, vfy_fail(r, "x5u", STI_EVFY_FETCH,
                                  "no chain given (the verifier process fetches x5u)"));
    if (rc == STI_OK)
        rc = pki_vfy_chain(v, o->chain);
    if (rc == STI_OK)
        rc = pki_vfy_finish(v);
    pki_vfy_end(v);
    return rc;
}
