/*
 * cert.c — reading certificate chains and the load-time checks a signing
 * credential must pass (scope, validity, key, order).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "pki.h"
#include "sti_err.h"

/* A chain file holds a few certificates of about 1 KiB each. */
#define PKI_CHAIN_FILE_MAX (256 * 1024)

/* ------------------------------------------------------------------ */
/* Chains */

int pki_chain_parse(const char *pem, size_t n, STACK_OF(X509) * *out)
{
    int rc = STI_EPKI_PARSE;
    BIO *bio = NULL;
    STACK_OF(X509) *chain = NULL;
    X509 *x = NULL;

    if (pem == NULL || out == NULL)
        return STI_EINVAL;
    *out = NULL;
    STI_CHECK(n > 0, STI_EPKI_PARSE);
    STI_CHECK(n <= INT_MAX, STI_ETOOLONG);
    bio = BIO_new_mem_buf(pem, (int)n);
    chain = sk_X509_new_null();
    STI_CHECK(bio != NULL && chain != NULL, STI_ENOMEM);

    ERR_set_mark();
    while ((x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(chain, x)) {
            ERR_pop_to_mark();
            rc = STI_ENOMEM;
            goto out;
        }
        x = NULL;
    }
    /* The loop ends at end of input (no further BEGIN line) or at a block
     * that does not parse; only the former is success. */
    unsigned long e = ERR_peek_last_error();
    int at_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
    ERR_pop_to_mark();
    STI_CHECK(at_end && sk_X509_num(chain) > 0, STI_EPKI_PARSE);

    *out = chain;
    chain = NULL;
    rc = STI_OK;
out:
    X509_free(x);
    sk_X509_pop_free(chain, X509_free);
    BIO_free(bio);
    return rc;
}

int pki_chain_load(const char *path, STACK_OF(X509) * *out)
{
    int rc = STI_EIO;
    FILE *f = NULL;
    char *buf = NULL;

    if (path == NULL || out == NULL)
        return STI_EINVAL;
    *out = NULL;
    f = fopen(path, "rb");
    STI_CHECK(f != NULL, STI_EIO);
    buf = malloc(PKI_CHAIN_FILE_MAX + 1);
    STI_CHECK(buf != NULL, STI_ENOMEM);
    size_t n = fread(buf, 1, PKI_CHAIN_FILE_MAX + 1, f);
    STI_CHECK(!ferror(f), STI_EIO);
    STI_CHECK(n <= PKI_CHAIN_FILE_MAX, STI_ETOOLONG);
    rc = pki_chain_parse(buf, n, out);
out:
    free(buf);
    if (f != NULL)
        fclose(f);
    return rc;
}

