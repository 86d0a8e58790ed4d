/*
 * fuzz_csr.c — the Delegate CA's intake: what a Customer AF (or anyone)
 * can hand it. The same bytes go to
 *  1. pki_chain_parse (a pasted chain) and, for what parses, the checks a
 *     chain meets (order, scope, validity, key);
 *  2. pki_csr_parse, and pki_ca_issue from a fixed in-process Delegate CA
 *     with a software key. Inputs starting with a DER SEQUENCE are also
 *     armoured as a PEM request, and a request whose self-signature fails
 *     is re-signed with a fixed key, so mutations of the request body reach
 *     the issuing code past the signature check.
 * Invariants (abort on violation): an issued certificate verifies with
 * the CA key, carries a TNAuthList contained in the CA's scope and exactly
 * the profile's seven extensions; a scope refusal reports only entries
 * really outside the CA scope, and nothing else ever fills outside; every
 * result is a code of the error table.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "pki.h"
#include "sti_err.h"

#define FZ_NOW ((time_t)1750000000)
#define FZ_SCOPE "range:12025550100/100 range:12025550200/100 tn:14045550123 spc:709J"

static struct {
    EVP_PKEY *ca_key, *resign_key;
    X509 *ca_cert;
    struct pki_ca ca;
    int ready;
} fz;

static const struct pki_issue_policy fz_policy = {
    "2.16.840.1.114569.1.1.3", "http://crl.example.com/fuzz.crl", 365, NULL, SCOPE_SPC_DENY};

static int fz_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
    X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
    int ok = e != NULL && X509_add_ext(x, e, -1);
    X509_EXTENSION_free(e);
    return ok;
}

/* A self-signed Delegate CA with a TNAuthList, valid around FZ_NOW. */
static X509 *fz_ca_cert(EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *name = NULL;
    X509V3_CTX ctx;
    struct scope s;
    uint8_t *der = NULL;
    size_t n = 0;
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    ASN1_OBJECT *oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    X509_EXTENSION *tn = NULL;
    int ok = x && os && oid;

    scope_init(&s);
    ok = ok && X509_set_version(x, X509_VERSION_3) &&
         ASN1_INTEGER_set(X509_get_serialNumber(x), 4242) &&
         pki_name_parse("C=US,O=Fuzz TNP,CN=Fuzz Delegate CA", &name) == STI_OK &&
         X509_set_subject_name(x, name) && X509_set_issuer_name(x, name) &&
         ASN1_TIME_set(X509_getm_notBefore(x), FZ_NOW - 86400) &&
         ASN1_TIME_set(X509_getm_notAfter(x), FZ_NOW + 400 * 86400) && X509_set_pubkey(x, key);
    if (ok) {
        X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
        ok = fz_ext(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
             fz_ext(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
             fz_ext(x, &ctx, NID_subject_key_identifier, "hash");
    }
    ok = ok && scope_parse_list(FZ_SCOPE, &s) == STI_OK &&
         pki_tnauth_encode(&s, &der, &n) == STI_OK && ASN1_OCTET_STRING_set(os, der, (int)n) &&
         (tn = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os)) != NULL && X509_add_ext(x, tn, -1) &&
         X509_sign(x, key, EVP_sha256()) > 0;
    X509_EXTENSION_free(tn);
    ASN1_OBJECT_free(oid);
    ASN1_OCTET_STRING_free(os);
    free(der);
    scope_free(&s);
    X509_NAME_free(name);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static void fz_free(void)
{
    pki_ca_free(&fz.ca);
    X509_free(fz.ca_cert);
    EVP_PKEY_free(fz.ca_key);
    EVP_PKEY_free(fz.resign_key);
}

static void fz_init(void)
{
    if (fz.ready)
        return;
    fz.ca_key = EVP_EC_gen("P-256");
    fz.resign_key = EVP_EC_gen("P-256");
    fz.ca_cert = fz.ca_key ? fz_ca_cert(fz.ca_key) : NULL;
    if (!fz.resign_key || !fz.ca_cert ||
        pki_ca_init(&fz.ca, fz.ca_cert, fz.ca_key, NULL, FZ_NOW) != STI_OK)
        abort(); /* the harness itself is broken */
    atexit(fz_free);
    fz.ready = 1;
}

/* ---- invariants ---- */

static void fz_check_issued(X509 *x)
{
    struct scope s;
    scope_init(&s);
    if (x == NULL || X509_verify(x, fz.ca_key) != 1)
        abort();
    if (pki_cert_scope(x, &s) != STI_OK || s.n == 0)
        abort();
    if (scope_contains(&fz.ca.scope, &s, SCOPE_SPC_DENY, NULL) != STI_OK)
        abort(); /* issued beyond the CA's own scope */
    if (X509_get_ext_count(x) != 7 || (X509_get_extension_flags(x) & EXFLAG_CA) ||
        X509_get_key_usage(x) != KU_DIGITAL_SIGNATURE)
        abort();
    if (pki_key_check_p256(X509_get0_pubkey(x)) != STI_OK)
        abort();
    scope_free(&s);
}

/* Each reported entry must be outside the CA scope on its own. */
static void fz_check_outside(const struct scope *outside)
{
    if (outside->n == 0)
        abort();
    for (size_t i = 0; i < outside->n; i++) {
        struct scope one;
        scope_init(&one);
        if (scope_add(&one, &outside->e[i]) != STI_OK)
            abort(); /* reported an entry that is not even valid */
        if (scope_contains(&fz.ca.scope, &one, SCOPE_SPC_DENY, NULL) != STI_ESCOPE_OUTSIDE)
            abort();
        scope_free(&one);
    }
}

static int fz_issue(const char *pem, size_t n)
{
    X509 *x = NULL;
    struct scope outside;
    scope_init(&outside);
    int rc = pki_ca_issue(&fz.ca, pem, n, &fz_policy, FZ_NOW, &x, &outside, NULL, 0);
    if (!sti_err_known(rc))
        abort();
    if (rc == STI_OK) {
        fz_check_issued(x);
        if (outside.n != 0)
            abort();
    } else {
        if (x != NULL)
            abort();
        if (rc == STI_ESCOPE_OUTSIDE)
            fz_check_outside(&outside);
        else if (outside.n != 0)
            abort();
    }
    X509_free(x);
    scope_free(&outside);
    return rc;
}

/* ---- the intake paths ---- */

static void fz_chain(const char *data, size_t size)
{
    STACK_OF(X509) *chain = NULL;
    int rc = pki_chain_parse(data, size, &chain);
    if (!sti_err_known(rc) || (rc == STI_OK) != (chain != NULL))
        abort();
    if (chain == NULL)
        return;
    if (sk_X509_num(chain) < 1)
        abort();
    (void)pki_chain_check_order(chain);
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *c = sk_X509_value(chain, i);
        struct scope s;
        uint8_t pt[65];
        scope_init(&s);
        if (pki_cert_scope(c, &s) == STI_OK && s.n == 0)
            abort();
        (void)pki_cert_check_time(c, FZ_NOW);
        (void)pki_cert_point(c, pt);
        scope_free(&s);
    }
    sk_X509_pop_free(chain, X509_free);
}

static void fz_csr(const char *pem, size_t n)
{
    X509_REQ *req = NULL;
    struct scope s;
    scope_init(&s);
    int rc = pki_csr_parse(pem, n, &req, &s);
    if (!sti_err_known(rc) || (rc == STI_OK) != (req != NULL) || (rc == STI_OK && s.n == 0) ||
        (rc != STI_OK && s.n != 0))
        abort();
    X509_REQ_free(req);
    scope_free(&s);
    fz_issue(pem, n);
}

/* PEM armour around DER bytes, as a request. */
static char *fz_armour(const uint8_t *der, size_t n, size_t *len)
{
    BIO *bio = BIO_new(BIO_s_mem());
    char *out = NULL, *data = NULL;
    if (bio && PEM_write_bio(bio, "CERTIFICATE REQUEST", "", der, (long)n) > 0) {
        long l = BIO_get_mem_data(bio, &data);
        out = malloc((size_t)l);
        if (out) {
            memcpy(out, data, (size_t)l);
            *len = (size_t)l;
        }
    }
    BIO_free(bio);
    return out;
}

/* The request re-signed with a fixed key (its own subject and
 * extensions kept), so the issuing code sees the mutated body. */
static void fz_resigned(const uint8_t *der, size_t n)
{
    const unsigned char *p = der;
    X509_REQ *req = d2i_X509_REQ(NULL, &p, (long)n);
    BIO *bio = NULL;
    if (req == NULL)
        return;
    if (X509_REQ_set_pubkey(req, fz.resign_key) &&
        X509_REQ_sign(req, fz.resign_key, EVP_sha256()) > 0 &&
        (bio = BIO_new(BIO_s_mem())) != NULL && PEM_write_bio_X509_REQ(bio, req)) {
        char *data = NULL;
        long l = BIO_get_mem_data(bio, &data);
        int rc = fz_issue(data, (size_t)l);
        if (rc == STI_EPKI_SIG || rc == STI_EPKI_KEYTYPE)
            abort(); /* freshly signed with a P-256 key */
    }
    BIO_free(bio);
    X509_REQ_free(req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024)
        return 0;
    fz_init();
    fz_chain((const char *)data, size);
    fz_csr((const char *)data, size);
    if (size > 0 && data[0] == 0x30) {
        size_t len = 0;
        char *pem = fz_armour(data, size, &len);
        if (pem != NULL) {
            if (fz_issue(pem, len) == STI_EPKI_SIG)
                fz_resigned(data, size);
            free(pem);
        }
    }
    return 0;
}
