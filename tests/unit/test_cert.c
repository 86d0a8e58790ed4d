/*
 * test_cert.c — certificate chains, credential checks and CSRs
 * (firmware/pki/cert.c, csr.c).
 *
 * Every key and certificate is made here in-process with OpenSSL: a root CA,
 * an intermediate (delegate) CA and a leaf, each with a TNAuthList, plus
 * variants that break one property at a time. Times are fixed, never the
 * wall clock, so the validity cases are exact to the second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "pki.h"
#include "sti_err.h"

#define T0 ((time_t)1750000000) /* 2025-06-15T15:06:40Z */
#define DAY ((time_t)86400)
#define NB (T0 - DAY)
#define NA (T0 + 30 * DAY)

/* ---- certificate factory ---- */

struct certspec {
    const char *cn;
    EVP_PKEY *key;        /* subject key */
    X509 *issuer;         /* NULL: self-signed by key */
    EVP_PKEY *issuer_key; /* signer; NULL: key */
    int ca;
    const char *scope; /* scope text for the TNAuthList, NULL for none */
    const uint8_t *raw_tnauth; /* TNAuthList content used verbatim instead */
    size_t raw_n;
    int tnauth_twice;
    time_t nb, na;
};

static struct scope_entry entry_spc(const char *s)
{
    struct scope_entry e;
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_SPC;
    strncpy(e.spc, s, sizeof e.spc - 1);
    return e;
}

static struct scope_entry entry_range(const char *start, uint64_t count)
{
    struct scope_entry e;
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_RANGE;
    strncpy(e.tn, start, sizeof e.tn - 1);
    e.count = count;
    return e;
}

