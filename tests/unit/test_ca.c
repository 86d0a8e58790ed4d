/*
 * test_ca.c — the Delegate CA (firmware/pki/ca.c) and its ledger
 * (firmware/pki/ledger.c).
 *
 * Keys are software P-256 keys made in-process (the token path is the
 * integration test's), times are fixed, and every refusal is checked for
 * its exact code and, for scope refusals, the exact entries reported
 * outside the CA's scope.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "check.h"
#include "ledger.h"
#include "pki.h"
#include "sti_err.h"

#define T0 ((time_t)1750000000) /* 2025-06-15T15:06:40Z */
#define DAY ((time_t)86400)
#define NB (T0 - DAY)
#define NA (T0 + 30 * DAY)

#define POLICY "2.16.840.1.114569.1.1.3"
#define CRL_URI "http://crl.example.com/dca.crl"
#define CA_SCOPE "range:12025550100/100 range:12025550200/100 tn:14045550123 spc:709J"
#define AF_SUBJECT "C=US,O=Acme,CN=SHAKEN 1234"

/* ---- certificates and requests made here ---- */

struct certspec {
    const char *cn;
    EVP_PKEY *key;
    X509 *issuer; /* NULL: self-signed */
    EVP_PKEY *issuer_key;
    const char *bc; /* basicConstraints value, NULL for none */
    const char *ku; /* keyUsage value, NULL for none */
    const char *scope;
    time_t nb, na;
};

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *ext = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = ext != NULL && X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok;
}

static X509_EXTENSION *tnauth_ext_from_der(const uint8_t *der, size_t n)
{
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext = NULL;
    if (oid && os && ASN1_OCTET_STRING_set(os, der, (int)n))
        ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    return ext;
}

static X509_EXTENSION *tnauth_ext(const char *scope_text)
{
    struct scope s;
    uint8_t *der = NULL;
    size_t n = 0;
    X509_EXTENSION *ext = NULL;
    scope_init(&s);
    if (scope_parse_list(scope_text, &s) == STI_OK && pki_tnauth_encode(&s, &der, &n) == STI_OK)
        ext = tnauth_ext_from_der(der, n);
    free(der);
    scope_free(&s);
    return ext;
}

static X509 *make_cert(const struct certspec *c)
{
    static uint64_t serial = 0x5000;
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    X509V3_CTX ctx;
    int ok = x != NULL;

    ok = ok && X509_set_version(x, X509_VERSION_3);
    ok = ok && ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial++);
    ok = ok && pki_name_parse(c->cn, &name) == STI_OK;
    ok = ok && X509_set_subject_name(x, name);
    ok = ok && X509_set_issuer_name(x, c->issuer ? X509_get_subject_name(c->issuer) : name);
    ok = ok && ASN1_TIME_set(X509_getm_notBefore(x), c->nb) != NULL;
    ok = ok && ASN1_TIME_set(X509_getm_notAfter(x), c->na) != NULL;
    ok = ok && X509_set_pubkey(x, c->key);
    if (ok) {
        X509V3_set_ctx(&ctx, c->issuer ? c->issuer : x, x, NULL, NULL, 0);
        ok = (!c->bc || add_ext(x, &ctx, NID_basic_constraints, c->bc)) &&
             (!c->ku || add_ext(x, &ctx, NID_key_usage, c->ku)) &&
             add_ext(x, &ctx, NID_subject_key_identifier, "hash") &&
             (!c->issuer || add_ext(x, &ctx, NID_authority_key_identifier, "keyid:always"));
    }
    if (ok && c->scope) {
        X509_EXTENSION *ext = tnauth_ext(c->scope);
        ok = ext != NULL && X509_add_ext(x, ext, -1);
        X509_EXTENSION_free(ext);
    }
    ok = ok && X509_sign(x, c->issuer_key ? c->issuer_key : c->key, EVP_sha256()) > 0;
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

struct csrspec {
    EVP_PKEY *key;    /* subject key */
    EVP_PKEY *signer; /* NULL: key (a valid self-signature) */
    const char *subject;
    const char *scope; /* NULL: no TNAuthList */
    const uint8_t *raw_tnauth;
    size_t raw_n;
    int extras; /* also request basicConstraints CA:TRUE, keyUsage keyCertSign, a SAN */
};

/* PEM request (malloc'd) or NULL. */
static char *make_csr(const struct csrspec *c)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    BIO *bio = NULL;
    char *pem = NULL;
    X509V3_CTX ctx;
    int ok = req && exts;

    ok = ok && pki_name_parse(c->subject ? c->subject : AF_SUBJECT, &name) == STI_OK;
    ok = ok && X509_REQ_set_version(req, X509_REQ_VERSION_1);
    ok = ok && X509_REQ_set_subject_name(req, name);
    ok = ok && X509_REQ_set_pubkey(req, c->key);
    if (ok && c->extras) {
        X509V3_set_ctx(&ctx, NULL, NULL, req, NULL, 0);
        const int nids[] = {NID_basic_constraints, NID_key_usage, NID_subject_alt_name};
        const char *vals[] = {"critical,CA:TRUE", "critical,keyCertSign,digitalSignature",
                              "DNS:pbx.acme.example"};
        for (int i = 0; ok && i < 3; i++) {
            X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, &ctx, nids[i], vals[i]);
            ok = e != NULL && sk_X509_EXTENSION_push(exts, e) > 0;
            if (!ok)
                X509_EXTENSION_free(e);
        }
    }
    if (ok && (c->scope || c->raw_tnauth)) {
        X509_EXTENSION *e =
            c->raw_tnauth ? tnauth_ext_from_der(c->raw_tnauth, c->raw_n) : tnauth_ext(c->scope);
        ok = e != NULL && sk_X509_EXTENSION_push(exts, e) > 0;
        if (!ok)
            X509_EXTENSION_free(e);
    }
    if (ok && sk_X509_EXTENSION_num(exts) > 0)
        ok = X509_REQ_add_extensions(req, exts);
    ok = ok && X509_REQ_sign(req, c->signer ? c->signer : c->key, EVP_sha256()) > 0;
    ok = ok && (bio = BIO_new(BIO_s_mem())) != NULL && PEM_write_bio_X509_REQ(bio, req);
    if (ok) {
        char *data;
        long len = BIO_get_mem_data(bio, &data);
        pem = malloc((size_t)len + 1);
        if (pem) {
            memcpy(pem, data, (size_t)len);
            pem[len] = '\0';
        }
    }
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return pem;
}

/* ---- fixture: keys, a root, the Delegate CA, built once ---- */

