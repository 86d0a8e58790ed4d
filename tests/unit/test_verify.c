/*
 * test_verify.c — the STI-VS (firmware/pki/verify.c, jwtcc.c) against
 * hostile tokens. Keys and certificates are made here with OpenSSL
 * (root without TNAuthList -> delegate CA with one -> leaf with one, all
 * software keys); PASSporTs are signed here with ES256. Every case asserts
 * the exact code and the name of the check that caught it. Time is fixed.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "b64u.h"
#include "check.h"
#include "pki.h"
#include "scope.h"
#include "sti_err.h"
#include "verify.h"

#define NOW ((time_t)1750000000)
#define DAY ((time_t)86400)
#define X5U "https://cr.example.com/sti/chain.pem"
#define ORIGID "123e4567-e89b-42d3-a456-426614174000"

/* ---- keys and certificates ---- */

struct cspec {
    const char *cn;
    EVP_PKEY *key;
    X509 *issuer;
    EVP_PKEY *issuer_key; /* NULL: self-signed with key */
    int ca;
    const char *scope; /* TNAuthList scope text; NULL: none */
    time_t nb, na;
    const char *ku;      /* key usage as openssl writes it; NULL: the profile's; "": none */
    const char *crl_url; /* a CRL Distribution Point URI, or NULL */
    const char *ext_oid; /* one extra extension, DER value below */
    const uint8_t *ext_der;
    size_t ext_n;
};

static int add_conf_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *v)
{
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, v);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

