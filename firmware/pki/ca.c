/*
 * ca.c — the Delegate CA (ca.h): its own request to the STI-CA, the checks
 * its certificate must pass, issuing SHAKEN end-entity certificates within
 * its TN scope, and CRLs from the ledger.
 *
 * Every extension is built from OpenSSL's structures (never from config
 * strings), so an operator-supplied OID or URI can never smuggle in a
 * second policy or distribution point.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "ca.h"
#include "pki.h"
#include "sti_err.h"

#define CA_BACKDATE 60 /* seconds of notBefore slack for verifiers' clocks */
#define CA_URI_MAX 2048
#define CA_OID_MAX 128
#define CA_CSR_MAX (64 * 1024)

/* ------------------------------------------------------------------ */
/* Helpers */

/* Contents of a memory BIO as a malloc'd NUL-terminated string. */
static int ca_bio_string(BIO *bio, char **out)
{
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    if (len <= 0 || data == NULL)
        return STI_EINTERNAL;
    char *s = malloc((size_t)len + 1);
    if (s == NULL)
        return STI_ENOMEM;
    memcpy(s, data, (size_t)len);
    s[len] = '\0';
    *out = s;
    return STI_OK;
}

int pki_cert_pem(X509 *cert, char **pem)
{
    int rc;
    BIO *bio = NULL;

    if (cert == NULL || pem == NULL)
        return STI_EINVAL;
    *pem = NULL;
    bio = BIO_new(BIO_s_mem());
    STI_CHECK(bio != NULL, STI_ENOMEM);
    STI_CHECK(PEM_write_bio_X509(bio, cert), STI_ENOMEM);
    rc = ca_bio_string(bio, pem);
out:
    BIO_free(bio);
    return rc;
}

/* The uncompressed point of a key. An HSM-backed key may not answer
 * parameter queries (libp11 builds a legacy EC key), so fall back to its
 * SubjectPublicKeyInfo, which every EC key can encode. */
static int ca_key_point(EVP_PKEY *key, uint8_t point[65])
{
    int rc = pki_key_point(key, point);
    if (rc != STI_EPKI_KEYTYPE)
        return rc;
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(key, &der);
    if (len <= 0)
        return STI_EPKI_KEYTYPE;
    const unsigned char *p = der;
    EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, len);
    OPENSSL_free(der);
    if (pub == NULL)
        return STI_EPKI_KEYTYPE;
    rc = pki_key_point(pub, point);
    EVP_PKEY_free(pub);
    return rc;
}

/* The CA's key identifier: its SubjectKeyIdentifier, or if it has none
 * the SHA-1 of its public key bits (RFC 5280 4.2.1.2 method 1). */