static struct {
    EVP_PKEY *root_key, *ca_key, *af_key, *other_key, *p384_key;
    X509 *root, *ca_cert, *spc_ca_cert;
    struct pki_ca ca, spc_ca;
    int ready;
} fx;

static const struct pki_issue_policy default_policy = {POLICY, CRL_URI, 365, NULL, SCOPE_SPC_DENY};

static void fixture_free_(void);

static int fixture(void)
{
    if (fx.ready)
        return 1;
    atexit(fixture_free_);
    fx.root_key = EVP_EC_gen("P-256");
    fx.ca_key = EVP_EC_gen("P-256");
    fx.af_key = EVP_EC_gen("P-256");
    fx.other_key = EVP_EC_gen("P-256");
    fx.p384_key = EVP_EC_gen("P-384");
    if (!fx.root_key || !fx.ca_key || !fx.af_key || !fx.other_key || !fx.p384_key)
        return 0;
    struct certspec r = {
        "C=US,O=Test STI-CA,CN=Test STI Root", fx.root_key, NULL, NULL,          "critical,CA:TRUE",
        "critical,keyCertSign,cRLSign",        NULL,        NB,   NA + 365 * DAY};
    fx.root = make_cert(&r);
    if (!fx.root)
        return 0;
    struct certspec c = {"C=US,O=Test TNP,CN=Test Delegate CA",
                         fx.ca_key,
                         fx.root,
                         fx.root_key,
                         "critical,CA:TRUE,pathlen:0",
                         "critical,keyCertSign,cRLSign",
                         CA_SCOPE,
                         NB,
                         NA};
    fx.ca_cert = make_cert(&c);
    c.scope = "spc:709J";
    c.cn = "C=US,O=Test TNP,CN=Test SPC Delegate CA";
    fx.spc_ca_cert = make_cert(&c);
    if (!fx.ca_cert || !fx.spc_ca_cert)
        return 0;
    STACK_OF(X509) *above = sk_X509_new_null();
    int ok = above && sk_X509_push(above, fx.root) > 0 &&
             pki_ca_init(&fx.ca, fx.ca_cert, fx.ca_key, above, T0) == STI_OK &&
             pki_ca_init(&fx.spc_ca, fx.spc_ca_cert, fx.ca_key, NULL, T0) == STI_OK;
    sk_X509_free(above);
    fx.ready = ok;
    return ok;
}

/* Issues from a request for scope_text with the fixture's AF key. The
 * outside entries come back as text in outside_text (may be NULL). */
static int issue_scope(const struct pki_ca *ca, const char *scope_text,
                       const struct pki_issue_policy *pol, X509 **out, char *outside_text,
                       size_t cap)
{
    struct csrspec cs = {.key = fx.af_key, .scope = scope_text};
    char *pem = make_csr(&cs);
    struct scope outside;
    scope_init(&outside);
    if (pem == NULL)
        return -1;
    int rc =
        pki_ca_issue(ca, pem, strlen(pem), pol ? pol : &default_policy, T0, out, &outside, NULL, 0);
    if (outside_text) {
        outside_text[0] = '\0';
        if (outside.n > 0 && scope_format(&outside, outside_text, cap) != STI_OK)
            rc = -2;
    }
    scope_free(&outside);
    free(pem);
    return rc;
}

static int issue_pem(const char *pem, const struct pki_issue_policy *pol, X509 **out)
{
    struct scope outside;
    scope_init(&outside);
    int rc = pki_ca_issue(&fx.ca, pem, strlen(pem), pol ? pol : &default_policy, T0, out, &outside,
                          NULL, 0);
    if (rc != STI_ESCOPE_OUTSIDE && outside.n != 0)
        rc = -3; /* outside is only filled for scope refusals */
    scope_free(&outside);
    return rc;
}

/* ---- scope containment ---- */

TEST(issues_request_inside_the_ca_scope)
{
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550100/50 tn:14045550123 spc:709J", NULL, &x, NULL, 0),
             STI_OK);
    CHECK(x != NULL);
    struct scope got;
    char text[256];
    scope_init(&got);
    CHECK_RC(pki_cert_scope(x, &got), STI_OK);
    CHECK_RC(scope_format(&got, text, sizeof text), STI_OK);
    CHECK_STR(text, "range:12025550100/50 tn:14045550123 spc:709J");
    scope_free(&got);
    X509_free(x);
}

TEST(range_overlapping_the_ca_end_reports_only_the_overflow)
{
    X509 *x = (X509 *)1;
    char out[256];
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550250/100", NULL, &x, out, sizeof out),
             STI_ESCOPE_OUTSIDE);
    CHECK(x == NULL);
    CHECK_STR(out, "range:12025550300/50");
}

TEST(range_covered_by_two_adjacent_ca_ranges_is_accepted)
{
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550150/100", NULL, &x, NULL, 0), STI_OK);
    X509_free(x);
    CHECK_RC(issue_scope(&fx.ca, "range:12025550100/200", NULL, &x, NULL, 0), STI_OK);
    X509_free(x);
}

TEST(single_tn_at_the_last_number_of_a_ca_range_is_accepted)
{
    X509 *x = NULL;
    char out[64];
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550299", NULL, &x, NULL, 0), STI_OK);
    X509_free(x);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550199", NULL, &x, NULL, 0), STI_OK);
    X509_free(x);
    /* One past the end is not. */
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550300", NULL, &x, out, sizeof out), STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "tn:12025550300");
}

TEST(numbers_of_another_digit_length_are_outside)
{
    X509 *x = NULL;
    char out[128];
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "tn:120255501000 range:1202555010/10 tn:12025550150", NULL, &x,
                         out, sizeof out),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "tn:120255501000 range:1202555010/10");
}

TEST(mixed_request_lists_each_uncovered_part_exactly)
{
    X509 *x = NULL;
    char out[128];
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca,
                         "tn:12025550100 range:12025550290/20 tn:19995550000 range:12025550050/60",
                         NULL, &x, out, sizeof out),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "range:12025550300/10 tn:19995550000 range:12025550050/50");
}

TEST(spc_held_by_the_ca_is_accepted_and_another_spc_is_outside)
{
    X509 *x = NULL;
    char out[64];
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "spc:709J", NULL, &x, NULL, 0), STI_OK);
    X509_free(x);
    CHECK_RC(issue_scope(&fx.ca, "spc:709J spc:123X", NULL, &x, out, sizeof out),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "spc:123X");
}