static int add_raw_ext(X509 *x, const char *oid, const uint8_t *der, size_t n)
{
    ASN1_OBJECT *o = OBJ_txt2obj(oid, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *e = NULL;
    int ok = o && os && ASN1_OCTET_STRING_set(os, der, (int)n) &&
             (e = X509_EXTENSION_create_by_OBJ(NULL, o, 0, os)) != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(o);
    return ok;
}

static X509 *mkcert(const struct cspec *s)
{
    static uint64_t serial = 0x7e57000000000001ULL;
    X509 *x = X509_new();
    X509_NAME *nm = X509_NAME_new();
    X509V3_CTX ctx;
    struct scope sc;
    uint8_t *der = NULL;
    size_t dn;
    scope_init(&sc);
    int ok = x && nm && X509_set_version(x, X509_VERSION_3) &&
             ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial++) &&
             X509_NAME_add_entry_by_txt(nm, "C", MBSTRING_UTF8, (const unsigned char *)"US", -1, -1,
                                        0) &&
             X509_NAME_add_entry_by_txt(nm, "O", MBSTRING_UTF8, (const unsigned char *)"vfy test",
                                        -1, -1, 0) &&
             X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)s->cn, -1,
                                        -1, 0) &&
             X509_set_subject_name(x, nm) &&
             X509_set_issuer_name(x, s->issuer ? X509_get_subject_name(s->issuer) : nm) &&
             ASN1_TIME_set(X509_getm_notBefore(x), s->nb ? s->nb : NOW - DAY) &&
             ASN1_TIME_set(X509_getm_notAfter(x), s->na ? s->na : NOW + 30 * DAY) &&
             X509_set_pubkey(x, s->key);
    if (ok) {
        X509V3_set_ctx(&ctx, s->issuer ? s->issuer : x, x, NULL, NULL, 0);
        const char *ku = s->ku   ? s->ku
                         : s->ca ? "critical,keyCertSign,cRLSign"
                                 : "critical,digitalSignature";
        char cdp[300];
        snprintf(cdp, sizeof cdp, "URI:%s", s->crl_url ? s->crl_url : "");
        ok = add_conf_ext(x, &ctx, NID_basic_constraints,
                          s->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             (!ku[0] || add_conf_ext(x, &ctx, NID_key_usage, ku)) &&
             (!s->crl_url || add_conf_ext(x, &ctx, NID_crl_distribution_points, cdp)) &&
             add_conf_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_conf_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (ok && s->scope)
        ok = scope_parse_list(s->scope, &sc) == STI_OK &&
             pki_tnauth_encode(&sc, &der, &dn) == STI_OK &&
             add_raw_ext(x, PKI_OID_TNAUTHLIST, der, dn);
    if (ok && s->ext_oid)
        ok = add_raw_ext(x, s->ext_oid, s->ext_der, s->ext_n);
    ok = ok && X509_sign(x, s->issuer_key ? s->issuer_key : s->key, EVP_sha256()) > 0;
    free(der);
    scope_free(&sc);
    X509_NAME_free(nm);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static struct {
    EVP_PKEY *root_key, *inter_key, *leaf_key, *p384_key, *spc_key;
    X509 *root, *inter, *leaf, *spc_inter;
    char anchor[600];
    char tmp[512];
} F;

/* Leaves nothing behind in STI_TEST_TMP. */
static void cleanup(void)
{
    char p[1024];
    unlink(F.anchor);
    snprintf(p, sizeof p, "%s/cache", F.tmp);
    rmdir(p);
    rmdir(F.tmp);
}

static int fixture(void)
{
    if (F.root)
        return 0;
    F.root_key = EVP_EC_gen("P-256");
    F.inter_key = EVP_EC_gen("P-256");
    F.leaf_key = EVP_EC_gen("P-256");
    F.spc_key = EVP_EC_gen("P-256");
    F.p384_key = EVP_EC_gen("P-384");
    if (!F.root_key || !F.inter_key || !F.leaf_key || !F.p384_key || !F.spc_key)
        return -1;
    F.root = mkcert(&(struct cspec){.cn = "VFY Root", .key = F.root_key, .ca = 1});
    F.inter = mkcert(&(struct cspec){.cn = "VFY Delegate CA",
                                     .key = F.inter_key,
                                     .issuer = F.root,
                                     .issuer_key = F.root_key,
                                     .ca = 1,
                                     .scope = "range:12025550000/1000"});
    F.leaf = mkcert(&(struct cspec){.cn = "SHAKEN VFY",
                                    .key = F.leaf_key,
                                    .issuer = F.inter,
                                    .issuer_key = F.inter_key,
                                    .scope = "range:12025550100/100"});
    F.spc_inter = mkcert(&(struct cspec){.cn = "VFY SPC CA",
                                         .key = F.spc_key,
                                         .issuer = F.root,
                                         .issuer_key = F.root_key,
                                         .ca = 1,
                                         .scope = "spc:709J"});
    if (!F.root || !F.inter || !F.leaf || !F.spc_inter)
        return -1;
    const char *base = getenv("STI_TEST_TMP");
    snprintf(F.tmp, sizeof F.tmp, "%s/test_verify.XXXXXX", base ? base : "/tmp");
    if (base)
        mkdir(base, 0700);
    if (mkdtemp(F.tmp) == NULL)
        return -1;
    atexit(cleanup);
    snprintf(F.anchor, sizeof F.anchor, "%s/root.pem", F.tmp);
    FILE *f = fopen(F.anchor, "w");
    if (!f || !PEM_write_X509(f, F.root)) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    return 0;
}

/* A leaf issued by issuer (default: the delegate CA) with some property
 * changed. */
static X509 *leaf_with(struct cspec s)
{
    if (!s.cn)
        s.cn = "SHAKEN VFY variant";
    if (!s.key)
        s.key = F.leaf_key;
    if (!s.issuer) {
        s.issuer = F.inter;
        s.issuer_key = F.inter_key;
    }
    if (!s.scope)
        s.scope = "range:12025550100/100";
    return mkcert(&s);
}

static STACK_OF(X509) * chain2(X509 *leaf, X509 *inter)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    if (!sk)
        return NULL;
    if (leaf) {
        X509_up_ref(leaf);
        sk_X509_push(sk, leaf);
    }
    if (inter) {
        X509_up_ref(inter);
        sk_X509_push(sk, inter);
    }
    return sk;
}

/* ---- tokens ---- */

enum sigmode { SIG_RAW, SIG_DER, SIG_TRUNC63, SIG_PAD65, SIG_R_ZERO, SIG_S_ORDER, SIG_HS256 };

static size_t b64(const void *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    b64u_encode(p, n, out, cap, &k);
    return k;
}

/* Signs header.claims with key the way mode says; fills out with the JWS
 * followed by params (may be ""). */
static int token(const char *hdr, const char *claims, EVP_PKEY *key, enum sigmode mode,
                 const char *params, char *out, size_t cap)
{
    uint8_t der[160], raw[128];
    size_t dl = sizeof der, rl = 64;
    size_t k = b64(hdr, strlen(hdr), out, cap);
    out[k++] = '.';
    k += b64(claims, strlen(claims), out + k, cap - k);
    if (mode == SIG_HS256) {
        /* The classic confusion attack: HMAC keyed with the public key. */
        uint8_t pub[200];
        size_t pl = 0;
        EVP_PKEY_get_octet_string_param(key, "encoded-pub-key", pub, sizeof pub, &pl);
        if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, pub, pl, (uint8_t *)out, k, raw,
                       sizeof raw, &rl))
            return -1;
    } else {
        EVP_MD_CTX *m = EVP_MD_CTX_new();
        int ok = m && EVP_DigestSignInit(m, NULL, EVP_sha256(), NULL, key) == 1 &&
                 EVP_DigestSign(m, der, &dl, (uint8_t *)out, k) == 1;
        EVP_MD_CTX_free(m);
        if (!ok)
            return -1;
        const uint8_t *p = der;
        ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
        if (!es)
            return -1;
        /* P-384 keys give 48-byte halves: raw r||s of 96 bytes. */
        int half = EVP_PKEY_get_bits(key) > 256 ? 48 : 32;
        rl = (size_t)half * 2;
        BN_bn2binpad(ECDSA_SIG_get0_r(es), raw, half);
        BN_bn2binpad(ECDSA_SIG_get0_s(es), raw + half, half);
        ECDSA_SIG_free(es);
    }
    const uint8_t *sig = raw;
    switch (mode) {
    case SIG_DER:
        sig = der;
        rl = dl;
        break;
    case SIG_TRUNC63:
        rl = 63;
        break;
    case SIG_PAD65:
        raw[64] = 0;
        rl = 65;
        break;
    case SIG_R_ZERO:
        memset(raw, 0, 32);
        break;
    case SIG_S_ORDER: {
        /* s = n, the group order: out of range though it fits 32 bytes. */
        static const uint8_t n256[32] = {0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00,
                                         0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                         0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84,
                                         0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51};
        memcpy(raw + 32, n256, 32);
        break;
    }
    default:
        break;
    }
    out[k++] = '.';
    k += b64(sig, rl, out + k, cap - k);
    snprintf(out + k, cap - k, "%s", params);
    return 0;
}