static int ca_key_id(X509 *cert, ASN1_OCTET_STRING **out)
{
    const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(cert);
    if (ski != NULL) {
        *out = ASN1_OCTET_STRING_dup(ski);
        return *out != NULL ? STI_OK : STI_ENOMEM;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (!X509_pubkey_digest(cert, EVP_sha1(), md, &mdlen))
        return STI_EPKI_PARSE;
    *out = ASN1_OCTET_STRING_new();
    if (*out == NULL || !ASN1_OCTET_STRING_set(*out, md, (int)mdlen)) {
        ASN1_OCTET_STRING_free(*out);
        *out = NULL;
        return STI_ENOMEM;
    }
    return STI_OK;
}

/* The TNAuthList of scope as a non-critical extension (RFC 8226 9). */
static int ca_tnauth_ext(const struct scope *scope, X509_EXTENSION **out)
{
    int rc;
    uint8_t *der = NULL;
    size_t n = 0;
    ASN1_OBJECT *oid = NULL;
    ASN1_OCTET_STRING *os = NULL;

    *out = NULL;
    STI_TRY(pki_tnauth_encode(scope, &der, &n));
    STI_CHECK(n <= INT_MAX, STI_ETOOLONG);
    oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    os = ASN1_OCTET_STRING_new();
    STI_CHECK(oid != NULL && os != NULL, STI_ENOMEM);
    STI_CHECK(ASN1_OCTET_STRING_set(os, der, (int)n), STI_ENOMEM);
    *out = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
    STI_CHECK(*out != NULL, STI_ENOMEM);
    rc = STI_OK;
out:
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    free(der);
    return rc;
}

/* KeyUsage with the given bits (RFC 5280 numbering) set. */
static ASN1_BIT_STRING *ca_key_usage(const int *bits, size_t n)
{
    ASN1_BIT_STRING *ku = ASN1_BIT_STRING_new();
    for (size_t i = 0; ku != NULL && i < n; i++)
        if (!ASN1_BIT_STRING_set_bit(ku, bits[i], 1)) {
            ASN1_BIT_STRING_free(ku);
            ku = NULL;
        }
    return ku;
}

/* Dotted decimal only: names like "anyPolicy" are not a configured OID. */
static int ca_oid_parse(const char *text, ASN1_OBJECT **out)
{
    size_t n = text ? strnlen(text, CA_OID_MAX + 1) : 0;
    if (n == 0 || n > CA_OID_MAX)
        return STI_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!((text[i] >= '0' && text[i] <= '9') || text[i] == '.'))
            return STI_EINVAL;
    *out = OBJ_txt2obj(text, 1);
    return *out != NULL ? STI_OK : STI_EINVAL;
}

/* http(s) URI of visible ASCII: what a SHAKEN verifier fetches. */
static int ca_uri_ok(const char *uri)
{
    size_t n = uri ? strnlen(uri, CA_URI_MAX + 1) : 0;
    size_t scheme;
    if (n == 0 || n > CA_URI_MAX)
        return 0;
    if (strncmp(uri, "http://", 7) == 0)
        scheme = 7;
    else if (strncmp(uri, "https://", 8) == 0)
        scheme = 8;
    else
        return 0;
    if (n == scheme)
        return 0;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)uri[i] <= 0x20 || (unsigned char)uri[i] >= 0x7f)
            return 0;
    return 1;
}

static int ca_name_has(const X509_NAME *name, int nid)
{
    return X509_NAME_get_index_by_NID(name, nid, -1) >= 0;
}

/* "subject S equals WHO" in detail (may be NULL), S in RFC 2253 form with
 * control bytes shown as '?'. */
static void ca_clash_detail(const X509_NAME *subject, const char *who, char *detail, size_t cap)
{
    char name[256] = "";
    if (detail == NULL || cap == 0)
        return;
    BIO *bio = BIO_new(BIO_s_mem());
    if (bio != NULL && X509_NAME_print_ex(bio, subject, 0, XN_FLAG_RFC2253) >= 0) {
        int n = BIO_read(bio, name, (int)sizeof name - 1);
        name[n > 0 ? n : 0] = '\0';
        for (int i = 0; i < n; i++)
            if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
                name[i] = '?';
    }
    BIO_free(bio);
    snprintf(detail, cap, "subject %s equals %s", name, who);
}

/* A certificate named like its issuer, or like any CA above it, makes
 * name-based path building ambiguous: a verifier may take the leaf for
 * that CA, and the leaf could pose as an issuer. The issuer name of the
 * topmost certificate counts too, since the root is often not in the
 * chain the CA was given. X509_NAME_cmp compares the canonical
 * encodings (case and spacing folded), as name matching does. */