TEST(spc_only_ca_covers_tns_only_under_the_allow_policy)
{
    X509 *x = NULL;
    char out[64];
    struct pki_issue_policy allow = default_policy;
    allow.spc_policy = SCOPE_SPC_ALLOW;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.spc_ca, "tn:12025550100", NULL, &x, out, sizeof out),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "tn:12025550100");
    CHECK_RC(issue_scope(&fx.spc_ca, "tn:12025550100", &allow, &x, NULL, 0), STI_OK);
    X509_free(x);
    /* Even under allow, another SPC stays outside. */
    CHECK_RC(issue_scope(&fx.spc_ca, "spc:123X", &allow, &x, out, sizeof out), STI_ESCOPE_OUTSIDE);
    CHECK_STR(out, "spc:123X");
}

TEST(request_without_tnauthlist_is_refused)
{
    X509 *x = NULL;
    struct csrspec cs = {.key = fx.af_key};
    CHECK(fixture());
    cs.key = fx.af_key;
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_NOTNAUTH);
    CHECK(x == NULL);
    free(pem);
}

TEST(request_with_empty_tnauthlist_is_refused)
{
    static const uint8_t empty[] = {0x30, 0x00};
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {.key = fx.af_key, .raw_tnauth = empty, .raw_n = sizeof empty};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_TNAUTH);
    free(pem);
}

/* ---- the request itself ---- */

TEST(request_with_a_bad_signature_is_refused)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {.key = fx.af_key, .signer = fx.other_key, .scope = "tn:12025550100"};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_SIG);
    free(pem);
}

TEST(request_for_a_p384_key_is_refused)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {.key = fx.p384_key, .scope = "tn:12025550100"};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_KEYTYPE);
    free(pem);
}

TEST(garbage_and_truncated_requests_are_parse_errors)
{
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_pem("not a request", NULL, &x), STI_EPKI_PARSE);
    struct csrspec cs = {.key = fx.af_key, .scope = "tn:12025550100"};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    pem[strlen(pem) / 2] = '\0';
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_PARSE);
    free(pem);
}

TEST(subject_without_organization_is_refused_unless_overridden)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {
        .key = fx.af_key, .subject = "C=US,CN=SHAKEN 1234", .scope = "tn:12025550100"};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_EPKI_PROFILE);
    struct pki_issue_policy pol = default_policy;
    pol.subject_override = "C=US,O=Acme Override,CN=SHAKEN 9999";
    CHECK_RC(issue_pem(pem, &pol, &x), STI_OK);
    free(pem);
    char buf[256];
    X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
    X509_free(x);
    CHECK_STR(buf, "/C=US/O=Acme Override/CN=SHAKEN 9999");
    pol.subject_override = "C=US,O=No Common Name";
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EPKI_PROFILE);
}

/* Issues for subject with the fixture's AF key: the code, and in detail
 * (may be NULL) what the refusal names. */
static int issue_subject(const struct pki_ca *ca, const char *subject, char *detail, size_t cap)
{
    X509 *x = NULL;
    /* spc:709J: inside both fixture CAs, so only the subject decides. */
    struct csrspec cs = {.key = fx.af_key, .subject = subject, .scope = "spc:709J"};
    char *pem = make_csr(&cs);
    if (pem == NULL)
        return -1;
    int rc = pki_ca_issue(ca, pem, strlen(pem), &default_policy, T0, &x, NULL, detail, cap);
    if ((rc == STI_OK) != (x != NULL))
        rc = -2; /* a certificate exactly when it issues */
    X509_free(x);
    free(pem);
    return rc;
}

TEST(subject_equal_to_the_ca_own_subject_is_refused_naming_the_clash)
{
    X509 *x = NULL;
    char detail[256];
    CHECK(fixture());
    CHECK_RC(issue_subject(&fx.ca, "C=US,O=Test TNP,CN=Test Delegate CA", detail, sizeof detail),
             STI_EPKI_PROFILE);
    CHECK_STR(detail, "subject CN=Test Delegate CA,O=Test TNP,C=US equals the Delegate CA's own "
                      "subject");
    /* Names compare canonically: case and spacing do not make it another. */
    CHECK_RC(issue_subject(&fx.ca, "C=us,O=test  tnp,CN=TEST DELEGATE CA", NULL, 0),
             STI_EPKI_PROFILE);
    /* An override is the subject too. */
    struct pki_issue_policy pol = default_policy;
    pol.subject_override = "C=US,O=Test TNP,CN=Test Delegate CA";
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EPKI_PROFILE);
    CHECK(x == NULL);
}

TEST(subject_equal_to_the_root_subject_is_refused_naming_the_clash)
{
    char detail[256];
    const char *root = "C=US,O=Test STI-CA,CN=Test STI Root";
    CHECK(fixture());
    CHECK_RC(issue_subject(&fx.ca, root, detail, sizeof detail), STI_EPKI_PROFILE);
    CHECK_STR(detail, "subject CN=Test STI Root,O=Test STI-CA,C=US equals the subject of "
                      "certificate 1 above the Delegate CA (the root)");
    /* A CA given without the chain above still knows its issuer's name. */
    CHECK_RC(issue_subject(&fx.spc_ca, root, detail, sizeof detail), STI_EPKI_PROFILE);
    CHECK_STR(detail, "subject CN=Test STI Root,O=Test STI-CA,C=US equals the subject of the CA "
                      "that issued the top of its chain");
}

TEST(subject_unlike_any_in_the_chain_still_issues)
{
    char detail[256];
    CHECK(fixture());
    /* One attribute away from the CA's own subject. */
    CHECK_RC(issue_subject(&fx.ca, "C=US,O=Test TNP,CN=Test Delegate CA 2", detail, sizeof detail),
             STI_OK);
    CHECK_STR(detail, "");
}

TEST(bad_issue_policy_is_refused_before_the_request_is_read)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct pki_issue_policy pol = default_policy;
    const char *bad_oids[] = {NULL, "", "anyPolicy", "2.16.840.1.114569.1.1.3,1.2.3", "1.2.x"};
    for (size_t i = 0; i < sizeof bad_oids / sizeof bad_oids[0]; i++) {
        pol.policy_oid = bad_oids[i];
        CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EINVAL);
    }
    pol = default_policy;
    const char *bad_uris[] = {
        NULL,          "", "ldap://crl.example.com", "http://", "http://crl.example.com/a b",
        "http://x/\ny"};
    for (size_t i = 0; i < sizeof bad_uris / sizeof bad_uris[0]; i++) {
        pol.crl_uri = bad_uris[i];
        CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EINVAL);
    }
    pol = default_policy;
    pol.days = 0;
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EINVAL);
    pol.days = PKI_CA_DAYS_MAX + 1;
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EINVAL);
    pol = default_policy;
    pol.subject_override = "no equals sign";
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_EINVAL);
}