static void hdr_json(char *out, size_t cap, const char *alg, const char *x5u)
{
    snprintf(out, cap, "{\"alg\":\"%s\",\"ppt\":\"shaken\",\"typ\":\"passport\",\"x5u\":\"%s\"}",
             alg, x5u);
}

static void claims_json(char *out, size_t cap, const char *attest, const char *orig, long long iat,
                        const char *extra)
{
    snprintf(out, cap,
             "{\"attest\":\"%s\",\"dest\":{\"tn\":[\"13035550000\"]},\"iat\":%lld,%s"
             "\"orig\":{\"tn\":\"%s\"},\"origid\":\"" ORIGID "\"}",
             attest, iat, extra ? extra : "", orig);
}

static char params_std[] = ";info=<" X5U ">;alg=ES256;ppt=shaken";

/* Everything configurable about one verification. */
struct run {
    const char *alg, *x5u, *params, *attest, *orig, *extra;
    long long iat;
    EVP_PKEY *key;
    enum sigmode mode;
    X509 *leaf, *inter; /* chain; inter NULL with no_inter */
    int no_inter, no_chain;
    long skew;
    enum scope_spc_policy policy;
    const char *raw; /* verify this text instead of a made token */
};

static struct pki_vfy_result R;

static int run_verify(struct run v)
{
    char hdr[1024], cl[2048], tok[8192];
    if (fixture() != 0)
        return -1000;
    hdr_json(hdr, sizeof hdr, v.alg ? v.alg : "ES256", v.x5u ? v.x5u : X5U);
    claims_json(cl, sizeof cl, v.attest ? v.attest : "A", v.orig ? v.orig : "12025550123",
                v.iat ? v.iat : NOW - 5, v.extra);
    if (!v.raw && token(hdr, cl, v.key ? v.key : F.leaf_key, v.mode,
                        v.params ? v.params : params_std, tok, sizeof tok) != 0)
        return -1001;
    STACK_OF(X509) *chain = v.no_chain ? NULL
                                       : chain2(v.leaf ? v.leaf : F.leaf,
                                                v.no_inter ? NULL : (v.inter ? v.inter : F.inter));
    struct pki_vfy_opts o = {F.anchor, chain, 60, v.skew, NOW, v.policy, NULL};
    const char *in = v.raw ? v.raw : tok;
    int rc = pki_verify(in, strlen(in), &o, &R);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

#define CHECK_FAIL(got_, want_, name_)                                                             \
    do {                                                                                           \
        CHECK_RC(got_, want_);                                                                     \
        CHECK_INT(R.code, want_);                                                                  \
        CHECK_STR(R.check, name_);                                                                 \
    } while (0)

/* ---- cases ---- */

TEST(valid_token_passes)
{
    CHECK_RC(run_verify((struct run){0}), STI_OK);
    CHECK_STR(R.check, "");
    CHECK_INT(R.claims.c.attest, 'A');
    CHECK_STR(R.claims.c.orig, "12025550123");
    CHECK_STR(R.claims.c.dest[0], "13035550000");
    CHECK_INT(R.claims.c.iat, NOW - 5);
    CHECK_STR(R.claims.c.origid, ORIGID);
    CHECK_STR(R.x5u, X5U);
    CHECK(strstr(R.leaf_subject, "CN=SHAKEN VFY") != NULL);
}

TEST(valid_bare_jws_passes)
{
    CHECK_RC(run_verify((struct run){.params = ""}), STI_OK);
}

TEST(tampered_claims_fail_signature)
{
    char hdr[1024], cl[1024], tok[8192], other[1024], ob[2048];
    CHECK(fixture() == 0);
    hdr_json(hdr, sizeof hdr, "ES256", X5U);
    claims_json(cl, sizeof cl, "C", "12025550123", NOW - 5, NULL);
    CHECK(token(hdr, cl, F.leaf_key, SIG_RAW, params_std, tok, sizeof tok) == 0);
    /* Swap the claims part for one claiming attest A. */
    claims_json(other, sizeof other, "A", "12025550123", NOW - 5, NULL);
    b64(other, strlen(other), ob, sizeof ob);
    char *d1 = strchr(tok, '.'), *d2 = strchr(d1 + 1, '.');
    char forged[8192];
    snprintf(forged, sizeof forged, "%.*s.%s%s", (int)(d1 - tok), tok, ob, d2);
    CHECK_FAIL(run_verify((struct run){.raw = forged}), STI_EVFY_SIG, "signature");
}

TEST(alg_none_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.alg = "none"}), STI_EVFY_HEADER, "header");
    /* The usual alg-none shape has an empty signature: not even a JWS. */
    char hdr[1024], cl[1024], tok[8192];
    hdr_json(hdr, sizeof hdr, "none", X5U);
    claims_json(cl, sizeof cl, "A", "12025550123", NOW - 5, NULL);
    size_t k = b64(hdr, strlen(hdr), tok, sizeof tok);
    tok[k++] = '.';
    k += b64(cl, strlen(cl), tok + k, sizeof tok - k);
    snprintf(tok + k, sizeof tok - k, ".%s", params_std);
    CHECK_FAIL(run_verify((struct run){.raw = tok}), STI_EVFY_FORMAT, "format");
}