int pki_chain_check_order(STACK_OF(X509) * chain)
{
    if (chain == NULL)
        return STI_EINVAL;
    int n = sk_X509_num(chain);
    if (n < 1)
        return STI_EPKI_CHAIN;
    for (int i = 0; i + 1 < n; i++) {
        X509 *cur = sk_X509_value(chain, i);
        X509 *next = sk_X509_value(chain, i + 1);
        /* Names, key identifiers and the issuer's keyCertSign usage... */
        if (X509_check_issued(next, cur) != X509_V_OK)
            return STI_EPKI_CHAIN;
        /* ...then the signature itself. */
        EVP_PKEY *ik = X509_get0_pubkey(next);
        if (ik == NULL || X509_verify(cur, ik) != 1)
            return STI_EPKI_CHAIN;
    }
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* Extensions */

int pki_tnauth_find(const STACK_OF(X509_EXTENSION) * exts, struct scope *out)
{
    int rc = STI_EPKI_NOTNAUTH;
    ASN1_OBJECT *oid = NULL;

    if (out == NULL)
        return STI_EINVAL;
    if (exts == NULL)
        return STI_EPKI_NOTNAUTH;
    oid = OBJ_txt2obj(PKI_OID_TNAUTHLIST, 1);
    STI_CHECK(oid != NULL, STI_ENOMEM);
    int at = X509v3_get_ext_by_OBJ(exts, oid, -1);
    STI_CHECK(at >= 0, STI_EPKI_NOTNAUTH);
    /* RFC 5280 4.2: an extension appears at most once; two TNAuthLists
     * would leave the scope ambiguous. */
    STI_CHECK(X509v3_get_ext_by_OBJ(exts, oid, at) < 0, STI_EPKI_TNAUTH);
    const ASN1_OCTET_STRING *os = X509_EXTENSION_get_data(X509v3_get_ext(exts, at));
    const unsigned char *p = ASN1_STRING_get0_data(os);
    int len = ASN1_STRING_length(os);
    STI_CHECK(p != NULL && len > 0, STI_EPKI_TNAUTH);
    rc = pki_tnauth_decode(p, (size_t)len, out);
out:
    ASN1_OBJECT_free(oid);
    return rc;
}

int pki_cert_scope(X509 *cert, struct scope *out)
{
    if (cert == NULL || out == NULL)
        return STI_EINVAL;
    return pki_tnauth_find(X509_get0_extensions(cert), out);
}

/* ------------------------------------------------------------------ */
/* Validity */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * civil-date arithmetic); avoids timegm(), which is not ISO C. */
static long long pki_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static int pki_asn1_time(const ASN1_TIME *t, time_t *out)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    /* ASN1_TIME_to_tm checks the UTCTime/GeneralizedTime syntax. */
    if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
        return STI_EPKI_PARSE;
    long long days = pki_days_from_civil((long long)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1,
                                         (unsigned)tm.tm_mday);
    long long secs = days * 86400 + tm.tm_hour * 3600LL + tm.tm_min * 60LL + tm.tm_sec;
    *out = (time_t)secs;
    if ((long long)*out != secs)
        return STI_EPKI_PARSE;
    return STI_OK;
}

int pki_cert_times(X509 *cert, time_t *not_before, time_t *not_after)
{
    time_t nb, na;
    if (cert == NULL || not_before == NULL || not_after == NULL)
        return STI_EINVAL;
    if (pki_asn1_time(X509_get0_notBefore(cert), &nb) != STI_OK ||
        pki_asn1_time(X509_get0_notAfter(cert), &na) != STI_OK)
        return STI_EPKI_PARSE;
    *not_before = nb;
    *not_after = na;
    return STI_OK;
}

int pki_cert_check_time(X509 *cert, time_t now)
{
    time_t nb, na;
    int rc = pki_cert_times(cert, &nb, &na);
    if (rc != STI_OK)
        return rc;
    /* RFC 5280 4.1.2.5: both bounds are inclusive. */
    if (now < nb)
        return STI_EPKI_NOTYET;
    if (now > na)
        return STI_EPKI_EXPIRED;
    return STI_OK;
}