/* Scopes used below; built through scope_add so they are valid. */
static int scope_named(const char *which, struct scope *s)
{
    struct scope_entry e[2];
    size_t n = 0;
    if (strcmp(which, "root") == 0) {
        e[n++] = entry_range("12025550000", 10000);
    } else if (strcmp(which, "inter") == 0) {
        e[n++] = entry_spc("709J");
        e[n++] = entry_range("12025550100", 1000);
    } else {
        e[n++] = entry_spc("709J");
        e[n++] = entry_range("12025550100", 100);
    }
    for (size_t i = 0; i < n; i++)
        if (scope_add(s, &e[i]) != STI_OK)
            return -1;
    return 0;
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static int add_tnauth(X509 *x, const uint8_t *der, size_t n)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    int ok = oid && os && ASN1_OCTET_STRING_set(os, der, (int)n) &&
             (ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL &&
             X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return ok;
}

static X509 *make_cert(const struct certspec *c)
{
    static uint64_t serial = 0x1000;
    X509 *x = X509_new();
    X509_NAME *name = X509_NAME_new();
    X509V3_CTX ctx;
    int ok = x && name;

    ok = ok && X509_set_version(x, X509_VERSION_3);
    ok = ok && ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial++);
    ok = ok && X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"US",
                                          -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                          (const unsigned char *)"stisign test", -1, -1, 0);
    ok = ok && X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                          (const unsigned char *)c->cn, -1, -1, 0);
    ok = ok && X509_set_subject_name(x, name);
    ok = ok && X509_set_issuer_name(x, c->issuer ? X509_get_subject_name(c->issuer) : name);
    ok = ok && ASN1_TIME_set(X509_getm_notBefore(x), c->nb) != NULL;
    ok = ok && ASN1_TIME_set(X509_getm_notAfter(x), c->na) != NULL;
    ok = ok && X509_set_pubkey(x, c->key);

    if (ok) {
        X509V3_set_ctx(&ctx, c->issuer ? c->issuer : x, x, NULL, NULL, 0);
        ok = add_ext(x, &ctx, NID_basic_constraints, c->ca ? "critical,CA:TRUE" : "critical,CA:FALSE") &&
             add_ext(x, &ctx, NID_key_usage,
                     c->ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature") &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always");
    }
    if (ok && c->raw_tnauth) {
        ok = add_tnauth(x, c->raw_tnauth, c->raw_n);
    } else if (ok && c->scope) {
        struct scope s;
        uint8_t *der = NULL;
        size_t n = 0;
        scope_init(&s);
        ok = scope_named(c->scope, &s) == 0 && pki_tnauth_encode(&s, &der, &n) == STI_OK &&
             add_tnauth(x, der, n) && (!c->tnauth_twice || add_tnauth(x, der, n));
        free(der);
        scope_free(&s);
    }
    ok = ok && X509_sign(x, c->issuer_key ? c->issuer_key : c->key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* ---- fixture: built once, kept for the process ---- */

static struct {
    EVP_PKEY *root_key, *inter_key, *leaf_key, *other_key, *p384_key, *rsa_key;
    X509 *root, *inter, *leaf;
} fx;

static int fixture(void)
{
    if (fx.leaf)
        return 1;
    fx.root_key = EVP_EC_gen("P-256");
    fx.inter_key = EVP_EC_gen("P-256");
    fx.leaf_key = EVP_EC_gen("P-256");
    fx.other_key = EVP_EC_gen("P-256");
    fx.p384_key = EVP_EC_gen("P-384");
    fx.rsa_key = EVP_RSA_gen(2048);
    if (!fx.root_key || !fx.inter_key || !fx.leaf_key || !fx.other_key || !fx.p384_key ||
        !fx.rsa_key)
        return 0;
    struct certspec r = {.cn = "Test STI Root", .key = fx.root_key, .ca = 1, .scope = "root",
                         .nb = NB, .na = NA + 365 * DAY};
    fx.root = make_cert(&r);
    struct certspec i = {.cn = "Test Delegate CA", .key = fx.inter_key, .issuer = fx.root,
                         .issuer_key = fx.root_key, .ca = 1, .scope = "inter", .nb = NB,
                         .na = NA + 60 * DAY};
    fx.inter = fx.root ? make_cert(&i) : NULL;
    struct certspec l = {.cn = "SHAKEN 709J", .key = fx.leaf_key, .issuer = fx.inter,
                         .issuer_key = fx.inter_key, .scope = "leaf", .nb = NB, .na = NA};
    fx.leaf = fx.inter ? make_cert(&l) : NULL;
    return fx.leaf != NULL;
}

/* A leaf variant signed by the intermediate; only the given fields differ. */
static X509 *leaf_variant(struct certspec l)
{
    if (!l.cn)
        l.cn = "SHAKEN 709J";
    if (!l.key)
        l.key = fx.leaf_key;
    if (!l.issuer)
        l.issuer = fx.inter;
    if (!l.issuer_key)
        l.issuer_key = fx.inter_key;
    if (!l.nb && !l.na) {
        l.nb = NB;
        l.na = NA;
    }
    return make_cert(&l);
}

static STACK_OF(X509) *chain_of(X509 *a, X509 *b, X509 *c)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *v[3] = {a, b, c};
    for (int i = 0; sk && i < 3 && v[i]; i++) {
        X509_up_ref(v[i]);
        sk_X509_push(sk, v[i]);
    }
    return sk;
}

static int key_point(EVP_PKEY *k, uint8_t pt[65])
{
    size_t n = 0;
    return EVP_PKEY_get_octet_string_param(k, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, pt, 65, &n) &&
           n == 65;
}

static char *pem_of_certs(X509 *a, X509 *b, X509 *c, size_t *n)
{
    BIO *bio = BIO_new(BIO_s_mem());
    X509 *v[3] = {a, b, c};
    for (int i = 0; i < 3 && v[i]; i++)
        PEM_write_bio_X509(bio, v[i]);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    char *out = malloc((size_t)len + 1);
    memcpy(out, data, (size_t)len);
    out[len] = '\0';
    *n = (size_t)len;
    BIO_free(bio);
    return out;
}

#define FIXTURE() CHECK(fixture())

/* ---- scope from certificates ---- */