TEST(hs256_keyed_with_the_public_key_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.alg = "HS256", .mode = SIG_HS256}), STI_EVFY_HEADER,
               "header");
    CHECK_FAIL(run_verify((struct run){.alg = "HS256",
                                       .mode = SIG_HS256,
                                       .params = ";info=<" X5U ">;alg=HS256;ppt=shaken"}),
               STI_EVFY_HEADER, "header");
}

TEST(p384_leaf_key_is_refused)
{
    X509 *l = leaf_with((struct cspec){.key = F.p384_key});
    CHECK(l != NULL);
    int rc = run_verify((struct run){.leaf = l, .key = F.p384_key});
    X509_free(l);
    CHECK_FAIL(rc, STI_EPKI_KEYTYPE, "key");
}

TEST(stale_iat_is_refused_and_sixty_seconds_is_not)
{
    CHECK_FAIL(run_verify((struct run){.iat = NOW - 61}), STI_EVFY_STALE, "iat");
    CHECK_RC(run_verify((struct run){.iat = NOW - 60}), STI_OK);
}

TEST(future_iat_is_refused_unless_within_skew)
{
    CHECK_FAIL(run_verify((struct run){.iat = NOW + 1}), STI_EVFY_FUTURE, "iat");
    CHECK_RC(run_verify((struct run){.iat = NOW + 5, .skew = 5}), STI_OK);
    CHECK_FAIL(run_verify((struct run){.iat = NOW + 6, .skew = 5}), STI_EVFY_FUTURE, "iat");
}

TEST(leaf_scope_outside_issuer_scope_is_refused)
{
    X509 *l = leaf_with((struct cspec){.scope = "range:12025550990/20"});
    CHECK(l != NULL);
    int rc = run_verify((struct run){.leaf = l, .orig = "12025550995"});
    X509_free(l);
    CHECK_FAIL(rc, STI_ESCOPE_OUTSIDE, "scope");
    CHECK(strstr(R.detail, "range:12025551000/10") != NULL);
}

TEST(orig_outside_leaf_scope_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.orig = "12025550500"}), STI_EVFY_SCOPE, "orig");
    CHECK(strstr(R.detail, "12025550500") != NULL);
}

TEST(missing_intermediate_breaks_the_chain)
{
    CHECK_FAIL(run_verify((struct run){.no_inter = 1}), STI_EVFY_CHAIN, "chain");
}

TEST(expired_leaf_is_refused)
{
    X509 *l = leaf_with((struct cspec){.nb = NOW - 10 * DAY, .na = NOW - DAY});
    CHECK(l != NULL);
    int rc = run_verify((struct run){.leaf = l});
    X509_free(l);
    CHECK_FAIL(rc, STI_EPKI_EXPIRED, "chain");
}

TEST(not_yet_valid_leaf_is_refused)
{
    X509 *l = leaf_with((struct cspec){.nb = NOW + DAY, .na = NOW + 10 * DAY});
    CHECK(l != NULL);
    int rc = run_verify((struct run){.leaf = l});
    X509_free(l);
    CHECK_FAIL(rc, STI_EPKI_NOTYET, "chain");
}

TEST(leaf_signed_by_another_ca_key_breaks_the_chain)
{
    X509 *l = leaf_with((struct cspec){.issuer = F.inter, .issuer_key = F.spc_key});
    CHECK(l != NULL);
    int rc = run_verify((struct run){.leaf = l});
    X509_free(l);
    CHECK_FAIL(rc, STI_EVFY_CHAIN, "chain");
}

TEST(ca_certificate_as_signer_is_refused)
{
    CHECK_FAIL(run_verify((struct run){
                   .leaf = F.inter, .inter = F.root, .key = F.inter_key, .orig = "12025550500"}),
               STI_EVFY_CHAIN, "chain");
}

TEST(info_differing_from_x5u_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.params = ";info=<https://evil.example.com/chain.pem>;"
                                                 "alg=ES256;ppt=shaken"}),
               STI_EVFY_INFO, "info");
}