/* ---- the issued certificate ---- */

static int count_ext(X509 *x, int nid)
{
    int n = 0, at = -1;
    while ((at = X509_get_ext_by_NID(x, nid, at)) >= 0)
        n++;
    return n;
}

static int ext_critical(X509 *x, int nid)
{
    int at = X509_get_ext_by_NID(x, nid, -1);
    return at >= 0 ? X509_EXTENSION_get_critical(X509_get_ext(x, at)) : -1;
}

TEST(issued_certificate_follows_the_shaken_profile)
{
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550100/100", NULL, &x, NULL, 0), STI_OK);

    CHECK_INT(X509_get_version(x), X509_VERSION_3);
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    int bits = BN_num_bits(bn), neg = BN_is_negative(bn);
    BN_free(bn);
    CHECK(!neg);
    CHECK(bits >= 64 && bits <= 127);
    CHECK_INT(X509_get_signature_nid(x), NID_ecdsa_with_SHA256);
    CHECK_INT(X509_NAME_cmp(X509_get_issuer_name(x), X509_get_subject_name(fx.ca_cert)), 0);
    CHECK_RC(pki_key_check_p256(X509_get0_pubkey(x)), STI_OK);
    CHECK_INT(EVP_PKEY_eq(X509_get0_pubkey(x), fx.af_key), 1);
    CHECK_INT(X509_verify(x, fx.ca_key), 1);

    /* BasicConstraints critical CA:FALSE; KeyUsage critical digitalSignature only. */
    uint32_t flags = X509_get_extension_flags(x);
    CHECK(!(flags & EXFLAG_INVALID));
    CHECK((flags & EXFLAG_BCONS) && !(flags & EXFLAG_CA));
    CHECK_INT(ext_critical(x, NID_basic_constraints), 1);
    CHECK_INT(X509_get_key_usage(x), KU_DIGITAL_SIGNATURE);
    CHECK_INT(ext_critical(x, NID_key_usage), 1);

    /* SKI = SHA-1 of the key bits; AKI = the CA's SKI. */
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(x);
    const ASN1_OCTET_STRING *aki = X509_get0_authority_key_id(x);
    CHECK(ski != NULL && aki != NULL);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    CHECK(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen));
    CHECK_INT(ASN1_STRING_length(ski), mdlen);
    CHECK_MEM(ASN1_STRING_get0_data(ski), md, mdlen);
    CHECK_INT(ASN1_OCTET_STRING_cmp(aki, X509_get0_subject_key_id(fx.ca_cert)), 0);
    CHECK_INT(ext_critical(x, NID_subject_key_identifier), 0);
    CHECK_INT(ext_critical(x, NID_authority_key_identifier), 0);

    /* Exactly one policy, the configured one, non-critical. */
    CHECK_INT(count_ext(x, NID_certificate_policies), 1);
    CHECK_INT(ext_critical(x, NID_certificate_policies), 0);
    CERTIFICATEPOLICIES *cps = X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL);
    CHECK(cps != NULL);
    char oid[64] = "";
    int npol = sk_POLICYINFO_num(cps);
    if (npol == 1)
        OBJ_obj2txt(oid, sizeof oid, sk_POLICYINFO_value(cps, 0)->policyid, 1);
    int qualifiers = npol == 1 && sk_POLICYINFO_value(cps, 0)->qualifiers != NULL;
    CERTIFICATEPOLICIES_free(cps);
    CHECK_INT(npol, 1);
    CHECK(!qualifiers);
    CHECK_STR(oid, POLICY);

    /* Exactly one distribution point with one URI, the configured one. */
    CHECK_INT(count_ext(x, NID_crl_distribution_points), 1);
    CRL_DIST_POINTS *dps = X509_get_ext_d2i(x, NID_crl_distribution_points, NULL, NULL);
    CHECK(dps != NULL);
    int ndp = sk_DIST_POINT_num(dps), nuri = 0;
    char uri[128] = "";
    if (ndp == 1) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, 0);
        if (dp->distpoint && dp->distpoint->type == 0) {
            GENERAL_NAMES *names = dp->distpoint->name.fullname;
            nuri = sk_GENERAL_NAME_num(names);
            int type;
            ASN1_IA5STRING *v = GENERAL_NAME_get0_value(sk_GENERAL_NAME_value(names, 0), &type);
            if (type == GEN_URI && ASN1_STRING_length(v) < (int)sizeof uri)
                memcpy(uri, ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
        }
    }
    CRL_DIST_POINTS_free(dps);
    CHECK_INT(ndp, 1);
    CHECK_INT(nuri, 1);
    CHECK_STR(uri, CRL_URI);

    /* Seven extensions, nothing else. */
    CHECK_INT(X509_get_ext_count(x), 7);
    X509_free(x);
}

TEST(issued_tnauthlist_has_the_exact_der)
{
    static const uint8_t want[] = {0x30, 0x14, 0xa1, 0x12, 0x30, 0x10, 0x16, 0x0b,
                                   0x31, 0x32, 0x30, 0x32, 0x35, 0x35, 0x35, 0x30,
                                   0x31, 0x30, 0x30, 0x02, 0x01, 0x64};
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550100/100", NULL, &x, NULL, 0), STI_OK);
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    int at = X509_get_ext_by_OBJ(x, oid, -1);
    ASN1_OBJECT_free(oid);
    CHECK(at >= 0);
    X509_EXTENSION *ext = X509_get_ext(x, at);
    CHECK_INT(X509_EXTENSION_get_critical(ext), 0);
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(ext);
    int len = ASN1_STRING_length(os);
    CHECK_INT(len, sizeof want);
    CHECK_MEM(ASN1_STRING_get0_data(os), want, sizeof want);
    X509_free(x);
}

TEST(other_requested_extensions_are_never_copied)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {.key = fx.af_key, .scope = "tn:12025550100", .extras = 1};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    CHECK_RC(issue_pem(pem, NULL, &x), STI_OK);
    free(pem);
    uint32_t flags = X509_get_extension_flags(x);
    int ca = (flags & EXFLAG_CA) != 0, san = count_ext(x, NID_subject_alt_name);
    uint32_t ku = X509_get_key_usage(x);
    int nbc = count_ext(x, NID_basic_constraints), next = X509_get_ext_count(x);
    X509_free(x);
    CHECK(!ca);
    CHECK_INT(nbc, 1);
    CHECK_INT(ku, KU_DIGITAL_SIGNATURE);
    CHECK_INT(san, 0);
    CHECK_INT(next, 7);
}