TEST(reads_scope_from_leaf_tnauthlist)
{
    FIXTURE();
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_cert_scope(fx.leaf, &s), STI_OK);
    CHECK_INT(s.n, 2);
    CHECK_INT(s.e[0].kind, SCOPE_SPC);
    CHECK_STR(s.e[0].spc, "709J");
    CHECK_INT(s.e[1].kind, SCOPE_RANGE);
    CHECK_STR(s.e[1].tn, "12025550100");
    CHECK_INT(s.e[1].count, 100);
    scope_free(&s);
}

TEST(reads_scope_from_ca_certificates)
{
    FIXTURE();
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_cert_scope(fx.inter, &s), STI_OK);
    CHECK_INT(s.n, 2);
    CHECK_INT(s.e[1].count, 1000);
    CHECK_RC(pki_cert_scope(fx.root, &s), STI_OK);
    CHECK_INT(s.n, 3);
    CHECK_STR(s.e[2].tn, "12025550000");
    scope_free(&s);
}

TEST(reports_notnauth_when_extension_missing)
{
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.scope = NULL});
    CHECK(x);
    struct scope s;
    scope_init(&s);
    int rc = pki_cert_scope(x, &s);
    X509_free(x);
    CHECK_RC(rc, STI_EPKI_NOTNAUTH);
    CHECK_INT(s.n, 0);
}

TEST(rejects_implicit_tagged_tnauthlist_extension)
{
    FIXTURE();
    static const uint8_t implicit_spc[] = {0x30, 0x06, 0x80, 0x04, 0x37, 0x30, 0x39, 0x4a};
    X509 *x = leaf_variant((struct certspec){.raw_tnauth = implicit_spc,
                                             .raw_n = sizeof implicit_spc});
    CHECK(x);
    struct scope s;
    scope_init(&s);
    int rc = pki_cert_scope(x, &s);
    X509_free(x);
    CHECK_RC(rc, STI_EPKI_TNAUTH);
}

TEST(rejects_repeated_tnauthlist_extension)
{
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.scope = "leaf", .tnauth_twice = 1});
    CHECK(x);
    struct scope s;
    scope_init(&s);
    int rc = pki_cert_scope(x, &s);
    X509_free(x);
    scope_free(&s);
    CHECK_RC(rc, STI_EPKI_TNAUTH);
}

/* ---- validity ---- */

TEST(cert_times_returns_exact_bounds)
{
    FIXTURE();
    time_t nb = 0, na = 0;
    CHECK_RC(pki_cert_times(fx.leaf, &nb, &na), STI_OK);
    CHECK_INT(nb, NB);
    CHECK_INT(na, NA);
}

TEST(cert_times_reads_generalized_time_after_2049)
{
    FIXTURE();
    /* 2051-01-01T00:00:00Z is encoded as GeneralizedTime (RFC 5280). */
    const time_t y2051 = 2556144000;
    X509 *x = leaf_variant((struct certspec){.scope = "leaf", .nb = NB, .na = y2051});
    CHECK(x);
    int gt = ASN1_STRING_type(X509_get0_notAfter(x)) == V_ASN1_GENERALIZEDTIME;
    time_t nb = 0, na = 0;
    int rc = pki_cert_times(x, &nb, &na);
    X509_free(x);
    CHECK(gt);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(na, y2051);
}

TEST(accepts_time_at_both_validity_bounds)
{
    FIXTURE();
    CHECK_RC(pki_cert_check_time(fx.leaf, NB), STI_OK);
    CHECK_RC(pki_cert_check_time(fx.leaf, T0), STI_OK);
    CHECK_RC(pki_cert_check_time(fx.leaf, NA), STI_OK);
}

TEST(reports_notyet_one_second_before_not_before)
{
    FIXTURE();
    CHECK_RC(pki_cert_check_time(fx.leaf, NB - 1), STI_EPKI_NOTYET);
}

TEST(reports_expired_one_second_after_not_after)
{
    FIXTURE();
    CHECK_RC(pki_cert_check_time(fx.leaf, NA + 1), STI_EPKI_EXPIRED);
}

/* ---- keys ---- */

TEST(cert_point_is_uncompressed_p256_point_of_key)
{
    FIXTURE();
    uint8_t want[65], got[65];
    CHECK(key_point(fx.leaf_key, want));
    CHECK_INT(want[0], 0x04);
    CHECK_RC(pki_cert_point(fx.leaf, got), STI_OK);
    CHECK_MEM(got, want, 65);
}