static int ca_subject_clash(const struct pki_ca *ca, const X509_NAME *subject, char *detail,
                            size_t cap)
{
    char who[96];
    int n = sk_X509_num(ca->chain_above);
    if (X509_NAME_cmp(subject, X509_get_subject_name(ca->cert)) == 0) {
        ca_clash_detail(subject, "the Delegate CA's own subject", detail, cap);
        return STI_EPKI_PROFILE;
    }
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(ca->chain_above, i);
        if (X509_NAME_cmp(subject, X509_get_subject_name(x)) != 0)
            continue;
        snprintf(who, sizeof who, "the subject of certificate %d above the Delegate CA%s", i + 1,
                 X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) == 0
                     ? " (the root)"
                     : "");
        ca_clash_detail(subject, who, detail, cap);
        return STI_EPKI_PROFILE;
    }
    X509 *top = n > 0 ? sk_X509_value(ca->chain_above, n - 1) : ca->cert;
    if (X509_NAME_cmp(subject, X509_get_issuer_name(top)) == 0) {
        ca_clash_detail(subject, "the subject of the CA that issued the top of its chain", detail,
                        cap);
        return STI_EPKI_PROFILE;
    }
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* The Delegate CA's own request */

int pki_ca_csr_make(EVP_PKEY *key, const char *subject, const struct scope *scope, char **pem)
{
    int rc;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    X509_EXTENSION *tn = NULL;
    BASIC_CONSTRAINTS *bc = NULL;
    ASN1_BIT_STRING *ku = NULL;
    BIO *bio = NULL;
    static const int ca_bits[] = {5 /* keyCertSign */, 6 /* cRLSign */};

    if (key == NULL || subject == NULL || scope == NULL || pem == NULL)
        return STI_EINVAL;
    *pem = NULL;
    STI_CHECK(scope->n > 0, STI_ESCOPE_SYNTAX);
    STI_TRY(pki_key_check_p256(key));
    STI_TRY(pki_name_parse(subject, &name));
    STI_CHECK(ca_name_has(name, NID_countryName) && ca_name_has(name, NID_organizationName) &&
                  ca_name_has(name, NID_commonName),
              STI_EPKI_PROFILE);

    req = X509_REQ_new();
    bc = BASIC_CONSTRAINTS_new();
    ku = ca_key_usage(ca_bits, 2);
    STI_CHECK(req != NULL && bc != NULL && ku != NULL, STI_ENOMEM);
    STI_CHECK(X509_REQ_set_version(req, X509_REQ_VERSION_1), STI_ENOMEM);
    STI_CHECK(X509_REQ_set_subject_name(req, name), STI_ENOMEM);
    STI_CHECK(X509_REQ_set_pubkey(req, key), STI_EPKI_KEYTYPE);

    /* CA:TRUE, pathLenConstraint 0: it issues end-entities, never CAs. */
    bc->ca = 1;
    bc->pathlen = ASN1_INTEGER_new();
    STI_CHECK(bc->pathlen != NULL && ASN1_INTEGER_set(bc->pathlen, 0), STI_ENOMEM);
    STI_CHECK(X509V3_add1_i2d(&exts, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    STI_CHECK(X509V3_add1_i2d(&exts, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1, STI_ENOMEM);
    STI_TRY(ca_tnauth_ext(scope, &tn));
    STI_CHECK(sk_X509_EXTENSION_push(exts, tn) > 0, STI_ENOMEM);
    tn = NULL;
    STI_CHECK(X509_REQ_add_extensions(req, exts), STI_ENOMEM);

    /* Verify after signing: tokens have returned bad ECDSA values. */
    STI_CHECK(X509_REQ_sign(req, key, EVP_sha256()) > 0, STI_EHSM_SIGN);
    STI_CHECK(X509_REQ_verify(req, key) == 1, STI_EPKI_SIG);

    bio = BIO_new(BIO_s_mem());
    STI_CHECK(bio != NULL, STI_ENOMEM);
    STI_CHECK(PEM_write_bio_X509_REQ(bio, req), STI_ENOMEM);
    rc = ca_bio_string(bio, pem);
out:
    BIO_free(bio);
    X509_EXTENSION_free(tn);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The CA context */

void pki_ca_free(struct pki_ca *ca)
{
    if (ca == NULL)
        return;
    X509_free(ca->cert);
    EVP_PKEY_free(ca->key);
    scope_free(&ca->scope);
    sk_X509_pop_free(ca->chain_above, X509_free);
    memset(ca, 0, sizeof *ca);
    scope_init(&ca->scope);
}

int pki_ca_init(struct pki_ca *ca, X509 *cert, EVP_PKEY *key, STACK_OF(X509) * chain_above,
                time_t now)
{
    int rc;
    STACK_OF(X509) *path = NULL;
    uint8_t point[65];

    if (ca == NULL)
        return STI_EINVAL;
    memset(ca, 0, sizeof *ca);
    scope_init(&ca->scope);
    if (cert == NULL || key == NULL)
        return STI_EINVAL;

    uint32_t flags = X509_get_extension_flags(cert);
    STI_CHECK(!(flags & EXFLAG_INVALID), STI_EPKI_PARSE);
    STI_CHECK((flags & EXFLAG_BCONS) && (flags & EXFLAG_CA), STI_EPKI_PROFILE);
    STI_CHECK((flags & EXFLAG_KUSAGE) && (X509_get_key_usage(cert) & KU_KEY_CERT_SIGN),
              STI_EPKI_PROFILE);
    STI_TRY(pki_cert_scope(cert, &ca->scope));
    STI_TRY(ca_key_point(key, point));
    STI_TRY(pki_cert_matches_point(cert, point));
    STI_TRY(pki_cert_check_time(cert, now));

    ca->chain_above = sk_X509_new_null();
    path = sk_X509_new_null();
    STI_CHECK(ca->chain_above != NULL && path != NULL && sk_X509_push(path, cert) > 0, STI_ENOMEM);
    for (int i = 0; chain_above != NULL && i < sk_X509_num(chain_above); i++) {
        X509 *x = sk_X509_value(chain_above, i);
        STI_CHECK(sk_X509_push(path, x) > 0, STI_ENOMEM);
        STI_CHECK(X509_up_ref(x), STI_EINTERNAL);
        if (sk_X509_push(ca->chain_above, x) <= 0) {
            X509_free(x);
            rc = STI_ENOMEM;
            goto out;
        }
    }
    STI_TRY(pki_chain_check_order(path));

    STI_CHECK(X509_up_ref(cert), STI_EINTERNAL);
    ca->cert = cert;
    if (!EVP_PKEY_up_ref(key)) {
        rc = STI_EINTERNAL;
        goto out;
    }
    ca->key = key;
    rc = STI_OK;
out:
    sk_X509_free(path);
    if (rc != STI_OK)
        pki_ca_free(ca);
    return rc;
}

int pki_ca_load(struct pki_ca *ca, const char *cert_path, const char *chain_path, EVP_PKEY *key,
                time_t now)
{
    int rc;
    STACK_OF(X509) *certs = NULL, *more = NULL, *above = NULL;

    if (ca == NULL || cert_path == NULL || key == NULL)
        return STI_EINVAL;
    memset(ca, 0, sizeof *ca);
    scope_init(&ca->scope);
    STI_TRY(pki_chain_load(cert_path, &certs));
    if (chain_path != NULL)
        STI_TRY(pki_chain_load(chain_path, &more));
    above = sk_X509_new_null();
    STI_CHECK(above != NULL, STI_ENOMEM);
    /* Borrowed pointers: certs and more own the certificates. */
    for (int i = 1; i < sk_X509_num(certs); i++)
        STI_CHECK(sk_X509_push(above, sk_X509_value(certs, i)) > 0, STI_ENOMEM);
    for (int i = 0; more != NULL && i < sk_X509_num(more); i++)
        STI_CHECK(sk_X509_push(above, sk_X509_value(more, i)) > 0, STI_ENOMEM);
    rc = pki_ca_init(ca, sk_X509_value(certs, 0), key, above, now);
out:
    sk_X509_free(above);
    sk_X509_pop_free(more, X509_free);
    sk_X509_pop_free(certs, X509_free);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Issuing */

/* A random positive serial: 16 bytes from the CSPRNG with the top bit
 * cleared, so 127 random bits and never negative (ATIS-1000080: >= 64). */
static int ca_serial(X509 *x)
{
    unsigned char r[16];
    BIGNUM *bn = NULL;
    int rc = STI_EINTERNAL;

    for (;;) {
        if (RAND_bytes(r, sizeof r) != 1)
            return STI_EINTERNAL;
        r[0] &= 0x7f;
        bn = BN_bin2bn(r, sizeof r, NULL);
        if (bn == NULL)
            return STI_ENOMEM;
        if (!BN_is_zero(bn))
            break;
        BN_free(bn);
    }
    if (BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL)
        rc = STI_OK;
    BN_free(bn);
    OPENSSL_cleanse(r, sizeof r);
    return rc;
}

static int ca_add_policy(X509 *x, ASN1_OBJECT *oid)
{
    int rc = STI_ENOMEM;
    CERTIFICATEPOLICIES *cps = sk_POLICYINFO_new_null();
    POLICYINFO *pi = POLICYINFO_new();
    ASN1_OBJECT *dup = OBJ_dup(oid);

    STI_CHECK(cps != NULL && pi != NULL && dup != NULL, STI_ENOMEM);
    ASN1_OBJECT_free(pi->policyid);
    pi->policyid = dup;
    dup = NULL;
    STI_CHECK(sk_POLICYINFO_push(cps, pi) > 0, STI_ENOMEM);
    pi = NULL;
    STI_CHECK(X509_add1_ext_i2d(x, NID_certificate_policies, cps, 0, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    rc = STI_OK;
out:
    ASN1_OBJECT_free(dup);
    POLICYINFO_free(pi);
    CERTIFICATEPOLICIES_free(cps);
    return rc;
}

static int ca_add_crldp(X509 *x, const char *uri)
{
    int rc = STI_ENOMEM;
    CRL_DIST_POINTS *dps = sk_DIST_POINT_new_null();
    DIST_POINT *dp = DIST_POINT_new();
    GENERAL_NAME *gn = GENERAL_NAME_new();
    ASN1_IA5STRING *ia5 = ASN1_IA5STRING_new();

    STI_CHECK(dps != NULL && dp != NULL && gn != NULL && ia5 != NULL, STI_ENOMEM);
    STI_CHECK(ASN1_STRING_set(ia5, uri, (int)strlen(uri)), STI_ENOMEM);
    GENERAL_NAME_set0_value(gn, GEN_URI, ia5);
    ia5 = NULL;
    dp->distpoint = DIST_POINT_NAME_new();
    STI_CHECK(dp->distpoint != NULL, STI_ENOMEM);
    dp->distpoint->type = 0; /* fullName */
    dp->distpoint->name.fullname = GENERAL_NAMES_new();
    STI_CHECK(dp->distpoint->name.fullname != NULL, STI_ENOMEM);
    STI_CHECK(sk_GENERAL_NAME_push(dp->distpoint->name.fullname, gn) > 0, STI_ENOMEM);
    gn = NULL;
    STI_CHECK(sk_DIST_POINT_push(dps, dp) > 0, STI_ENOMEM);
    dp = NULL;
    STI_CHECK(X509_add1_ext_i2d(x, NID_crl_distribution_points, dps, 0, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    rc = STI_OK;
out:
    ASN1_IA5STRING_free(ia5);
    GENERAL_NAME_free(gn);
    DIST_POINT_free(dp);
    CRL_DIST_POINTS_free(dps);
    return rc;
}

/* BasicConstraints, KeyUsage, SKI, AKI, policy, CRL DP, TNAuthList. */
static int ca_add_extensions(const struct pki_ca *ca, X509 *x, const struct scope *scope,
                             ASN1_OBJECT *policy, const char *crl_uri)
{
    int rc;
    BASIC_CONSTRAINTS *bc = BASIC_CONSTRAINTS_new();
    static const int ee_bits[] = {0 /* digitalSignature */};
    ASN1_BIT_STRING *ku = ca_key_usage(ee_bits, 1);
    ASN1_OCTET_STRING *ski = ASN1_OCTET_STRING_new();
    AUTHORITY_KEYID *aki = AUTHORITY_KEYID_new();
    X509_EXTENSION *tn = NULL;
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    STI_CHECK(bc != NULL && ku != NULL && ski != NULL && aki != NULL, STI_ENOMEM);
    bc->ca = 0; /* CA:FALSE: DEFAULT, so the SEQUENCE is empty in DER */
    STI_CHECK(X509_add1_ext_i2d(x, NID_basic_constraints, bc, 1, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    STI_CHECK(X509_add1_ext_i2d(x, NID_key_usage, ku, 1, X509V3_ADD_DEFAULT) == 1, STI_ENOMEM);
    /* SHA-1 of the subjectPublicKey bits (RFC 5280 4.2.1.2 method 1). */
    STI_CHECK(X509_pubkey_digest(x, EVP_sha1(), md, &mdlen), STI_EPKI_PARSE);
    STI_CHECK(ASN1_OCTET_STRING_set(ski, md, (int)mdlen), STI_ENOMEM);
    STI_CHECK(X509_add1_ext_i2d(x, NID_subject_key_identifier, ski, 0, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    STI_TRY(ca_key_id(ca->cert, &aki->keyid));
    STI_CHECK(X509_add1_ext_i2d(x, NID_authority_key_identifier, aki, 0, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    STI_TRY(ca_add_policy(x, policy));
    STI_TRY(ca_add_crldp(x, crl_uri));
    STI_TRY(ca_tnauth_ext(scope, &tn));
    STI_CHECK(X509_add_ext(x, tn, -1), STI_ENOMEM);
    rc = STI_OK;
out:
    X509_EXTENSION_free(tn);
    AUTHORITY_KEYID_free(aki);
    ASN1_OCTET_STRING_free(ski);
    ASN1_BIT_STRING_free(ku);
    BASIC_CONSTRAINTS_free(bc);
    return rc;
}

int pki_ca_issue(const struct pki_ca *ca, const char *csr_pem, size_t n,
                 const struct pki_issue_policy *pol, time_t now, X509 **out, struct scope *outside,
                 char *detail, size_t detail_cap)
{
    int rc;
    X509_REQ *req = NULL;
    X509_NAME *override = NULL;
    ASN1_OBJECT *policy = NULL;
    X509 *x = NULL;
    struct scope want;
    time_t ca_nb, ca_na;

    scope_init(&want);
    if (out != NULL)
        *out = NULL;
    if (detail != NULL && detail_cap > 0)
        detail[0] = '\0';
    if (ca == NULL || ca->cert == NULL || ca->key == NULL || csr_pem == NULL || pol == NULL ||
        out == NULL || outside == &ca->scope)
        return STI_EINVAL;

    /* The CA's own configuration first: a bad policy is the operator's
     * mistake whatever the request says. */
    STI_TRY(ca_oid_parse(pol->policy_oid, &policy));
    STI_CHECK(ca_uri_ok(pol->crl_uri), STI_EINVAL);
    STI_CHECK(pol->days >= 1 && pol->days <= PKI_CA_DAYS_MAX, STI_EINVAL);
    if (pol->subject_override != NULL)
        STI_TRY(pki_name_parse(pol->subject_override, &override));
    STI_CHECK(n <= CA_CSR_MAX, STI_ETOOLONG);

    /* The request: signature, key, scope. */
    STI_TRY(pki_csr_parse(csr_pem, n, &req, &want));
    STI_TRY(pki_key_check_p256(X509_REQ_get0_pubkey(req)));
    STI_CHECK(want.n > 0, STI_EPKI_NOTNAUTH);
    STI_TRY(scope_contains(&ca->scope, &want, pol->spc_policy, outside));

    const X509_NAME *subject = override != NULL ? override : X509_REQ_get_subject_name(req);
    if (!ca_name_has(subject, NID_countryName) || !ca_name_has(subject, NID_organizationName) ||
        !ca_name_has(subject, NID_commonName)) {
        if (detail != NULL && detail_cap > 0)
            snprintf(detail, detail_cap, "the subject needs C, O and CN");
        rc = STI_EPKI_PROFILE;
        goto out;
    }
    STI_TRY(ca_subject_clash(ca, subject, detail, detail_cap));

    /* Validity: within the CA's own, and the CA valid now. */
    STI_TRY(pki_cert_check_time(ca->cert, now));
    STI_TRY(pki_cert_times(ca->cert, &ca_nb, &ca_na));
    time_t nb = now - CA_BACKDATE < ca_nb ? ca_nb : now - CA_BACKDATE;
    time_t na = now + (time_t)pol->days * 86400;
    if (na > ca_na)
        na = ca_na;
    STI_CHECK(na > nb, STI_EPKI_EXPIRED);

    x = X509_new();
    STI_CHECK(x != NULL, STI_ENOMEM);
    STI_CHECK(X509_set_version(x, X509_VERSION_3), STI_ENOMEM);
    STI_TRY(ca_serial(x));
    STI_CHECK(X509_set_issuer_name(x, X509_get_subject_name(ca->cert)), STI_ENOMEM);
    STI_CHECK(X509_set_subject_name(x, subject), STI_ENOMEM);
    STI_CHECK(ASN1_TIME_set(X509_getm_notBefore(x), nb) != NULL, STI_ENOMEM);
    STI_CHECK(ASN1_TIME_set(X509_getm_notAfter(x), na) != NULL, STI_ENOMEM);
    STI_CHECK(X509_set_pubkey(x, X509_REQ_get0_pubkey(req)), STI_EPKI_KEYTYPE);
    STI_TRY(ca_add_extensions(ca, x, &want, policy, pol->crl_uri));

    STI_CHECK(X509_sign(x, ca->key, EVP_sha256()) > 0, STI_EHSM_SIGN);
    STI_CHECK(X509_verify(x, X509_get0_pubkey(ca->cert)) == 1, STI_EPKI_SIG);
    *out = x;
    x = NULL;
    rc = STI_OK;
out:
    X509_free(x);
    ASN1_OBJECT_free(policy);
    X509_NAME_free(override);
    X509_REQ_free(req);
    scope_free(&want);
    return rc;
}

/* ------------------------------------------------------------------ */
/* CRL */

static int ca_crl_add(X509_CRL *crl, const struct pki_ledger_entry *e)
{
    int rc = STI_ENOMEM;
    X509_REVOKED *r = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *serial = NULL;
    ASN1_TIME *at = NULL;
    ASN1_ENUMERATED *reason = NULL;

    STI_CHECK(r != NULL, STI_ENOMEM);
    STI_CHECK(BN_hex2bn(&bn, e->serial) > 0, STI_EINVAL);
    serial = BN_to_ASN1_INTEGER(bn, NULL);
    at = ASN1_TIME_set(NULL, e->revoked_at);
    STI_CHECK(serial != NULL && at != NULL, STI_ENOMEM);
    STI_CHECK(X509_REVOKED_set_serialNumber(r, serial), STI_ENOMEM);
    STI_CHECK(X509_REVOKED_set_revocationDate(r, at), STI_ENOMEM);
    /* RFC 5280 5.3.1: unspecified is expressed by leaving the reason out. */
    if (e->reason != PKI_REASON_UNSPECIFIED) {
        reason = ASN1_ENUMERATED_new();
        STI_CHECK(reason != NULL && ASN1_ENUMERATED_set(reason, e->reason), STI_ENOMEM);
        STI_CHECK(X509_REVOKED_add1_ext_i2d(r, NID_crl_reason, reason, 0, X509V3_ADD_DEFAULT) == 1,
                  STI_ENOMEM);
    }
    STI_CHECK(X509_CRL_add0_revoked(crl, r), STI_ENOMEM);
    r = NULL;
    rc = STI_OK;
out:
    ASN1_ENUMERATED_free(reason);
    ASN1_TIME_free(at);
    ASN1_INTEGER_free(serial);
    BN_free(bn);
    X509_REVOKED_free(r);
    return rc;
}

int pki_ca_crl(const struct pki_ca *ca, const struct pki_ledger *ledger, time_t now,
               long next_update_days, char **pem)
{
    int rc;
    X509_CRL *crl = NULL;
    ASN1_TIME *t = NULL;
    ASN1_INTEGER *number = NULL;
    AUTHORITY_KEYID *aki = NULL;
    BIO *bio = NULL;

    if (ca == NULL || ca->cert == NULL || ca->key == NULL || ledger == NULL || pem == NULL)
        return STI_EINVAL;
    *pem = NULL;
    if (next_update_days < 1 || next_update_days > 365)
        return STI_EINVAL;

    crl = X509_CRL_new();
    t = ASN1_TIME_new();
    number = ASN1_INTEGER_new();
    aki = AUTHORITY_KEYID_new();
    STI_CHECK(crl != NULL && t != NULL && number != NULL && aki != NULL, STI_ENOMEM);
    STI_CHECK(X509_CRL_set_version(crl, X509_CRL_VERSION_2), STI_ENOMEM);
    STI_CHECK(X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->cert)), STI_ENOMEM);
    STI_CHECK(ASN1_TIME_set(t, now) != NULL && X509_CRL_set1_lastUpdate(crl, t), STI_ENOMEM);
    STI_CHECK(ASN1_TIME_set(t, now + (time_t)next_update_days * 86400) != NULL &&
                  X509_CRL_set1_nextUpdate(crl, t),
              STI_ENOMEM);
    for (size_t i = 0; i < ledger->n; i++)
        if (ledger->e[i].revoked)
            STI_TRY(ca_crl_add(crl, &ledger->e[i]));
    STI_CHECK(X509_CRL_sort(crl), STI_ENOMEM);

    STI_CHECK(ASN1_INTEGER_set_int64(number, (int64_t)now), STI_ENOMEM);
    STI_CHECK(X509_CRL_add1_ext_i2d(crl, NID_crl_number, number, 0, X509V3_ADD_DEFAULT) == 1,
              STI_ENOMEM);
    STI_TRY(ca_key_id(ca->cert, &aki->keyid));
    STI_CHECK(
        X509_CRL_add1_ext_i2d(crl, NID_authority_key_identifier, aki, 0, X509V3_ADD_DEFAULT) == 1,
        STI_ENOMEM);

    STI_CHECK(X509_CRL_sign(crl, ca->key, EVP_sha256()) > 0, STI_EHSM_SIGN);
    STI_CHECK(X509_CRL_verify(crl, X509_get0_pubkey(ca->cert)) == 1, STI_EPKI_SIG);
    bio = BIO_new(BIO_s_mem());
    STI_CHECK(bio != NULL, STI_ENOMEM);
    STI_CHECK(PEM_write_bio_X509_CRL(bio, crl), STI_ENOMEM);
    rc = ca_bio_string(bio, pem);
out:
    BIO_free(bio);
    AUTHORITY_KEYID_free(aki);
    ASN1_INTEGER_free(number);
    ASN1_TIME_free(t);
    X509_CRL_free(crl);
    return rc;
}