int pki_cert_crl_url(X509 *cert, char *url, size_t cap)
{
    int rc = STI_ENOTFOUND;
    STACK_OF(DIST_POINT) *dps = X509_get_ext_d2i(cert, NID_crl_distribution_points, NULL, NULL);
    for (int i = 0; rc == STI_ENOTFOUND && i < sk_DIST_POINT_num(dps); i++) {
        DIST_POINT *dp = sk_DIST_POINT_value(dps, i);
        if (dp->distpoint == NULL || dp->distpoint->type != 0)
            continue; /* only a full name can be fetched */
        GENERAL_NAMES *names = dp->distpoint->name.fullname;
        for (int k = 0; k < sk_GENERAL_NAME_num(names); k++) {
            GENERAL_NAME *g = sk_GENERAL_NAME_value(names, k);
            if (g->type != GEN_URI)
                continue;
            const ASN1_IA5STRING *u = g->d.uniformResourceIdentifier;
            size_t n = (size_t)ASN1_STRING_length(u);
            const unsigned char *b = ASN1_STRING_get0_data(u);
            if (n == 0 || memchr(b, 0, n) != NULL)
                continue;
            if (n >= cap) {
                rc = STI_ETOOLONG;
                break;
            }
            memcpy(url, b, n);
            url[n] = '\0';
            rc = STI_OK;
            break;
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    return rc;
}

int pki_crl_check(X509_CRL *crl, X509 *issuer, time_t now)
{
    time_t t;
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    if (crl == NULL || issuer == NULL)
        return STI_EINVAL;
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0 || key == NULL)
        return STI_EPKI_SIG;
    ERR_set_mark();
    int ok = X509_CRL_verify(crl, key) == 1;
    ERR_pop_to_mark();
    if (!ok)
        return STI_EPKI_SIG;
    if (pki_asn1_time(X509_CRL_get0_lastUpdate(crl), &t) != STI_OK)
        return STI_EPKI_PARSE;
    if (now < t)
        return STI_EPKI_NOTYET;
    const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
    if (next == NULL || pki_asn1_time(next, &t) != STI_OK || now > t)
        return STI_EPKI_EXPIRED;
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* Keys */

int pki_key_check_p256(const EVP_PKEY *key)
{
    char group[64];
    size_t glen = 0;
    int explicit_params = 0;

    if (key == NULL)
        return STI_EINVAL;
    if (!EVP_PKEY_is_a(key, "EC"))
        return STI_EPKI_KEYTYPE;
    if (!EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                        &glen) ||
        strcmp(group, SN_X9_62_prime256v1) != 0)
        return STI_EPKI_KEYTYPE;
    /* RFC 5480 requires namedCurve; explicit parameters that happen to
     * match P-256 are refused. Keys that cannot say are taken as named. */
    if (EVP_PKEY_get_int_param(key, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS,
                               &explicit_params) &&
        explicit_params != 0)
        return STI_EPKI_KEYTYPE;
    return STI_OK;
}

int pki_key_point(const EVP_PKEY *key, uint8_t point[65])
{
    int rc = STI_EPKI_KEYTYPE;
    BIGNUM *x = NULL, *y = NULL;

    if (key == NULL || point == NULL)
        return STI_EINVAL;
    STI_TRY(pki_key_check_p256(key));
    /* Coordinates rather than the encoded key, whose form (compressed or
     * not) follows however the key was last decoded. */
    STI_CHECK(EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, &x) &&
                  EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, &y),
              STI_EPKI_KEYTYPE);
    point[0] = 0x04;
    STI_CHECK(BN_bn2binpad(x, point + 1, 32) == 32 && BN_bn2binpad(y, point + 33, 32) == 32,
              STI_EPKI_KEYTYPE);
    rc = STI_OK;
out:
    BN_free(x);
    BN_free(y);
    return rc;
}

int pki_cert_point(X509 *cert, uint8_t point[65])
{
    if (cert == NULL || point == NULL)
        return STI_EINVAL;
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (key == NULL)
        return STI_EPKI_KEYTYPE;
    return pki_key_point(key, point);
}

int pki_cert_matches_point(X509 *cert, const uint8_t point[65])
{
    uint8_t mine[65];
    if (point == NULL)
        return STI_EINVAL;
    int rc = pki_cert_point(cert, mine);
    if (rc != STI_OK)
        return rc;
    return CRYPTO_memcmp(mine, point, sizeof mine) == 0 ? STI_OK : STI_EPKI_KEYMISMATCH;
}

/* ------------------------------------------------------------------ */
/* The credential gate */

int pki_credential_check(STACK_OF(X509) * chain, const uint8_t point[65], time_t now,
                         struct scope *scope_out)
{
    int rc;
    struct scope tmp;

    if (chain == NULL || point == NULL)
        return STI_EINVAL;
    if (sk_X509_num(chain) < 1)
        return STI_EPKI_CHAIN;
    X509 *leaf = sk_X509_value(chain, 0);

    if ((rc = pki_chain_check_order(chain)) != STI_OK)
        return rc;
    if ((rc = pki_cert_matches_point(leaf, point)) != STI_OK)
        return rc;
    if ((rc = pki_cert_check_time(leaf, now)) != STI_OK)
        return rc;
    scope_init(&tmp);
    rc = pki_cert_scope(leaf, scope_out != NULL ? scope_out : &tmp);
    scope_free(&tmp);
    return rc;
}