TEST(key_point_matches_cert_point)
{
    FIXTURE();
    uint8_t a[65], b[65];
    CHECK_RC(pki_key_point(fx.leaf_key, a), STI_OK);
    CHECK_RC(pki_cert_point(fx.leaf, b), STI_OK);
    CHECK_MEM(a, b, 65);
}

TEST(matches_point_of_own_key)
{
    FIXTURE();
    uint8_t pt[65];
    CHECK(key_point(fx.leaf_key, pt));
    CHECK_RC(pki_cert_matches_point(fx.leaf, pt), STI_OK);
}

TEST(reports_keymismatch_for_another_key)
{
    FIXTURE();
    uint8_t pt[65];
    CHECK(key_point(fx.other_key, pt));
    CHECK_RC(pki_cert_matches_point(fx.leaf, pt), STI_EPKI_KEYMISMATCH);
}

TEST(rejects_p384_certificate_key_as_keytype)
{
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.key = fx.p384_key, .scope = "leaf"});
    CHECK(x);
    uint8_t pt[65];
    int rc1 = pki_cert_point(x, pt);
    CHECK(key_point(fx.leaf_key, pt));
    int rc2 = pki_cert_matches_point(x, pt);
    X509_free(x);
    CHECK_RC(rc1, STI_EPKI_KEYTYPE);
    CHECK_RC(rc2, STI_EPKI_KEYTYPE);
    CHECK_RC(pki_key_check_p256(fx.p384_key), STI_EPKI_KEYTYPE);
}

TEST(rejects_rsa_certificate_key_as_keytype)
{
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.key = fx.rsa_key, .scope = "leaf"});
    CHECK(x);
    uint8_t pt[65];
    int rc = pki_cert_point(x, pt);
    X509_free(x);
    CHECK_RC(rc, STI_EPKI_KEYTYPE);
    CHECK_RC(pki_key_check_p256(fx.rsa_key), STI_EPKI_KEYTYPE);
}

/* ---- chain order ---- */

TEST(accepts_leaf_intermediate_root_order)
{
    FIXTURE();
    STACK_OF(X509) *sk = chain_of(fx.leaf, fx.inter, fx.root);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_RC(rc, STI_OK);
}

TEST(accepts_chain_ending_below_the_root)
{
    FIXTURE();
    STACK_OF(X509) *sk = chain_of(fx.leaf, fx.inter, NULL);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_RC(rc, STI_OK);
}

TEST(accepts_lone_leaf)
{
    FIXTURE();
    STACK_OF(X509) *sk = chain_of(fx.leaf, NULL, NULL);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_RC(rc, STI_OK);
}