TEST(validity_is_backdated_a_minute_and_clipped_to_the_ca)
{
    X509 *x = NULL;
    time_t nb, na;
    CHECK(fixture());
    struct pki_issue_policy pol = default_policy;
    pol.days = 2;
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", &pol, &x, NULL, 0), STI_OK);
    CHECK_RC(pki_cert_times(x, &nb, &na), STI_OK);
    X509_free(x);
    CHECK_INT(nb, T0 - 60);
    CHECK_INT(na, T0 + 2 * DAY);
    /* 365 days asked, the CA ends after 30. */
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", NULL, &x, NULL, 0), STI_OK);
    CHECK_RC(pki_cert_times(x, &nb, &na), STI_OK);
    X509_free(x);
    CHECK_INT(na, NA);
}

TEST(expired_ca_issues_nothing)
{
    X509 *x = NULL;
    CHECK(fixture());
    struct csrspec cs = {.key = fx.af_key, .scope = "tn:12025550100"};
    char *pem = make_csr(&cs);
    CHECK(pem != NULL);
    int rc1 = pki_ca_issue(&fx.ca, pem, strlen(pem), &default_policy, NA + 1, &x, NULL, NULL, 0);
    int rc2 = pki_ca_issue(&fx.ca, pem, strlen(pem), &default_policy, NB - 1, &x, NULL, NULL, 0);
    free(pem);
    CHECK_RC(rc1, STI_EPKI_EXPIRED);
    CHECK_RC(rc2, STI_EPKI_NOTYET);
    CHECK(x == NULL);
}

TEST(serials_differ_between_certificates)
{
    X509 *a = NULL, *b = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", NULL, &a, NULL, 0), STI_OK);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", NULL, &b, NULL, 0), STI_OK);
    int same = ASN1_INTEGER_cmp(X509_get0_serialNumber(a), X509_get0_serialNumber(b)) == 0;
    X509_free(a);
    X509_free(b);
    CHECK(!same);
}

TEST(issued_certificate_forms_a_chain_openssl_verifies)
{
    X509 *x = NULL;
    CHECK(fixture());
    CHECK_RC(issue_scope(&fx.ca, "range:12025550120/10", NULL, &x, NULL, 0), STI_OK);
    STACK_OF(X509) *chain = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = chain && store && ctx && sk_X509_push(chain, fx.ca_cert) > 0 &&
             X509_STORE_add_cert(store, fx.root) && X509_STORE_CTX_init(ctx, store, x, chain);
    int verified = 0, err = -1;
    if (ok) {
        X509_STORE_CTX_set_time(ctx, 0, T0);
        verified = X509_verify_cert(ctx);
        err = X509_STORE_CTX_get_error(ctx);
    }
    /* Our own chain check agrees. */
    int order = -1;
    if (ok && sk_X509_insert(chain, x, 0) > 0)
        order = pki_chain_check_order(chain);
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(store);
    sk_X509_free(chain);
    X509_free(x);
    CHECK(ok);
    CHECK_INT(err, X509_V_OK);
    CHECK_INT(verified, 1);
    CHECK_RC(order, STI_OK);
}

/* ---- the CA context ---- */

TEST(ca_init_takes_scope_and_chain_from_the_certificates)
{
    char text[256];
    CHECK(fixture());
    CHECK_RC(scope_format(&fx.ca.scope, text, sizeof text), STI_OK);
    CHECK_STR(text, CA_SCOPE);
    CHECK_INT(sk_X509_num(fx.ca.chain_above), 1);
    CHECK_INT(X509_cmp(sk_X509_value(fx.ca.chain_above, 0), fx.root), 0);
}

TEST(ca_init_refuses_certificates_that_cannot_issue)
{
    struct pki_ca ca;
    CHECK(fixture());
    struct certspec c = {"C=US,O=Test TNP,CN=Variant",
                         fx.ca_key,
                         fx.root,
                         fx.root_key,
                         "critical,CA:TRUE,pathlen:0",
                         "critical,keyCertSign,cRLSign",
                         CA_SCOPE,
                         NB,
                         NA};
    struct {
        const char *what;
        struct certspec spec;
        EVP_PKEY *key;
        int want;
    } cases[] = {
        {"end-entity", c, fx.ca_key, STI_EPKI_PROFILE},
        {"no keyCertSign", c, fx.ca_key, STI_EPKI_PROFILE},
        {"no basicConstraints", c, fx.ca_key, STI_EPKI_PROFILE},
        {"no TNAuthList", c, fx.ca_key, STI_EPKI_NOTNAUTH},
        {"other key", c, fx.other_key, STI_EPKI_KEYMISMATCH},
        {"P-384 key", c, fx.p384_key, STI_EPKI_KEYTYPE},
        {"expired", c, fx.ca_key, STI_EPKI_EXPIRED},
        {"not yet valid", c, fx.ca_key, STI_EPKI_NOTYET},
    };
    cases[0].spec.bc = "critical,CA:FALSE";
    cases[1].spec.ku = "critical,digitalSignature,cRLSign";
    cases[2].spec.bc = NULL;
    cases[3].spec.scope = NULL;
    cases[6].spec.na = T0 - 1;
    cases[7].spec.nb = T0 + 1;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        X509 *x = make_cert(&cases[i].spec);
        CHECK(x != NULL);
        int rc = pki_ca_init(&ca, x, cases[i].key, NULL, T0);
        int empty = ca.cert == NULL && ca.key == NULL && ca.scope.n == 0;
        pki_ca_free(&ca);
        X509_free(x);
        if (rc != cases[i].want)
            fprintf(stderr, "case %s\n", cases[i].what);
        CHECK_RC(rc, cases[i].want);
        CHECK(empty);
    }
}

TEST(ca_init_refuses_a_chain_above_that_did_not_issue_it)
{
    struct pki_ca ca;
    CHECK(fixture());
    STACK_OF(X509) *above = sk_X509_new_null();
    CHECK(above != NULL);
    sk_X509_push(above, fx.spc_ca_cert);
    int rc = pki_ca_init(&ca, fx.ca_cert, fx.ca_key, above, T0);
    pki_ca_free(&ca);
    sk_X509_free(above);
    CHECK_RC(rc, STI_EPKI_CHAIN);
}