TEST(http_x5u_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.x5u = "http://cr.example.com/sti/chain.pem",
                                       .params = ";info=<http://cr.example.com/sti/chain.pem>;"
                                                 "alg=ES256;ppt=shaken"}),
               STI_EVFY_HEADER, "header");
    CHECK_FAIL(run_verify((struct run){.x5u = "https://cr.example.com/c.pem#frag", .params = ""}),
               STI_EVFY_HEADER, "header");
    CHECK_FAIL(run_verify((struct run){.x5u = "https://u@cr.example.com/c.pem", .params = ""}),
               STI_EVFY_HEADER, "header");
}

/* Carriers publish x5u with a query string; a verifier accepts it. */
TEST(x5u_with_a_query_is_accepted)
{
    CHECK_RC(run_verify((struct run){.x5u = "https://cr.example.com/c.pem?x=1", .params = ""}),
             STI_OK);
}

TEST(identity_params_disagreeing_with_header_are_refused)
{
    CHECK_FAIL(run_verify((struct run){.params = ";info=<" X5U ">;alg=ES384;ppt=shaken"}),
               STI_EVFY_HEADER, "header");
    CHECK_FAIL(run_verify((struct run){.params = ";info=<" X5U ">;alg=ES256;ppt=div"}),
               STI_EVFY_HEADER, "header");
}

TEST(signature_of_63_or_65_bytes_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.mode = SIG_TRUNC63}), STI_EVFY_SIG, "signature");
    CHECK_FAIL(run_verify((struct run){.mode = SIG_PAD65}), STI_EVFY_SIG, "signature");
}

TEST(der_signature_instead_of_raw_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.mode = SIG_DER}), STI_EVFY_SIG, "signature");
}

TEST(r_zero_or_s_equal_to_order_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.mode = SIG_R_ZERO}), STI_EVFY_SIG, "signature");
    CHECK(strstr(R.detail, "outside") != NULL);
    CHECK_FAIL(run_verify((struct run){.mode = SIG_S_ORDER}), STI_EVFY_SIG, "signature");
    CHECK(strstr(R.detail, "outside") != NULL);
}

TEST(token_signed_by_another_key_is_refused)
{
    CHECK_FAIL(run_verify((struct run){.key = F.inter_key}), STI_EVFY_SIG, "signature");
}

TEST(malformed_claims_are_refused_before_the_certificate)
{
    CHECK_FAIL(run_verify((struct run){.attest = "D"}), STI_EVFY_CLAIMS, "claims");
    CHECK_FAIL(run_verify((struct run){.extra = "\"iat\":5,"}), STI_EVFY_CLAIMS, "claims");
}

/* ---- JWTClaimConstraints ---- */

/* DER TLV with a short-form length (everything here is under 128 bytes). */
static size_t tlv(uint8_t *out, uint8_t tag, const void *v, size_t n)
{
    out[0] = tag;
    out[1] = (uint8_t)n;
    memmove(out + 2, v, n);
    return n + 2;
}

/* SEQUENCE OF IA5String from a NULL-terminated list. */
static size_t names_der(uint8_t *out, const char *const *names)
{
    uint8_t body[256];
    size_t k = 0;
    for (; *names; names++)
        k += tlv(body + k, 0x16, *names, strlen(*names));
    return tlv(out, 0x30, body, k);
}

/* permittedValues with one claim and its values. */
static size_t pv_der(uint8_t *out, const char *claim, const char *const *values)
{
    uint8_t vals[256], one[300], list[320];
    size_t k = 0;
    for (; *values; values++)
        k += tlv(vals + k, 0x0c, *values, strlen(*values));
    size_t vl = tlv(list, 0x30, vals, k); /* SEQUENCE OF UTF8String */
    size_t c = tlv(one, 0x16, claim, strlen(claim));
    memcpy(one + c, list, vl);
    size_t ol = tlv(list, 0x30, one, c + vl); /* JWTClaimPermittedValues */
    return tlv(out, 0x30, list, ol);          /* ...List */
}

/* [0] mustInclude, [1] permittedValues, [2] mustExclude; NULL to omit. */
static size_t jwtcc_der(uint8_t *out, const char *const *must, const char *pv_claim,
                        const char *const *pv_values, const char *const *exclude)
{
    uint8_t body[512], tmp[400];
    size_t k = 0, n;
    if (must) {
        n = names_der(tmp, must);
        k += tlv(body + k, 0xa0, tmp, n);
    }
    if (pv_claim) {
        n = pv_der(tmp, pv_claim, pv_values);
        k += tlv(body + k, 0xa1, tmp, n);
    }
    if (exclude) {
        n = names_der(tmp, exclude);
        k += tlv(body + k, 0xa2, tmp, n);
    }
    return tlv(out, 0x30, body, k);
}

static int run_cc(const char *oid, const uint8_t *der, size_t n, struct run v)
{
    X509 *l = leaf_with((struct cspec){.ext_oid = oid, .ext_der = der, .ext_n = n});
    if (!l)
        return -1;
    v.leaf = l;
    int rc = run_verify(v);
    X509_free(l);
    return rc;
}