TEST(rejects_chain_out_of_order)
{
    FIXTURE();
    STACK_OF(X509) *sk = chain_of(fx.leaf, fx.root, fx.inter);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

TEST(rejects_root_first_chain)
{
    FIXTURE();
    STACK_OF(X509) *sk = chain_of(fx.root, fx.inter, fx.leaf);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

TEST(rejects_leaf_with_forged_issuer_signature)
{
    /* Issuer name and key identifier point at the intermediate, but another
     * key signed it: only the signature check can tell. */
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.issuer_key = fx.other_key, .scope = "leaf"});
    CHECK(x);
    STACK_OF(X509) *sk = chain_of(x, fx.inter, fx.root);
    int rc = pki_chain_check_order(sk);
    sk_X509_pop_free(sk, X509_free);
    X509_free(x);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

TEST(rejects_empty_chain)
{
    STACK_OF(X509) *sk = sk_X509_new_null();
    int rc = pki_chain_check_order(sk);
    sk_X509_free(sk);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

/* ---- chain intake ---- */

TEST(parses_pem_chain_leaf_first)
{
    FIXTURE();
    size_t n = 0;
    char *pem = pem_of_certs(fx.leaf, fx.inter, fx.root, &n);
    STACK_OF(X509) *sk = NULL;
    int rc = pki_chain_parse(pem, n, &sk);
    free(pem);
    CHECK_RC(rc, STI_OK);
    int num = sk_X509_num(sk);
    int same = num == 3 && X509_cmp(sk_X509_value(sk, 0), fx.leaf) == 0 &&
               X509_cmp(sk_X509_value(sk, 1), fx.inter) == 0 &&
               X509_cmp(sk_X509_value(sk, 2), fx.root) == 0;
    sk_X509_pop_free(sk, X509_free);
    CHECK_INT(num, 3);
    CHECK(same);
}

TEST(rejects_empty_pem)
{
    STACK_OF(X509) *sk = NULL;
    CHECK_RC(pki_chain_parse("", 0, &sk), STI_EPKI_PARSE);
    CHECK(sk == NULL);
}

TEST(rejects_text_without_certificates)
{
    static const char txt[] = "hello, this is not a certificate\n";
    STACK_OF(X509) *sk = NULL;
    CHECK_RC(pki_chain_parse(txt, sizeof txt - 1, &sk), STI_EPKI_PARSE);
    CHECK(sk == NULL);
}

TEST(rejects_chain_with_corrupt_second_certificate)
{
    FIXTURE();
    size_t n = 0;
    char *pem = pem_of_certs(fx.leaf, fx.inter, NULL, &n);
    /* Inside the second block's base64, replace a run with '!' characters. */
    char *second = strstr(pem + 1, "-----BEGIN CERTIFICATE-----\n");
    if (second)
        memset(second + 40, '!', 10);
    STACK_OF(X509) *sk = NULL;
    int rc = pki_chain_parse(pem, n, &sk);
    free(pem);
    CHECK(second);
    CHECK_RC(rc, STI_EPKI_PARSE);
    CHECK(sk == NULL);
}

TEST(loads_chain_from_file)
{
    FIXTURE();
    char path[] = "/tmp/stisign_test_chain_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    size_t n = 0;
    char *pem = pem_of_certs(fx.leaf, fx.inter, NULL, &n);
    ssize_t w = write(fd, pem, n);
    close(fd);
    free(pem);
    STACK_OF(X509) *sk = NULL;
    int rc = pki_chain_load(path, &sk);
    unlink(path);
    int num = sk_X509_num(sk);
    sk_X509_pop_free(sk, X509_free);
    CHECK_INT(w, (ssize_t)n);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(num, 2);
}

TEST(load_reports_eio_for_missing_file)
{
    STACK_OF(X509) *sk = NULL;
    CHECK_RC(pki_chain_load("/nonexistent/stisign/chain.pem", &sk), STI_EIO);
    CHECK(sk == NULL);
}

/* ---- the credential gate ---- */

static int credential_rc(X509 *a, X509 *b, X509 *c, EVP_PKEY *pointkey, time_t now)
{
    uint8_t pt[65];
    if (!key_point(pointkey, pt))
        return -1;
    STACK_OF(X509) *sk = chain_of(a, b, c);
    int rc = pki_credential_check(sk, pt, now, NULL);
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

TEST(accepts_valid_credential_and_returns_leaf_scope)
{
    FIXTURE();
    uint8_t pt[65];
    CHECK(key_point(fx.leaf_key, pt));
    STACK_OF(X509) *sk = chain_of(fx.leaf, fx.inter, fx.root);
    struct scope s;
    scope_init(&s);
    int rc = pki_credential_check(sk, pt, T0, &s);
    sk_X509_pop_free(sk, X509_free);
    size_t n = s.n;
    int spc_first = n > 0 && s.e[0].kind == SCOPE_SPC;
    scope_free(&s);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(n, 2);
    CHECK(spc_first);
}

TEST(credential_rejects_point_of_another_key)
{
    FIXTURE();
    CHECK_RC(credential_rc(fx.leaf, fx.inter, NULL, fx.other_key, T0), STI_EPKI_KEYMISMATCH);
}

TEST(credential_rejects_expired_leaf)
{
    FIXTURE();
    CHECK_RC(credential_rc(fx.leaf, fx.inter, NULL, fx.leaf_key, NA + 1), STI_EPKI_EXPIRED);
}

TEST(credential_rejects_not_yet_valid_leaf)
{
    FIXTURE();
    CHECK_RC(credential_rc(fx.leaf, fx.inter, NULL, fx.leaf_key, NB - 1), STI_EPKI_NOTYET);
}

TEST(credential_rejects_leaf_without_tnauthlist)
{
    FIXTURE();
    X509 *x = leaf_variant((struct certspec){.scope = NULL});
    CHECK(x);
    int rc = credential_rc(x, fx.inter, NULL, fx.leaf_key, T0);
    X509_free(x);
    CHECK_RC(rc, STI_EPKI_NOTNAUTH);
}

TEST(credential_rejects_chain_out_of_order)
{
    FIXTURE();
    CHECK_RC(credential_rc(fx.leaf, fx.root, fx.inter, fx.leaf_key, T0), STI_EPKI_CHAIN);
}

TEST(credential_rejects_empty_chain)
{
    FIXTURE();
    uint8_t pt[65];
    CHECK(key_point(fx.leaf_key, pt));
    STACK_OF(X509) *sk = sk_X509_new_null();
    int rc = pki_credential_check(sk, pt, T0, NULL);
    sk_X509_free(sk);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

/* ---- CSRs ---- */

static char *pem_of_req(X509_REQ *req)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL, *out = NULL;
    if (bio && PEM_write_bio_X509_REQ(bio, req)) {
        long len = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)len + 1);
        memcpy(out, data, (size_t)len);
        out[len] = '\0';
    }
    BIO_free(bio);
    return out;
}

/* Decodes a CSR PEM, lets edit() change its DER, and returns the result as
 * PEM again (NULL if the edit made it unparseable). */
static char *csr_tamper(const char *pem, void (*edit)(uint8_t *der, int n))
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_REQ *req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    BIO_free(bio);
    uint8_t *der = NULL;
    int n = req ? i2d_X509_REQ(req, &der) : -1;
    X509_REQ_free(req);
    if (n <= 0)
        return NULL;
    edit(der, n);
    const unsigned char *p = der;
    req = d2i_X509_REQ(NULL, &p, n);
    OPENSSL_free(der);
    char *out = req ? pem_of_req(req) : NULL;
    X509_REQ_free(req);
    return out;
}