TEST(ca_load_reads_certificate_and_chain_files)
{
    char dir[256], path[300], text[8192];
    struct pki_ca ca;
    const char *base = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    CHECK(fixture());
    mkdir(base, 0700);
    snprintf(dir, sizeof dir, "%s/test_ca.XXXXXX", base);
    CHECK(mkdtemp(dir) != NULL);
    snprintf(path, sizeof path, "%s/ca.pem", dir);
    char *p1 = NULL, *p2 = NULL;
    CHECK_RC(pki_cert_pem(fx.ca_cert, &p1), STI_OK);
    CHECK_RC(pki_cert_pem(fx.root, &p2), STI_OK);
    snprintf(text, sizeof text, "%s%s", p1, p2);
    free(p1);
    free(p2);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
    int rc = pki_ca_load(&ca, path, NULL, fx.ca_key, T0);
    int above = rc == STI_OK ? sk_X509_num(ca.chain_above) : -1;
    pki_ca_free(&ca);
    int missing = pki_ca_load(&ca, "/nonexistent/ca.pem", NULL, fx.ca_key, T0);
    unlink(path);
    rmdir(dir);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(above, 1);
    CHECK_RC(missing, STI_EIO);
}

TEST(ca_csr_requests_ca_constraints_and_the_scope)
{
    char *pem = NULL;
    struct scope s, got;
    X509_REQ *req = NULL;
    scope_init(&s);
    scope_init(&got);
    CHECK(fixture());
    CHECK_RC(scope_parse_list("range:12025550100/100", &s), STI_OK);
    CHECK_RC(pki_ca_csr_make(fx.ca_key, "C=US,O=Test TNP,CN=Test Delegate CA", &s, &pem), STI_OK);
    scope_free(&s);
    CHECK_RC(pki_csr_parse(pem, strlen(pem), &req, &got), STI_OK);
    free(pem);
    STACK_OF(X509_EXTENSION) *exts = X509_REQ_get_extensions(req);
    BASIC_CONSTRAINTS *bc = X509V3_get_d2i(exts, NID_basic_constraints, NULL, NULL);
    ASN1_BIT_STRING *ku = X509V3_get_d2i(exts, NID_key_usage, NULL, NULL);
    int bc_crit = X509_EXTENSION_get_critical(
        X509v3_get_ext(exts, X509v3_get_ext_by_NID(exts, NID_basic_constraints, -1)));
    int ku_crit = X509_EXTENSION_get_critical(
        X509v3_get_ext(exts, X509v3_get_ext_by_NID(exts, NID_key_usage, -1)));
    int ca = bc && bc->ca, pathlen = bc && bc->pathlen ? (int)ASN1_INTEGER_get(bc->pathlen) : -1;
    int certsign = ku && ASN1_BIT_STRING_get_bit(ku, 5),
        crlsign = ku && ASN1_BIT_STRING_get_bit(ku, 6),
        digsig = ku && ASN1_BIT_STRING_get_bit(ku, 0);
    int next = sk_X509_EXTENSION_num(exts);
    char text[64];
    int frc = scope_format(&got, text, sizeof text);
    BASIC_CONSTRAINTS_free(bc);
    ASN1_BIT_STRING_free(ku);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    scope_free(&got);
    CHECK(ca);
    CHECK_INT(pathlen, 0);
    CHECK_INT(bc_crit, 1);
    CHECK_INT(ku_crit, 1);
    CHECK(certsign && crlsign && !digsig);
    CHECK_INT(next, 3);
    CHECK_RC(frc, STI_OK);
    CHECK_STR(text, "range:12025550100/100");
}

TEST(ca_csr_refuses_empty_scope_and_incomplete_subject)
{
    char *pem = NULL;
    struct scope s;
    scope_init(&s);
    CHECK(fixture());
    CHECK_RC(pki_ca_csr_make(fx.ca_key, "C=US,O=X,CN=Y", &s, &pem), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_parse_list("tn:12025550100", &s), STI_OK);
    CHECK_RC(pki_ca_csr_make(fx.ca_key, "C=US,CN=Y", &s, &pem), STI_EPKI_PROFILE);
    CHECK_RC(pki_ca_csr_make(fx.p384_key, "C=US,O=X,CN=Y", &s, &pem), STI_EPKI_KEYTYPE);
    scope_free(&s);
    CHECK(pem == NULL);
}

/* ---- ledger ---- */

static void tmp_ledger(char dir[256], char path[300])
{
    const char *base = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    mkdir(base, 0700);
    snprintf(dir, 256, "%s/test_ca.XXXXXX", base);
    if (mkdtemp(dir) == NULL)
        dir[0] = '\0';
    snprintf(path, 300, "%s/ledger", dir);
}

static void rm_ledger(const char *dir, const char *path)
{
    unlink(path);
    rmdir(dir);
}

static int read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = '\0';
    fclose(f);
    return (int)n;
}

TEST(ledger_records_issues_and_revocations_with_exact_codes)
{
    char dir[256], path[300], serial[PKI_SERIAL_HEX_MAX + 1], upper[PKI_SERIAL_HEX_MAX + 8];
    X509 *x = NULL;
    struct pki_ledger l;
    pki_ledger_init(&l);
    CHECK(fixture());
    tmp_ledger(dir, path);
    CHECK(dir[0] != '\0');

    /* A ledger that does not exist yet is empty. */
    CHECK_RC(pki_ledger_load(path, &l), STI_OK);
    CHECK_INT(l.n, 0);
    CHECK_RC(issue_scope(&fx.ca, "range:12025550100/10", NULL, &x, NULL, 0), STI_OK);
    CHECK_RC(pki_serial_of(x, serial), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, x, T0), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, x, T0), STI_EEXISTS);

    CHECK_RC(pki_ledger_revoke(path, "1234abcd", PKI_REASON_KEY_COMPROMISE, T0), STI_ENOTFOUND);
    CHECK_RC(pki_ledger_revoke(path, "xyz", PKI_REASON_KEY_COMPROMISE, T0), STI_EINVAL);
    CHECK_RC(pki_ledger_revoke(path, serial, 7, T0), STI_EINVAL);
    /* Any case, 0x prefix, leading zeros: the same serial. */
    snprintf(upper, sizeof upper, "0x00%s", serial);
    for (char *p = upper + 2; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    CHECK_RC(pki_ledger_revoke(path, upper, PKI_REASON_KEY_COMPROMISE, T0 + 10), STI_OK);
    CHECK_RC(pki_ledger_revoke(path, serial, PKI_REASON_SUPERSEDED, T0 + 20), STI_EEXISTS);

    CHECK_RC(pki_ledger_load(path, &l), STI_OK);
    CHECK_INT(l.n, 1);
    CHECK_STR(l.e[0].serial, serial);
    CHECK_STR(l.e[0].subject, AF_SUBJECT);
    CHECK_STR(l.e[0].scope, "range:12025550100/10");
    CHECK_INT(l.e[0].issued, T0);
    CHECK_INT(l.e[0].not_after, NA);
    CHECK_INT(l.e[0].revoked, 1);
    CHECK_INT(l.e[0].revoked_at, T0 + 10);
    CHECK_INT(l.e[0].reason, PKI_REASON_KEY_COMPROMISE);
    pki_ledger_free(&l);

    /* The exact text of the two records. */
    char text[1024], want[1024];
    CHECK(read_text(path, text, sizeof text) > 0);
    snprintf(want, sizeof want,
             "issue\t2025-06-15T15:06:40Z\t%s\t" AF_SUBJECT "\trange:12025550100/10\t"
             "2025-07-15T15:06:40Z\nrevoke\t2025-06-15T15:06:50Z\t%s\tkeyCompromise\n",
             serial, serial);
    CHECK_STR(text, want);
    X509_free(x);
    rm_ledger(dir, path);
}