TEST(jwtcc_must_include_missing_is_refused)
{
    static const char *const must[] = {"attest", "rcd", NULL};
    uint8_t der[256];
    size_t n = jwtcc_der(der, must, NULL, NULL, NULL);
    CHECK(fixture() == 0);
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){0}), STI_EVFY_CONSTRAINT,
               "constraints");
    CHECK(strstr(R.detail, "\"rcd\"") != NULL);
    CHECK_RC(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n,
                    (struct run){.extra = "\"rcd\":{\"nam\":\"Acme\"},"}),
             STI_OK);
}

TEST(jwtcc_permitted_values_violated_is_refused)
{
    static const char *const vals[] = {"B", "C", NULL};
    uint8_t der[256];
    size_t n = jwtcc_der(der, NULL, "attest", vals, NULL);
    CHECK(fixture() == 0);
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){.attest = "A"}),
               STI_EVFY_CONSTRAINT, "constraints");
    CHECK_RC(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){.attest = "B"}), STI_OK);
}

TEST(jwtcc_permitted_values_match_object_claims_as_json)
{
    static const char *const vals[] = {"{\"tn\":\"12025550123\"}", NULL};
    uint8_t der[256];
    size_t n = jwtcc_der(der, NULL, "orig", vals, NULL);
    CHECK(fixture() == 0);
    CHECK_RC(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){0}), STI_OK);
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){.orig = "12025550124"}),
               STI_EVFY_CONSTRAINT, "constraints");
}

TEST(enhanced_jwtcc_must_exclude_is_honoured)
{
    static const char *const excl[] = {"div", NULL};
    uint8_t der[256];
    size_t n = jwtcc_der(der, NULL, NULL, NULL, excl);
    CHECK(fixture() == 0);
    CHECK_RC(run_cc(PKI_OID_ENHANCEDJWTCC, der, n, (struct run){0}), STI_OK);
    CHECK_FAIL(run_cc(PKI_OID_ENHANCEDJWTCC, der, n,
                      (struct run){.extra = "\"div\":{\"tn\":\"12025550100\"},"}),
               STI_EVFY_CONSTRAINT, "constraints");
    CHECK(strstr(R.detail, "mustExclude") != NULL);
}

TEST(malformed_jwtcc_is_refused)
{
    static const char *const excl[] = {"div", NULL};
    static const char *const must[] = {"attest", NULL};
    uint8_t der[256];
    CHECK(fixture() == 0);
    /* mustExclude does not exist in the RFC 8226 form. */
    size_t n = jwtcc_der(der, NULL, NULL, NULL, excl);
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){0}), STI_EVFY_CONSTRAINT,
               "constraints");
    /* Empty SEQUENCE: at least one component is required. */
    n = tlv(der, 0x30, "", 0);
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){0}), STI_EVFY_CONSTRAINT,
               "constraints");
    /* IMPLICIT instead of EXPLICIT tagging of mustInclude: [0] holds the
     * IA5Strings directly. */
    {
        uint8_t s1[32], s2[40];
        size_t a = tlv(s1, 0x16, "attest", 6);
        size_t b = tlv(s2, 0xa0, s1, a);
        n = tlv(der, 0x30, s2, b);
    }
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n, (struct run){0}), STI_EVFY_CONSTRAINT,
               "constraints");
    /* Trailing byte after the SEQUENCE. */
    n = jwtcc_der(der, must, NULL, NULL, NULL);
    der[n] = 0;
    CHECK_FAIL(run_cc(PKI_OID_JWTCLAIMCONSTRAINTS, der, n + 1, (struct run){0}),
               STI_EVFY_CONSTRAINT, "constraints");
}

/* ---- SPC-only issuer ---- */

TEST(spc_only_issuer_denied_by_default_and_allowed_by_policy)
{
    CHECK(fixture() == 0);
    X509 *l = leaf_with((struct cspec){.issuer = F.spc_inter, .issuer_key = F.spc_key});
    CHECK(l != NULL);
    int deny = run_verify((struct run){.leaf = l, .inter = F.spc_inter});
    int deny_code = R.code;
    char deny_check[48];
    memcpy(deny_check, R.check, sizeof deny_check);
    int allow =
        run_verify((struct run){.leaf = l, .inter = F.spc_inter, .policy = SCOPE_SPC_ALLOW});
    X509_free(l);
    CHECK_RC(deny, STI_ESCOPE_OUTSIDE);
    CHECK_INT(deny_code, STI_ESCOPE_OUTSIDE);
    CHECK_STR(deny_check, "scope");
    CHECK_RC(allow, STI_OK);
}

/* ---- no chain: the library never fetches (firmware/vs does) ---- */

TEST(no_chain_given_fails_x5u_without_touching_the_network)
{
    CHECK_FAIL(run_verify((struct run){.no_chain = 1}), STI_EVFY_FETCH, "x5u");
}

/* ---- key usage ---- */