/* The last byte of the DER is the last byte of the ECDSA s value. */
static void flip_last_byte(uint8_t *der, int n)
{
    der[n - 1] ^= 0x01;
}

/* Changes the organisation "Acme" to "Acmf" inside the signed part. */
static void rename_org(uint8_t *der, int n)
{
    for (int i = 0; i + 4 <= n; i++)
        if (memcmp(der + i, "Acme", 4) == 0) {
            der[i + 3] = 'f';
            return;
        }
}

static int leaf_scope(struct scope *s)
{
    scope_init(s);
    return scope_named("leaf", s);
}

TEST(csr_round_trip_preserves_scope_and_subject)
{
    FIXTURE();
    struct scope want, got;
    CHECK(leaf_scope(&want) == 0);
    scope_init(&got);
    char *pem = NULL;
    CHECK_RC(pki_csr_make(fx.leaf_key, "C=US, O=Acme, CN=SHAKEN 709J", &want, &pem), STI_OK);
    CHECK(pem && strstr(pem, "-----BEGIN CERTIFICATE REQUEST-----") == pem);
    X509_REQ *req = NULL;
    int rc = pki_csr_parse(pem, strlen(pem), &req, &got);
    free(pem);
    CHECK_RC(rc, STI_OK);
    CHECK(req);

    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "C", MBSTRING_UTF8, (const unsigned char *)"US", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)"Acme", -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"SHAKEN 709J",
                               -1, -1, 0);
    int name_cmp = X509_NAME_cmp(X509_REQ_get_subject_name(req), name);
    X509_NAME_free(name);
    uint8_t kp[65], rp[65];
    int krc = pki_key_point(fx.leaf_key, kp);
    int rrc = pki_key_point(X509_REQ_get0_pubkey(req), rp);
    X509_REQ_free(req);

    CHECK_INT(name_cmp, 0);
    CHECK_RC(krc, STI_OK);
    CHECK_RC(rrc, STI_OK);
    CHECK_MEM(rp, kp, 65);
    CHECK_INT(got.n, want.n);
    for (size_t i = 0; i < want.n; i++) {
        CHECK_INT(got.e[i].kind, want.e[i].kind);
        CHECK_STR(got.e[i].spc, want.e[i].spc);
        CHECK_STR(got.e[i].tn, want.e[i].tn);
        CHECK_INT(got.e[i].count, want.e[i].count);
    }
    scope_free(&want);
    scope_free(&got);
}

