/*
 * csr.c — PKCS#10 requests carrying a TNAuthList: what a Customer AF sends
 * its TN Provider (make) and what the provider side checks (parse).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "sti_err.h"

/* Longest subject text accepted; real ones are well under 200. */
#define PKI_SUBJECT_MAX 1024

static char *pki_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

/* "/C=US/O=X/CN=Y" or "C=US, O=X, CN=Y", in that order into the name. No
 * escapes: a value cannot contain the separator. STI_EINVAL on anything
 * that is not key=value with a key OpenSSL knows and a non-empty value. */
static int pki_subject_parse(const char *text, X509_NAME *name)
{
    char buf[PKI_SUBJECT_MAX + 1];
    size_t len = strnlen(text, sizeof buf);
    if (len > PKI_SUBJECT_MAX)
        return STI_ETOOLONG;
    memcpy(buf, text, len);
    buf[len] = '\0';

    char *p = pki_trim(buf);
    char sep = ',';
    if (*p == '/') {
        sep = '/';
        p++;
    }
    for (;;) {
        char *end = strchr(p, sep);
        if (end != NULL)
            *end = '\0';
        char *eq = strchr(p, '=');
        if (eq == NULL)
            return STI_EINVAL;
        *eq = '\0';
        char *key = pki_trim(p), *val = pki_trim(eq + 1);
        if (*key == '\0' || *val == '\0')
            return STI_EINVAL;
        if (!X509_NAME_add_entry_by_txt(name, key, MBSTRING_UTF8, (const unsigned char *)val, -1,
                                        -1, 0))
            return STI_EINVAL;
        if (end == NULL)
            break;
        p = end + 1;
        if (*pki_trim(p) == '\0') /* trailing separator */
            return STI_EINVAL;
    }
    return STI_OK;
}

/* The TNAuthList as a one-element extension list for the request. */
static int pki_tnauth_extensions(const struct scope *scope, STACK_OF(X509_EXTENSION) **out)
{
    int rc;
    uint8_t *der = NULL;
    size_t n = 0;
    ASN1_OBJECT *oid = NULL;
    ASN1_OCTET_STRING *os = NULL;
    X509_EXTENSION *ext = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;

    STI_TRY(pki_tnauth_encode(scope, &der, &n));
    STI_CHECK(n <= INT_MAX, STI_ETOOLONG);
    oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    os = ASN1_OCTET_STRING_new();
    exts = sk_X509_EXTENSION_new_null();
    STI_CHECK(oid != NULL && os != NULL && exts != NULL, STI_ENOMEM);
    STI_CHECK(ASN1_OCTET_STRING_set(os, der, (int)n), STI_ENOMEM);
    /* Non-critical, as RFC 8226 section 9 asks. */
    ext = X509_EXTENSION_create_by_OBJ(NULL, oid, 0, os);
    STI_CHECK(ext != NULL, STI_ENOMEM);
    STI_CHECK(sk_X509_EXTENSION_push(exts, ext) > 0, STI_ENOMEM);
    ext = NULL;
    *out = exts;
    exts = NULL;
    rc = STI_OK;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(oid);
    free(der);
    return rc;
}

int pki_csr_make(EVP_PKEY *key, const char *subject, const struct scope *scope, char **pem)
{
    int rc;
    X509_REQ *req = NULL;
    X509_NAME *name = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    BIO *bio = NULL;
    char *text = NULL;

    if (key == NULL || subject == NULL || scope == NULL || pem == NULL)
        return STI_EINVAL;
    *pem = NULL;
    STI_TRY(pki_key_check_p256(key));

    req = X509_REQ_new();
    name = X509_NAME_new();
    STI_CHECK(req != NULL && name != NULL, STI_ENOMEM);
    STI_TRY(pki_subject_parse(subject, name));
    STI_CHECK(X509_REQ_set_version(req, X509_REQ_VERSION_1), STI_ENOMEM);
    STI_CHECK(X509_REQ_set_subject_name(req, name), STI_ENOMEM);
    STI_CHECK(X509_REQ_set_pubkey(req, key), STI_EPKI_KEYTYPE);
    STI_TRY(pki_tnauth_extensions(scope, &exts));
    STI_CHECK(X509_REQ_add_extensions(req, exts), STI_ENOMEM);

    /* The key normally lives on the token: a failed sign is the token's,
     * and a signature that does not verify is caught here rather than by
     * the TN Provider (tokens have been seen to return bad ECDSA values). */
    STI_CHECK(X509_REQ_sign(req, key, EVP_sha256()) > 0, STI_EHSM_SIGN);
    STI_CHECK(X509_REQ_verify(req, key) == 1, STI_EPKI_SIG);

    bio = BIO_new(BIO_s_mem());
    STI_CHECK(bio != NULL, STI_ENOMEM);
    STI_CHECK(PEM_write_bio_X509_REQ(bio, req), STI_ENOMEM);
    char *data = NULL;
    long len = BIO_get_mem_data(bio, &data);
    STI_CHECK(len > 0 && data != NULL, STI_EINTERNAL);
    text = malloc((size_t)len + 1);
    STI_CHECK(text != NULL, STI_ENOMEM);
    memcpy(text, data, (size_t)len);
    text[len] = '\0';
    *pem = text;
    text = NULL;
    rc = STI_OK;
out:
    free(text);
    BIO_free(bio);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return rc;
}

int pki_csr_parse(const char *pem, size_t n, X509_REQ **out, struct scope *scope_out)
{
    int rc;
    BIO *bio = NULL;
    X509_REQ *req = NULL;
    STACK_OF(X509_EXTENSION) *exts = NULL;
    struct scope tmp;

    scope_init(&tmp);
    if (pem == NULL)
        return STI_EINVAL;
    if (out != NULL)
        *out = NULL;
    STI_CHECK(n > 0, STI_EPKI_PARSE);
    STI_CHECK(n <= INT_MAX, STI_ETOOLONG);
    bio = BIO_new_mem_buf(pem, (int)n);
    STI_CHECK(bio != NULL, STI_ENOMEM);
    req = PEM_read_bio_X509_REQ(bio, NULL, NULL, NULL);
    STI_CHECK(req != NULL, STI_EPKI_PARSE);

    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    STI_CHECK(pub != NULL, STI_EPKI_PARSE);
    STI_CHECK(X509_REQ_verify(req, pub) == 1, STI_EPKI_SIG);

    /* NULL here means an extensionRequest attribute that does not parse;
     * a request without one yields an empty list. */
    exts = X509_REQ_get_extensions(req);
    STI_CHECK(exts != NULL, STI_EPKI_PARSE);
    STI_TRY(pki_tnauth_find(exts, scope_out != NULL ? scope_out : &tmp));

    if (out != NULL) {
        *out = req;
        req = NULL;
    }
    rc = STI_OK;
out:
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    X509_REQ_free(req);
    BIO_free(bio);
    scope_free(&tmp);
    return rc;
}

int pki_name_parse(const char *text, X509_NAME **out)
{
    int rc;
    X509_NAME *name = NULL;

    if (text == NULL || out == NULL)
        return STI_EINVAL;
    *out = NULL;
    name = X509_NAME_new();
    STI_CHECK(name != NULL, STI_ENOMEM);
    STI_TRY(pki_subject_parse(text, name));
    *out = name;
    name = NULL;
out:
    X509_NAME_free(name);
    return rc;
}