TEST(leaf_without_digital_signature_fails_keyusage)
{
    X509 *leaf = leaf_with((struct cspec){.ku = "critical,nonRepudiation"});
    CHECK_FAIL(run_verify((struct run){.leaf = leaf}), STI_EVFY_KEYUSAGE, "keyusage");
    X509_free(leaf);
}

TEST(leaf_without_key_usage_fails_keyusage)
{
    X509 *leaf = leaf_with((struct cspec){.ku = ""});
    CHECK_FAIL(run_verify((struct run){.leaf = leaf}), STI_EVFY_KEYUSAGE, "keyusage");
    X509_free(leaf);
}

TEST(ca_without_key_cert_sign_is_refused)
{
    CHECK(fixture() == 0);
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *inter = mkcert(&(struct cspec){.cn = "VFY CA no certsign",
                                         .key = k,
                                         .issuer = F.root,
                                         .issuer_key = F.root_key,
                                         .ca = 1,
                                         .ku = "critical,cRLSign",
                                         .scope = "range:12025550000/1000"});
    X509 *leaf = leaf_with((struct cspec){.issuer = inter, .issuer_key = k});
    /* OpenSSL's path validation refuses it before our own check would. */
    CHECK_FAIL(run_verify((struct run){.leaf = leaf, .inter = inter}), STI_EVFY_CHAIN, "chain");
    X509_free(leaf);
    X509_free(inter);
    EVP_PKEY_free(k);
}

/* ---- revocation (the steps API the verifier process drives) ---- */

static X509_CRL *mkcrl(X509 *issuer, EVP_PKEY *key, X509 *revoked, time_t this_upd, time_t next_upd)
{
    X509_CRL *crl = X509_CRL_new();
    ASN1_TIME *t = ASN1_TIME_new();
    int ok = crl && t && X509_CRL_set_version(crl, 1) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(issuer)) &&
             ASN1_TIME_set(t, this_upd) && X509_CRL_set1_lastUpdate(crl, t) &&
             (!next_upd || (ASN1_TIME_set(t, next_upd) && X509_CRL_set1_nextUpdate(crl, t)));
    if (ok && revoked) {
        X509_REVOKED *r = X509_REVOKED_new();
        ok = r && X509_REVOKED_set_serialNumber(r, X509_get_serialNumber(revoked)) &&
             ASN1_TIME_set(t, this_upd) && X509_REVOKED_set_revocationDate(r, t) &&
             X509_CRL_add0_revoked(crl, r);
        if (!ok)
            X509_REVOKED_free(r);
    }
    ok = ok && X509_CRL_sort(crl) && X509_CRL_sign(crl, key, EVP_sha256()) > 0;
    ASN1_TIME_free(t);
    if (!ok) {
        X509_CRL_free(crl);
        return NULL;
    }
    return crl;
}

/* Runs begin + chain on the default token, then revocation with crls[]
 * (one per certificate of the path below the anchor). */