TEST(csr_accepts_slash_subject_form)
{
    FIXTURE();
    struct scope s;
    CHECK(leaf_scope(&s) == 0);
    char *a = NULL, *b = NULL;
    CHECK_RC(pki_csr_make(fx.leaf_key, "/C=US/O=Acme/CN=SHAKEN 709J", &s, &a), STI_OK);
    CHECK_RC(pki_csr_make(fx.leaf_key, "C=US,O=Acme,CN=SHAKEN 709J", &s, &b), STI_OK);
    X509_REQ *ra = NULL, *rb = NULL;
    int rc1 = pki_csr_parse(a, strlen(a), &ra, NULL);
    int rc2 = pki_csr_parse(b, strlen(b), &rb, NULL);
    int cmp = ra && rb ? X509_NAME_cmp(X509_REQ_get_subject_name(ra), X509_REQ_get_subject_name(rb))
                       : -1;
    X509_REQ_free(ra);
    X509_REQ_free(rb);
    free(a);
    free(b);
    scope_free(&s);
    CHECK_RC(rc1, STI_OK);
    CHECK_RC(rc2, STI_OK);
    CHECK_INT(cmp, 0);
}

TEST(csr_rejects_tampered_signature)
{
    FIXTURE();
    struct scope s;
    CHECK(leaf_scope(&s) == 0);
    char *pem = NULL;
    CHECK_RC(pki_csr_make(fx.leaf_key, "C=US,O=Acme,CN=SHAKEN 709J", &s, &pem), STI_OK);
    scope_free(&s);
    char *bad = csr_tamper(pem, flip_last_byte);
    free(pem);
    CHECK(bad);
    X509_REQ *req = NULL;
    scope_init(&s);
    int rc = pki_csr_parse(bad, strlen(bad), &req, &s);
    free(bad);
    CHECK_RC(rc, STI_EPKI_SIG);
    CHECK(req == NULL);
    CHECK_INT(s.n, 0);
}

TEST(csr_rejects_tampered_subject)
{
    FIXTURE();
    struct scope s;
    CHECK(leaf_scope(&s) == 0);
    char *pem = NULL;
    CHECK_RC(pki_csr_make(fx.leaf_key, "C=US,O=Acme,CN=SHAKEN 709J", &s, &pem), STI_OK);
    scope_free(&s);
    char *bad = csr_tamper(pem, rename_org);
    free(pem);
    CHECK(bad);
    int rc = pki_csr_parse(bad, strlen(bad), NULL, NULL);
    free(bad);
    CHECK_RC(rc, STI_EPKI_SIG);
}

TEST(csr_without_tnauthlist_reports_notnauth)
{
    FIXTURE();
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)"x", -1, -1, 0);
    X509_REQ_set_subject_name(req, name);
    X509_NAME_free(name);
    X509_REQ_set_pubkey(req, fx.leaf_key);
    int signed_ok = X509_REQ_sign(req, fx.leaf_key, EVP_sha256()) > 0;
    char *pem = pem_of_req(req);
    X509_REQ_free(req);
    CHECK(signed_ok && pem);
    int rc = pki_csr_parse(pem, strlen(pem), NULL, NULL);
    free(pem);
    CHECK_RC(rc, STI_EPKI_NOTNAUTH);
}