TEST(ledger_drops_a_torn_last_record)
{
    char dir[256], path[300];
    X509 *x = NULL;
    struct pki_ledger l;
    pki_ledger_init(&l);
    CHECK(fixture());
    tmp_ledger(dir, path);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", NULL, &x, NULL, 0), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, x, T0), STI_OK);
    X509_free(x);
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, "issue\t2025-06-15T1", 18) == 18);
    close(fd);
    CHECK_RC(pki_ledger_load(path, &l), STI_OK);
    CHECK_INT(l.n, 1);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550101", NULL, &x, NULL, 0), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, x, T0), STI_OK);
    X509_free(x);
    CHECK_RC(pki_ledger_load(path, &l), STI_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.e[1].scope, "tn:12025550101");
    pki_ledger_free(&l);
    char text[2048];
    CHECK(read_text(path, text, sizeof text) > 0);
    CHECK(strstr(text, "2025-06-15T1issue") == NULL);
    rm_ledger(dir, path);
}

TEST(ledger_refuses_lines_it_did_not_write)
{
    char dir[256], path[300];
    struct pki_ledger l;
    pki_ledger_init(&l);
    tmp_ledger(dir, path);
    const char *bad[] = {
        "hello\n",
        "issue\t2025-06-15T15:06:40Z\tABC\tC=US,O=A,CN=B\ttn:1\t2025-07-15T15:06:40Z\n",
        "issue\t2025-06-15 15:06:40\tabc\tC=US,O=A,CN=B\ttn:1\t2025-07-15T15:06:40Z\n",
        "issue\t2025-06-15T15:06:40Z\tabc\tC=US,O=A,CN=B\tnot-a-scope\t2025-07-15T15:06:40Z\n",
        "issue\t2025-06-15T15:06:40Z\tabc\tC=US,O=A,CN=B\ttn:1\n",
        "revoke\t2025-06-15T15:06:40Z\tabc\tkeyCompromise\n",
        "issue\t2025-06-15T15:06:40Z\tabc\tC=US,O=A,CN=B\ttn:1\t2025-07-15T15:06:40Z\n"
        "revoke\t2025-06-15T15:06:40Z\tabc\tbored\n",
        "issue\t2025-06-15T15:06:40Z\tabc\tC=US,O=A,CN=B\ttn:1\t2025-07-15T15:06:40Z\n"
        "issue\t2025-06-15T15:06:40Z\tabc\tC=US,O=A,CN=B\ttn:2\t2025-07-15T15:06:40Z\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        FILE *f = fopen(path, "w");
        CHECK(f != NULL);
        fputs(bad[i], f);
        fclose(f);
        int rc = pki_ledger_load(path, &l);
        if (rc != STI_EIO)
            fprintf(stderr, "case %zu\n", i);
        CHECK_RC(rc, STI_EIO);
        CHECK_INT(l.n, 0);
        CHECK_RC(pki_ledger_revoke(path, "abc", PKI_REASON_UNSPECIFIED, T0), STI_EIO);
    }
    rm_ledger(dir, path);
}

TEST(serial_text_is_canonicalised)
{
    char out[PKI_SERIAL_HEX_MAX + 1];
    CHECK_RC(pki_serial_canon("0x00ABcd", out), STI_OK);
    CHECK_STR(out, "abcd");
    CHECK_RC(pki_serial_canon("0", out), STI_EINVAL);
    CHECK_RC(pki_serial_canon("", out), STI_EINVAL);
    CHECK_RC(pki_serial_canon("12:34", out), STI_EINVAL);
    CHECK_RC(pki_serial_canon("-1", out), STI_EINVAL);
    CHECK_RC(pki_serial_canon("1234567890123456789012345678901234567890", out), STI_OK);
    CHECK_RC(pki_serial_canon("12345678901234567890123456789012345678901", out), STI_EINVAL);
    time_t t;
    char iso[21];
    CHECK_RC(pki_time_format(T0, iso), STI_OK);
    CHECK_STR(iso, "2025-06-15T15:06:40Z");
    CHECK_RC(pki_time_parse(iso, &t), STI_OK);
    CHECK_INT(t, T0);
    CHECK_RC(pki_time_parse("2025-13-15T15:06:40Z", &t), STI_EINVAL);
    CHECK_RC(pki_time_parse("2025-06-15T15:06:40", &t), STI_EINVAL);
}

/* ---- CRL ---- */