static int run_revocation(X509_CRL *leaf_crl, X509_CRL *inter_crl, int *unknown)
{
    char hdr[1024], cl[2048], tok[8192];
    if (fixture() != 0)
        return -1000;
    hdr_json(hdr, sizeof hdr, "ES256", X5U);
    claims_json(cl, sizeof cl, "A", "12025550123", NOW - 5, NULL);
    if (token(hdr, cl, F.leaf_key, SIG_RAW, params_std, tok, sizeof tok) != 0)
        return -1001;
    STACK_OF(X509) *chain = chain2(F.leaf, F.inter);
    struct pki_vfy_opts o = {F.anchor, NULL, 60, 0, NOW, SCOPE_SPC_DENY, NULL};
    struct pki_vfy_ctx *v = NULL;
    int rc = pki_vfy_begin(tok, strlen(tok), &o, &R, &v);
    if (rc == STI_OK)
        rc = pki_vfy_chain(v, chain);
    if (rc == STI_OK && pki_vfy_path_len(v) != 3)
        rc = -1002;
    X509_CRL *crls[2] = {leaf_crl, inter_crl};
    if (rc == STI_OK)
        rc = pki_vfy_revoked(v, crls, unknown);
    if (rc == STI_OK)
        rc = pki_vfy_finish(v);
    pki_vfy_end(v);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

TEST(certificate_on_its_issuers_crl_is_revoked)
{
    int unknown = -1;
    CHECK(fixture() == 0);
    X509_CRL *bad = mkcrl(F.inter, F.inter_key, F.leaf, NOW - DAY, NOW + DAY);
    X509_CRL *good = mkcrl(F.root, F.root_key, NULL, NOW - DAY, NOW + DAY);
    CHECK(bad && good);
    CHECK_FAIL(run_revocation(bad, good, &unknown), STI_EVFY_REVOKED, "revocation");
    CHECK_RC(run_revocation(NULL, good, &unknown), STI_OK);
    CHECK_INT(unknown, 1);
    X509_CRL *clean = mkcrl(F.inter, F.inter_key, NULL, NOW - DAY, NOW + DAY);
    CHECK_RC(run_revocation(clean, good, &unknown), STI_OK);
    CHECK_INT(unknown, 0);
    X509_CRL_free(bad);
    X509_CRL_free(good);
    X509_CRL_free(clean);
}

TEST(crl_not_signed_by_the_issuer_or_out_of_date_is_refused)
{
    int unknown = 0;
    CHECK(fixture() == 0);
    /* Signed by the root's key but naming the delegate CA as issuer. */
    X509_CRL *forged = mkcrl(F.inter, F.root_key, NULL, NOW - DAY, NOW + DAY);
    X509_CRL *stale = mkcrl(F.inter, F.inter_key, NULL, NOW - 3 * DAY, NOW - DAY);
    X509_CRL *forever = mkcrl(F.inter, F.inter_key, NULL, NOW - DAY, 0);
    CHECK(forged && stale && forever);
    CHECK_FAIL(run_revocation(forged, NULL, &unknown), STI_EVFY_CRL, "revocation");
    CHECK_FAIL(run_revocation(stale, NULL, &unknown), STI_EVFY_CRL, "revocation");
    CHECK_FAIL(run_revocation(forever, NULL, &unknown), STI_EVFY_CRL, "revocation");
    X509_CRL_free(forged);
    X509_CRL_free(stale);
    X509_CRL_free(forever);
}

TEST(crl_distribution_point_uri_is_read)
{
    char url[128];
    CHECK(fixture() == 0);
    X509 *leaf = leaf_with((struct cspec){.crl_url = "https://crl.example.com/ca.crl?v=2"});
    CHECK_RC(pki_cert_crl_url(leaf, url, sizeof url), STI_OK);
    CHECK_STR(url, "https://crl.example.com/ca.crl?v=2");
    CHECK_RC(pki_cert_crl_url(leaf, url, 10), STI_ETOOLONG);
    CHECK_RC(pki_cert_crl_url(F.leaf, url, sizeof url), STI_ENOTFOUND);
    X509_free(leaf);
}

TEST(unreadable_trust_anchor_is_reported)
{
    char hdr[1024], cl[1024], tok[8192];
    CHECK(fixture() == 0);
    hdr_json(hdr, sizeof hdr, "ES256", X5U);
    claims_json(cl, sizeof cl, "A", "12025550123", NOW - 5, NULL);
    CHECK(token(hdr, cl, F.leaf_key, SIG_RAW, "", tok, sizeof tok) == 0);
    STACK_OF(X509) *chain = chain2(F.leaf, F.inter);
    struct pki_vfy_opts o = {"/nonexistent/root.pem", chain, 60, 0, NOW, SCOPE_SPC_DENY, NULL};
    int rc = pki_verify(tok, strlen(tok), &o, &R);
    sk_X509_pop_free(chain, X509_free);
    CHECK_FAIL(rc, STI_EIO, "chain");
}

CHECK_MAIN(
    CASE(valid_token_passes), CASE(valid_bare_jws_passes), CASE(tampered_claims_fail_signature),
    CASE(alg_none_is_refused), CASE(hs256_keyed_with_the_public_key_is_refused),
    CASE(p384_leaf_key_is_refused), CASE(stale_iat_is_refused_and_sixty_seconds_is_not),
    CASE(future_iat_is_refused_unless_within_skew),
    CASE(leaf_scope_outside_issuer_scope_is_refused), CASE(orig_outside_leaf_scope_is_refused),
    CASE(missing_intermediate_breaks_the_chain), CASE(expired_leaf_is_refused),
    CASE(not_yet_valid_leaf_is_refused), CASE(leaf_signed_by_another_ca_key_breaks_the_chain),
    CASE(ca_certificate_as_signer_is_refused), CASE(info_differing_from_x5u_is_refused),
    CASE(http_x5u_is_refused), CASE(x5u_with_a_query_is_accepted),
    CASE(identity_params_disagreeing_with_header_are_refused),
    CASE(signature_of_63_or_65_bytes_is_refused), CASE(der_signature_instead_of_raw_is_refused),
    CASE(r_zero_or_s_equal_to_order_is_refused), CASE(token_signed_by_another_key_is_refused),
    CASE(malformed_claims_are_refused_before_the_certificate),
    CASE(jwtcc_must_include_missing_is_refused), CASE(jwtcc_permitted_values_violated_is_refused),
    CASE(jwtcc_permitted_values_match_object_claims_as_json),
    CASE(enhanced_jwtcc_must_exclude_is_honoured), CASE(malformed_jwtcc_is_refused),
    CASE(spc_only_issuer_denied_by_default_and_allowed_by_policy),
    CASE(unreadable_trust_anchor_is_reported),
    CASE(no_chain_given_fails_x5u_without_touching_the_network),
    CASE(leaf_without_digital_signature_fails_keyusage),
    CASE(leaf_without_key_usage_fails_keyusage), CASE(ca_without_key_cert_sign_is_refused),
    CASE(certificate_on_its_issuers_crl_is_revoked),
    CASE(crl_not_signed_by_the_issuer_or_out_of_date_is_refused),
    CASE(crl_distribution_point_uri_is_read))