TEST(csr_parse_rejects_garbage)
{
    static const char txt[] = "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n"
                              "-----END CERTIFICATE REQUEST-----\n";
    CHECK_RC(pki_csr_parse(txt, sizeof txt - 1, NULL, NULL), STI_EPKI_PARSE);
    CHECK_RC(pki_csr_parse("", 0, NULL, NULL), STI_EPKI_PARSE);
}

TEST(csr_make_rejects_p384_key)
{
    FIXTURE();
    struct scope s;
    CHECK(leaf_scope(&s) == 0);
    char *pem = NULL;
    int rc = pki_csr_make(fx.p384_key, "C=US,O=Acme,CN=SHAKEN 709J", &s, &pem);
    scope_free(&s);
    CHECK_RC(rc, STI_EPKI_KEYTYPE);
    CHECK(pem == NULL);
}

TEST(csr_make_rejects_malformed_subject)
{
    FIXTURE();
    struct scope s;
    CHECK(leaf_scope(&s) == 0);
    static const char *bad[] = {"", "CN", "C=US,,CN=x", "C=US,CN=", "XX=1", "/C=US/", "=x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *pem = NULL;
        int rc = pki_csr_make(fx.leaf_key, bad[i], &s, &pem);
        if (rc != STI_EINVAL)
            fprintf(stderr, "subject \"%s\"\n", bad[i]);
        free(pem);
        CHECK_RC(rc, STI_EINVAL);
    }
    scope_free(&s);
}

TEST(csr_make_rejects_empty_scope)
{
    FIXTURE();
    struct scope s;
    scope_init(&s);
    char *pem = NULL;
    CHECK_RC(pki_csr_make(fx.leaf_key, "CN=x", &s, &pem), STI_EINVAL);
    CHECK(pem == NULL);
}

CHECK_MAIN(CASE(reads_scope_from_leaf_tnauthlist), CASE(reads_scope_from_ca_certificates),
           CASE(reports_notnauth_when_extension_missing),
           CASE(rejects_implicit_tagged_tnauthlist_extension),
           CASE(rejects_repeated_tnauthlist_extension), CASE(cert_times_returns_exact_bounds),
           CASE(cert_times_reads_generalized_time_after_2049),
           CASE(accepts_time_at_both_validity_bounds),
           CASE(reports_notyet_one_second_before_not_before),
           CASE(reports_expired_one_second_after_not_after),
           CASE(cert_point_is_uncompressed_p256_point_of_key), CASE(key_point_matches_cert_point),
           CASE(matches_point_of_own_key), CASE(reports_keymismatch_for_another_key),
           CASE(rejects_p384_certificate_key_as_keytype),
           CASE(rejects_rsa_certificate_key_as_keytype), CASE(accepts_leaf_intermediate_root_order),
           CASE(accepts_chain_ending_below_the_root), CASE(accepts_lone_leaf),
           CASE(rejects_chain_out_of_order), CASE(rejects_root_first_chain),
           CASE(rejects_leaf_with_forged_issuer_signature), CASE(rejects_empty_chain),
           CASE(parses_pem_chain_leaf_first), CASE(rejects_empty_pem),
           CASE(rejects_text_without_certificates),
           CASE(rejects_chain_with_corrupt_second_certificate), CASE(loads_chain_from_file),
           CASE(load_reports_eio_for_missing_file),
           CASE(accepts_valid_credential_and_returns_leaf_scope),
           CASE(credential_rejects_point_of_another_key), CASE(credential_rejects_expired_leaf),
           CASE(credential_rejects_not_yet_valid_leaf),
           CASE(credential_rejects_leaf_without_tnauthlist),
           CASE(credential_rejects_chain_out_of_order), CASE(credential_rejects_empty_chain),
           CASE(csr_round_trip_preserves_scope_and_subject), CASE(csr_accepts_slash_subject_form),
           CASE(csr_rejects_tampered_signature), CASE(csr_rejects_tampered_subject),
           CASE(csr_without_tnauthlist_reports_notnauth), CASE(csr_parse_rejects_garbage),
           CASE(csr_make_rejects_p384_key), CASE(csr_make_rejects_malformed_subject),
           CASE(csr_make_rejects_empty_scope))