TEST(crl_lists_revoked_serials_and_verifies_with_the_ca_key)
{
    char dir[256], path[300], *pem = NULL;
    X509 *a = NULL, *b = NULL, *c = NULL;
    struct pki_ledger l;
    pki_ledger_init(&l);
    CHECK(fixture());
    tmp_ledger(dir, path);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550100", NULL, &a, NULL, 0), STI_OK);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550101", NULL, &b, NULL, 0), STI_OK);
    CHECK_RC(issue_scope(&fx.ca, "tn:12025550102", NULL, &c, NULL, 0), STI_OK);
    char sa[PKI_SERIAL_HEX_MAX + 1], sb[PKI_SERIAL_HEX_MAX + 1];
    CHECK_RC(pki_serial_of(a, sa), STI_OK);
    CHECK_RC(pki_serial_of(b, sb), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, a, T0), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, b, T0), STI_OK);
    CHECK_RC(pki_ledger_append_issue(path, c, T0), STI_OK);
    CHECK_RC(pki_ledger_revoke(path, sa, PKI_REASON_KEY_COMPROMISE, T0 + 5), STI_OK);
    CHECK_RC(pki_ledger_revoke(path, sb, PKI_REASON_UNSPECIFIED, T0 + 6), STI_OK);
    CHECK_RC(pki_ledger_load(path, &l), STI_OK);
    char *none = NULL;
    CHECK_RC(pki_ca_crl(&fx.ca, &l, T0 + 100, 0, &none), STI_EINVAL);
    CHECK_RC(pki_ca_crl(&fx.ca, &l, T0 + 100, 7, &pem), STI_OK);
    pki_ledger_free(&l);

    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    CHECK(crl != NULL);
    X509_REVOKED *ra = NULL, *rb = NULL, *rc_ = NULL;
    int got_a = X509_CRL_get0_by_cert(crl, &ra, a), got_b = X509_CRL_get0_by_cert(crl, &rb, b),
        got_c = X509_CRL_get0_by_cert(crl, &rc_, c);
    int reason_a = -1, reason_b_absent = 0;
    if (got_a) {
        ASN1_ENUMERATED *e = X509_REVOKED_get_ext_d2i(ra, NID_crl_reason, NULL, NULL);
        reason_a = e ? (int)ASN1_ENUMERATED_get(e) : -1;
        ASN1_ENUMERATED_free(e);
    }
    if (got_b)
        reason_b_absent = X509_REVOKED_get_ext_by_NID(rb, NID_crl_reason, -1) < 0;
    int verified = X509_CRL_verify(crl, fx.ca_key);
    int wrong = X509_CRL_verify(crl, fx.other_key);
    long version = X509_CRL_get_version(crl);
    int issuer = X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(fx.ca_cert));
    ASN1_INTEGER *num = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
    long number = num ? ASN1_INTEGER_get(num) : -1;
    ASN1_INTEGER_free(num);
    AUTHORITY_KEYID *aki = X509_CRL_get_ext_d2i(crl, NID_authority_key_identifier, NULL, NULL);
    int aki_ok = aki && aki->keyid &&
                 ASN1_OCTET_STRING_cmp(aki->keyid, X509_get0_subject_key_id(fx.ca_cert)) == 0;
    AUTHORITY_KEYID_free(aki);
    int count = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    X509_CRL_free(crl);
    X509_free(a);
    X509_free(b);
    X509_free(c);
    rm_ledger(dir, path);

    CHECK_INT(got_a, 1);
    CHECK_INT(got_b, 1);
    CHECK_INT(got_c, 0);
    CHECK_INT(count, 2);
    CHECK_INT(reason_a, PKI_REASON_KEY_COMPROMISE);
    CHECK(reason_b_absent);
    CHECK_INT(verified, 1);
    CHECK(wrong != 1);
    CHECK_INT(version, X509_CRL_VERSION_2);
    CHECK_INT(issuer, 0);
    CHECK_INT(number, T0 + 100);
    CHECK(aki_ok);
}

TEST(crl_of_an_empty_ledger_lists_nothing)
{
    char *pem = NULL;
    struct pki_ledger l;
    pki_ledger_init(&l);
    CHECK(fixture());
    CHECK_RC(pki_ca_crl(&fx.ca, &l, T0, 1, &pem), STI_OK);
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509_CRL *crl = PEM_read_bio_X509_CRL(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    CHECK(crl != NULL);
    int count = sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl));
    int verified = X509_CRL_verify(crl, fx.ca_key);
    X509_CRL_free(crl);
    CHECK(count <= 0);
    CHECK_INT(verified, 1);
}

static void fixture_free_(void)
{
    pki_ca_free(&fx.ca);
    pki_ca_free(&fx.spc_ca);
    X509_free(fx.root);
    X509_free(fx.ca_cert);
    X509_free(fx.spc_ca_cert);
    EVP_PKEY_free(fx.root_key);
    EVP_PKEY_free(fx.ca_key);
    EVP_PKEY_free(fx.af_key);
    EVP_PKEY_free(fx.other_key);
    EVP_PKEY_free(fx.p384_key);
}

CHECK_MAIN(CASE(issues_request_inside_the_ca_scope),
           CASE(range_overlapping_the_ca_end_reports_only_the_overflow),
           CASE(range_covered_by_two_adjacent_ca_ranges_is_accepted),
           CASE(single_tn_at_the_last_number_of_a_ca_range_is_accepted),
           CASE(numbers_of_another_digit_length_are_outside),
           CASE(mixed_request_lists_each_uncovered_part_exactly),
           CASE(spc_held_by_the_ca_is_accepted_and_another_spc_is_outside),
           CASE(spc_only_ca_covers_tns_only_under_the_allow_policy),
           CASE(request_without_tnauthlist_is_refused),
           CASE(request_with_empty_tnauthlist_is_refused),
           CASE(request_with_a_bad_signature_is_refused), CASE(request_for_a_p384_key_is_refused),
           CASE(garbage_and_truncated_requests_are_parse_errors),
           CASE(subject_without_organization_is_refused_unless_overridden),
           CASE(subject_equal_to_the_ca_own_subject_is_refused_naming_the_clash),
           CASE(subject_equal_to_the_root_subject_is_refused_naming_the_clash),
           CASE(subject_unlike_any_in_the_chain_still_issues),
           CASE(bad_issue_policy_is_refused_before_the_request_is_read),
           CASE(issued_certificate_follows_the_shaken_profile),
           CASE(issued_tnauthlist_has_the_exact_der),
           CASE(other_requested_extensions_are_never_copied),
           CASE(validity_is_backdated_a_minute_and_clipped_to_the_ca),
           CASE(expired_ca_issues_nothing), CASE(serials_differ_between_certificates),
           CASE(issued_certificate_forms_a_chain_openssl_verifies),
           CASE(ca_init_takes_scope_and_chain_from_the_certificates),
           CASE(ca_init_refuses_certificates_that_cannot_issue),
           CASE(ca_init_refuses_a_chain_above_that_did_not_issue_it),
           CASE(ca_load_reads_certificate_and_chain_files),
           CASE(ca_csr_requests_ca_constraints_and_the_scope),
           CASE(ca_csr_refuses_empty_scope_and_incomplete_subject),
           CASE(ledger_records_issues_and_revocations_with_exact_codes),
           CASE(ledger_drops_a_torn_last_record), CASE(ledger_refuses_lines_it_did_not_write),
           CASE(serial_text_is_canonicalised),
           CASE(crl_lists_revoked_serials_and_verifies_with_the_ca_key),
           CASE(crl_of_an_empty_ledger_lists_nothing))
