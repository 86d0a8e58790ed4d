/*
 * test_vs.c — the verifier's fetch rules and cache (firmware/vs) without a
 * web server: the URL rules, the body parsers and the freshness table as
 * pure functions; the fetcher and the cache against what a loopback socket
 * can play without TLS (nobody listening, a listener that never answers, a
 * resolver that never answers) and against pins. Certificates and CRLs
 * come from a throwaway CA made here with OpenSSL. The hostile HTTPS server
 * cases are in tests/integration/test_vs_fetch.py.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "sti_err.h"
#include "vs_cache.h"
#include "vs_fetch.h"

#define NOW ((time_t)1750000000)

/* ---- a throwaway CA ---- */

struct pki {
    EVP_PKEY *root_key, *leaf_key;
    X509 *root, *leaf;
    X509_CRL *crl;
};

static X509 *make_cert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int ca,
                       long serial)
{
    X509 *x = X509_new();
    X509_EXTENSION *bc = NULL;
    int ok = x != NULL && X509_set_version(x, 2) &&
             ASN1_INTEGER_set(X509_get_serialNumber(x), serial) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -3600) &&
             X509_gmtime_adj(X509_getm_notAfter(x), 86400) &&
             X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                                        (const unsigned char *)cn, -1, -1, 0) &&
             X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x)) &&
             X509_set_pubkey(x, key);
    bc = X509V3_EXT_conf_nid(NULL, NULL, NID_basic_constraints,
                             ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    ok = ok && bc != NULL && X509_add_ext(x, bc, -1) &&
         X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0;
    X509_EXTENSION_free(bc);
    if (!ok) {
        X509_free(x);
        return NULL;
    }
    return x;
}

static int pki_make(struct pki *p)
{
    memset(p, 0, sizeof *p);
    p->root_key = EVP_EC_gen("P-256");
    p->leaf_key = EVP_EC_gen("P-256");
    if (p->root_key == NULL || p->leaf_key == NULL)
        return 0;
    p->root = make_cert("Test Root", p->root_key, NULL, NULL, 1, 1);
    p->leaf = make_cert("SHAKEN TEST", p->leaf_key, p->root, p->root_key, 0, 2);
    p->crl = X509_CRL_new();
    X509_REVOKED *rv = X509_REVOKED_new();
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    ASN1_TIME *t = ASN1_TIME_new();
    int ok = p->root && p->leaf && p->crl && rv && serial && t && X509_CRL_set_version(p->crl, 1) &&
             X509_CRL_set_issuer_name(p->crl, X509_get_subject_name(p->root)) &&
             X509_gmtime_adj(t, 0) && X509_CRL_set1_lastUpdate(p->crl, t) &&
             X509_gmtime_adj(t, 86400) && X509_CRL_set1_nextUpdate(p->crl, t) &&
             ASN1_INTEGER_set(serial, 7) && X509_REVOKED_set_serialNumber(rv, serial) &&
             X509_gmtime_adj(t, -60) && X509_REVOKED_set_revocationDate(rv, t) &&
             X509_CRL_add0_revoked(p->crl, rv);
    if (ok)
        rv = NULL;
    ok = ok && X509_CRL_sort(p->crl) && X509_CRL_sign(p->crl, p->root_key, EVP_sha256()) > 0;
    X509_REVOKED_free(rv);
    ASN1_INTEGER_free(serial);
    ASN1_TIME_free(t);
    return ok;
}

static void pki_free(struct pki *p)
{
    X509_free(p->root);
    X509_free(p->leaf);
    X509_CRL_free(p->crl);
    EVP_PKEY_free(p->root_key);
    EVP_PKEY_free(p->leaf_key);
}

/* ---- text building ---- */

struct text {
    char b[64 * 1024];
    size_t n;
};

static void put(struct text *t, const char *s)
{
    size_t m = strlen(s);
    if (t->n + m < sizeof t->b) {
        memcpy(t->b + t->n, s, m);
        t->n += m;
        t->b[t->n] = '\0';
    }
}

static void put_bio(struct text *t, BIO *b)
{
    char *p;
    long m = BIO_get_mem_data(b, &p);
    if (m > 0 && t->n + (size_t)m < sizeof t->b) {
        memcpy(t->b + t->n, p, (size_t)m);
        t->n += (size_t)m;
        t->b[t->n] = '\0';
    }
    BIO_free(b);
}

static void put_cert(struct text *t, X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, x);
    put_bio(t, b);
}

static void put_key(struct text *t, EVP_PKEY *k)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    put_bio(t, b);
}

static void put_crl(struct text *t, X509_CRL *c)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_CRL(b, c);
    put_bio(t, b);
}

/* A PEM block of the given label around arbitrary DER. */
static void put_pem(struct text *t, const char *label, const uint8_t *der, size_t n)
{
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio(b, label, "", der, (long)n);
    put_bio(t, b);
}

static int chain_rc(const struct text *t, int *ncerts)
{
    STACK_OF(X509) *sk = NULL;
    int rc = vs_body_chain((const uint8_t *)t->b, t->n, &sk);
    *ncerts = sk ? sk_X509_num(sk) : -1;
    sk_X509_pop_free(sk, X509_free);
    return rc;
}

/* ---- URL rules ---- */

struct url_case {
    const char *url;
    enum vs_kind kind;
    int crl_http;
    int want;
};

TEST(url_table_accepts_and_refuses_with_exact_codes)
{
    static const struct url_case cases[] = {
        {"https://cr.example.com/sti/chain.pem", VS_CHAIN, 0, STI_OK},
        {"https://cr.example.com:8443/chain.pem", VS_CHAIN, 0, STI_OK},
        {"https://cr.example.com/c.pem?tn=12025550100&v=2", VS_CHAIN, 0, STI_OK},
        {"https://cr.example.com", VS_CHAIN, 0, STI_OK},
        {"https://[2001:db8::1]:8443/c.pem", VS_CHAIN, 0, STI_OK},
        {"https://192.0.2.7/c.pem", VS_CHAIN, 0, STI_OK},
        {"https://cr.example.com/a@b/%41.pem", VS_CHAIN, 0, STI_OK},
        {"https://user@cr.example.com/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://user:pw@cr.example.com/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com@evil.example/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/c.pem#frag", VS_CHAIN, 0, STI_EX5U},
        {"http://cr.example.com/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"http://cr.example.com/c.pem", VS_CHAIN, 1, STI_EX5U},
        {"https://cr.example.com:80/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com:9999/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com:/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com:0/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com:443x/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https:///c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://:443/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://[]/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://[2001:db8::zz]/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://[fe80::1%25eth0]/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.exa_mple.com/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/a b.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/a\tb.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/c.pem\r\nX-Evil: 1", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/\xc3\xa9.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/%zz.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/a<b>.pem", VS_CHAIN, 0, STI_EX5U},
        {"https://cr.example.com/[x].pem", VS_CHAIN, 0, STI_EX5U},
        {"ftp://cr.example.com/c.pem", VS_CHAIN, 0, STI_EX5U},
        {"", VS_CHAIN, 0, STI_EX5U},
        /* CRL distribution points: http only when allowed, own code */
        {"http://crl.example.com/ca.crl", VS_CRL, 1, STI_OK},
        {"http://crl.example.com:8443/ca.crl", VS_CRL, 1, STI_OK},
        {"http://crl.example.com/ca.crl", VS_CRL, 0, STI_EVFY_FETCH},
        {"https://crl.example.com/ca.crl", VS_CRL, 0, STI_OK},
        {"https://crl.example.com:80/ca.crl", VS_CRL, 1, STI_EVFY_FETCH},
        {"https://u@crl.example.com/ca.crl", VS_CRL, 1, STI_EVFY_FETCH},
        {"http://crl.example.com:9999/ca.crl", VS_CRL, 1, STI_EVFY_FETCH},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct vs_fetch_cfg cfg;
        struct vs_url u;
        memset(&cfg, 0, sizeof cfg);
        cfg.crl_http = cases[i].crl_http;
        int rc = vs_url_parse(cases[i].url, cases[i].kind, &cfg, &u);
        if (rc != cases[i].want)
            fprintf(stderr, "case %zu: %s\n", i, cases[i].url);
        CHECK_RC(rc, cases[i].want);
    }
}

TEST(url_parts_come_out_split)
{
    struct vs_url u;
    CHECK_RC(vs_url_parse("https://cr.example.com/c.pem?x=1", VS_CHAIN, NULL, &u), STI_OK);
    CHECK_INT(u.https, 1);
    CHECK_STR(u.host, "cr.example.com");
    CHECK_INT(u.port, 443);
    CHECK_STR(u.path, "/c.pem?x=1");
    CHECK_RC(vs_url_parse("https://[::1]:8443", VS_CHAIN, NULL, &u), STI_OK);
    CHECK_STR(u.host, "::1");
    CHECK_INT(u.port, 8443);
    CHECK_STR(u.path, "/");
    CHECK_RC(vs_url_parse("https://cr.example.com?x=1", VS_CHAIN, NULL, &u), STI_OK);
    CHECK_STR(u.path, "/?x=1");
    struct vs_fetch_cfg cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.crl_http = 1;
    CHECK_RC(vs_url_parse("http://crl.example.com/a.crl", VS_CRL, &cfg, &u), STI_OK);
    CHECK_INT(u.https, 0);
    CHECK_INT(u.port, 80);
}

TEST(url_port_list_replaces_the_default)
{
    struct vs_fetch_cfg cfg;
    struct vs_url u;
    memset(&cfg, 0, sizeof cfg);
    cfg.ports[0] = 9443;
    CHECK_RC(vs_url_parse("https://h.example:9443/c", VS_CHAIN, &cfg, &u), STI_OK);
    CHECK_RC(vs_url_parse("https://h.example/c", VS_CHAIN, &cfg, &u), STI_EX5U);
    CHECK_RC(vs_url_parse("https://h.example:8443/c", VS_CHAIN, &cfg, &u), STI_EX5U);
}

TEST(url_overlong_is_refused_at_exactly_the_limit)
{
    char url[VS_URL_MAX + 8];
    struct vs_url u;
    strcpy(url, "https://h.example/");
    size_t n = strlen(url);
    memset(url + n, 'a', VS_URL_MAX - 1 - n);
    url[VS_URL_MAX - 1] = '\0';
    CHECK_RC(vs_url_parse(url, VS_CHAIN, NULL, &u), STI_OK);
    url[VS_URL_MAX - 1] = 'a';
    url[VS_URL_MAX] = '\0';
    CHECK_RC(vs_url_parse(url, VS_CHAIN, NULL, &u), STI_EX5U);
    CHECK_RC(vs_url_parse(url, VS_CRL, NULL, &u), STI_EVFY_FETCH);
    /* A 256-character host does not fit VS_HOST_MAX. */
    char big[VS_URL_MAX];
    strcpy(big, "https://");
    memset(big + 8, 'h', 256);
    strcpy(big + 8 + 256, "/c");
    CHECK_RC(vs_url_parse(big, VS_CHAIN, NULL, &u), STI_EX5U);
}

/* ---- bodies ---- */

TEST(good_chain_parses_leaf_first)
{
    struct pki p;
    static struct text t;
    int n;
    CHECK(pki_make(&p));
    t.n = 0;
    put(&t, "\r\n  ");
    put_cert(&t, p.leaf);
    put(&t, "\r\n\t\n");
    put_cert(&t, p.root);
    put(&t, "\n\n");
    STACK_OF(X509) *sk = NULL;
    CHECK_RC(vs_body_chain((const uint8_t *)t.b, t.n, &sk), STI_OK);
    n = sk_X509_num(sk);
    int leaf_first =
        X509_cmp(sk_X509_value(sk, 0), p.leaf) == 0 && X509_cmp(sk_X509_value(sk, 1), p.root) == 0;
    sk_X509_pop_free(sk, X509_free);
    pki_free(&p);
    CHECK_INT(n, 2);
    CHECK(leaf_first);
}

TEST(junk_between_blocks_is_refused)
{
    struct pki p;
    static struct text t;
    int n;
    CHECK(pki_make(&p));
    t.n = 0;
    put_cert(&t, p.leaf);
    put(&t, "this is not whitespace\n");
    put_cert(&t, p.root);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    /* before the first block, after the last, glued to an END line */
    t.n = 0;
    put(&t, "x");
    put_cert(&t, p.leaf);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put_cert(&t, p.leaf);
    put(&t, "\n.");
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put_cert(&t, p.leaf);
    t.n--; /* drop the newline after -----END CERTIFICATE----- */
    put(&t, "x\n");
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    /* END glued to the next BEGIN: OpenSSL's own reader would stop there */
    t.n = 0;
    put_cert(&t, p.leaf);
    t.n--;
    put_cert(&t, p.root);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    pki_free(&p);
}

TEST(private_key_block_in_a_chain_is_refused)
{
    struct pki p;
    static struct text t;
    int n;
    CHECK(pki_make(&p));
    t.n = 0;
    put_cert(&t, p.leaf);
    put_key(&t, p.leaf_key);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    /* other PEM types alone, too */
    t.n = 0;
    put_crl(&t, p.crl);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put(&t, "-----BEGIN TRUSTED CERTIFICATE-----\nAAAA\n-----END TRUSTED CERTIFICATE-----\n");
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    pki_free(&p);
}

TEST(pem_headers_are_refused)
{
    struct pki p;
    static struct text t, body;
    int n;
    CHECK(pki_make(&p));
    body.n = 0;
    put_cert(&body, p.leaf);
    /* Same base64, with an RFC 1421 header block added after BEGIN. */
    const char *nl = strchr(body.b, '\n');
    t.n = 0;
    put(&t, "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\n"
            "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\n");
    put(&t, nl + 1);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    pki_free(&p);
}

TEST(eleven_certificates_are_refused_ten_accepted)
{
    struct pki p;
    static struct text t;
    int n;
    CHECK(pki_make(&p));
    t.n = 0;
    for (int i = 0; i < VS_CHAIN_MAX; i++)
        put_cert(&t, i == 0 ? p.leaf : p.root);
    CHECK_RC(chain_rc(&t, &n), STI_OK);
    CHECK_INT(n, VS_CHAIN_MAX);
    put_cert(&t, p.root);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    CHECK_INT(n, -1);
    pki_free(&p);
}

TEST(certificate_with_trailing_der_is_refused)
{
    struct pki p;
    static struct text t;
    uint8_t der[4096];
    int n;
    CHECK(pki_make(&p));
    unsigned char *q = der;
    int len = i2d_X509(p.leaf, &q);
    CHECK(len > 0 && (size_t)len + 2 < sizeof der);
    t.n = 0;
    put_pem(&t, "CERTIFICATE", der, (size_t)len);
    CHECK_RC(chain_rc(&t, &n), STI_OK);
    der[len] = 0x05; /* a DER NULL after the certificate */
    der[len + 1] = 0x00;
    t.n = 0;
    put_pem(&t, "CERTIFICATE", der, (size_t)len + 2);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    /* and a truncated one */
    t.n = 0;
    put_pem(&t, "CERTIFICATE", der, (size_t)len - 1);
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    pki_free(&p);
}

TEST(empty_or_blank_chain_is_refused)
{
    static struct text t;
    int n;
    t.n = 0;
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    put(&t, " \r\n\t ");
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put(&t, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
    CHECK_RC(chain_rc(&t, &n), STI_EVFY_FETCH_BODY);
}

TEST(crl_der_and_pem_parse_exactly)
{
    struct pki p;
    static struct text t;
    uint8_t der[4096];
    X509_CRL *c = NULL;
    CHECK(pki_make(&p));
    unsigned char *q = der;
    int len = i2d_X509_CRL(p.crl, &q);
    CHECK(len > 0 && (size_t)len + 1 < sizeof der);
    CHECK_RC(vs_body_crl(der, (size_t)len, &c), STI_OK);
    CHECK(X509_CRL_cmp(c, p.crl) == 0);
    X509_CRL_free(c);
    c = NULL;
    der[len] = 0;
    CHECK_RC(vs_body_crl(der, (size_t)len + 1, &c), STI_EVFY_FETCH_BODY);
    CHECK_RC(vs_body_crl(der, (size_t)len - 1, &c), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put(&t, "\n ");
    put_crl(&t, p.crl);
    put(&t, "\r\n");
    CHECK_RC(vs_body_crl((const uint8_t *)t.b, t.n, &c), STI_OK);
    X509_CRL_free(c);
    c = NULL;
    /* two CRLs, a CRL with junk after it, a certificate */
    put_crl(&t, p.crl);
    CHECK_RC(vs_body_crl((const uint8_t *)t.b, t.n, &c), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put_crl(&t, p.crl);
    put(&t, "junk\n");
    CHECK_RC(vs_body_crl((const uint8_t *)t.b, t.n, &c), STI_EVFY_FETCH_BODY);
    t.n = 0;
    put_cert(&t, p.leaf);
    CHECK_RC(vs_body_crl((const uint8_t *)t.b, t.n, &c), STI_EVFY_FETCH_BODY);
    CHECK_RC(vs_body_crl((const uint8_t *)"", 0, &c), STI_EVFY_FETCH_BODY);
    CHECK(c == NULL);
    pki_free(&p);
}

/* ---- freshness ---- */

static void http_date(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

TEST(ttl_table)
{
    char future[64], past[64], asctime_form[64];
    http_date(NOW + 100, future, sizeof future);
    http_date(NOW - 100, past, sizeof past);
    struct tm tm;
    time_t t = NOW + 100;
    gmtime_r(&t, &tm);
    strftime(asctime_form, sizeof asctime_form, "%a %b %e %H:%M:%S %Y", &tm);
    const struct {
        const char *cc, *exp;
        long want;
    } cases[] = {
        {NULL, NULL, -1},
        {"", NULL, -1},
        {"max-age=0", NULL, 0},
        {"max-age=600", NULL, 600},
        {"MAX-AGE=60", NULL, 60},
        {"public, max-age=\"120\"", NULL, 120},
        {"no-store", NULL, 0},
        {"no-store, max-age=600", NULL, 0},
        {"max-age=600, no-cache", NULL, 0},
        {"no-cache=\"Set-Cookie\", max-age=60", NULL, 60},
        {"max-age=600, s-maxage=30", NULL, 30},
        {"s-maxage=30, max-age=600", NULL, 30},
        {"max-age=10, max-age=20", NULL, 10},
        {"max-age=abc", NULL, -1},
        {"max-age=-5", NULL, -1},
        {"max-age=", NULL, -1},
        {"max-age=1.5", NULL, -1},
        {"max-age=99999999999999999999", NULL, VS_TTL_SATURATE},
        {"garbage;;==,\"\",@@", NULL, -1},
        {"max-age=\"60", NULL, -1},
        {",,, max-age=45 ,", NULL, 45},
        {NULL, future, 100},
        {NULL, past, 0},
        {NULL, "0", 0},
        {NULL, "garbage", 0},
        {NULL, asctime_form, 0},
        {NULL, "Sun, 31 Feb 2026 08:49:37 GMT", 0},
        {"max-age=5", future, 5},
        {"no-store", future, 0},
        {"private", future, 100},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = vs_ttl(cases[i].cc, cases[i].exp, NOW);
        if (got != cases[i].want)
            fprintf(stderr, "case %zu: cc=%s expires=%s\n", i, cases[i].cc ? cases[i].cc : "-",
                    cases[i].exp ? cases[i].exp : "-");
        CHECK_INT(got, cases[i].want);
    }
}

/* ---- fetcher and cache on a loopback without TLS peers ---- */

/* What answers on 127.0.0.1: nobody (connects are refused), or a listener
 * that never accepts nor answers (connects complete, TLS never starts). */
enum peer { PEER_REFUSING, PEER_SILENT };

struct loop {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    struct vs_fetcher *f;
    struct vs_cache *cache;
    struct vs_fetch_cfg cfg;
    int port, peer_fd, ns_fd;
    char url[64]; /* https://127.0.0.1:port/c.pem */
};

/* A loopback TCP port, left listening or closed again. */
static int tcp_port(int keep_listening, int *fd_out)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &len) != 0)
        return -1;
    *fd_out = fd;
    if (!keep_listening) {
        close(fd);
        *fd_out = -1;
    }
    return ntohs(sa.sin_port);
}

/* A loopback UDP port that swallows DNS queries, as the only resolver. */
static int silent_resolver(struct loop *l)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    char ns[32];
    l->ns_fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (l->ns_fd < 0 || bind(l->ns_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(l->ns_fd, (struct sockaddr *)&sa, &len) != 0)
        return 0;
    snprintf(ns, sizeof ns, "127.0.0.1:%d", ntohs(sa.sin_port));
    return evdns_base_nameserver_ip_add(l->dns, ns) == 0;
}

/* A fetcher on a fresh base whose one allowed port is the peer's. */
static int loop_open(struct loop *l, enum peer peer, unsigned timeout_ms)
{
    memset(l, 0, sizeof *l);
    l->peer_fd = l->ns_fd = -1;
    l->port = tcp_port(peer == PEER_SILENT, &l->peer_fd);
    l->base = event_base_new();
    l->dns = l->base ? evdns_base_new(l->base, 0) : NULL;
    l->tls = SSL_CTX_new(TLS_client_method());
    if (l->port <= 0 || l->base == NULL || l->dns == NULL || l->tls == NULL)
        return 0;
    snprintf(l->url, sizeof l->url, "https://127.0.0.1:%d/c.pem", l->port);
    l->cfg.base = l->base;
    l->cfg.dns = l->dns;
    l->cfg.tls = l->tls;
    l->cfg.timeout_ms = timeout_ms;
    l->cfg.ports[0] = (unsigned)l->port;
    return vs_fetcher_new(&l->cfg, &l->f) == STI_OK;
}

/* The same, with a cache of max_entries (0: the default) in front. */
static int loop_open_cache(struct loop *l, enum peer peer, unsigned timeout_ms, size_t max_entries)
{
    struct vs_cache_cfg cc;
    memset(&cc, 0, sizeof cc);
    cc.max_entries = max_entries;
    return loop_open(l, peer, timeout_ms) && vs_cache_new(&cc, l->f, &l->cache) == STI_OK;
}

static void wake(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Runs the loop until *calls reaches want (calls NULL: for the whole time),
 * or ms have passed. */
static void loop_until(struct loop *l, unsigned ms, const int *calls, int want)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    struct event *backstop = evtimer_new(l->base, wake, NULL);
    int expired = 0;
    if (backstop == NULL || evtimer_add(backstop, &tv) != 0)
        return;
    while ((calls == NULL || *calls < want) && !expired) {
        event_base_loop(l->base, EVLOOP_ONCE);
        expired = !evtimer_pending(backstop, NULL);
    }
    event_free(backstop);
}

static void loop_run(struct loop *l, unsigned ms)
{
    loop_until(l, ms, NULL, 0);
}

static void loop_close(struct loop *l)
{
    vs_cache_free(l->cache);
    vs_fetcher_free(l->f);
    /* what libevent still holds for cancelled work goes on this turn */
    if (l->base != NULL)
        event_base_loop(l->base, EVLOOP_NONBLOCK);
    if (l->dns != NULL)
        evdns_base_free(l->dns, 1);
    if (l->base != NULL) {
        event_base_loop(l->base, EVLOOP_NONBLOCK);
        event_base_free(l->base);
    }
    SSL_CTX_free(l->tls);
    if (l->peer_fd >= 0)
        close(l->peer_fd);
    if (l->ns_fd >= 0)
        close(l->ns_fd);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

struct got {
    int calls, rc;
    char detail[VS_DETAIL_MAX];
    double at;
    enum vs_from from;
    int certs;
};

/* One answer, with this code, from there. */
#define CHECK_GOT(g, want_rc, want_from)                                                           \
    do {                                                                                           \
        CHECK_INT((g).calls, 1);                                                                   \
        CHECK_RC((g).rc, (want_rc));                                                               \
        CHECK_INT((g).from, (want_from));                                                          \
    } while (0)

static void got_set(struct got *g, int rc, const char *detail)
{
    g->calls++;
    g->rc = rc;
    g->at = now_ms();
    snprintf(g->detail, sizeof g->detail, "%s", detail ? detail : "(null)");
}

static void on_fetch(void *arg, int rc, const char *detail, const uint8_t *body, size_t n, long ttl)
{
    (void)body;
    (void)n;
    (void)ttl;
    got_set(arg, rc, detail);
}

static void on_chain(void *arg, int rc, const char *detail, STACK_OF(X509) * chain,
                     enum vs_from from)
{
    struct got *g = arg;
    g->from = from;
    g->certs = chain ? sk_X509_num(chain) : -1;
    got_set(g, rc, detail);
}

static void on_crl(void *arg, int rc, const char *detail, X509_CRL *crl, enum vs_from from)
{
    struct got *g = arg;
    g->from = from;
    g->certs = crl ? 1 : -1;
    got_set(g, rc, detail);
}

TEST(fetcher_needs_base_resolver_and_trust)
{
    struct vs_fetch_cfg cfg;
    struct vs_fetcher *f = (struct vs_fetcher *)1;
    memset(&cfg, 0, sizeof cfg);
    CHECK_RC(vs_fetcher_new(&cfg, &f), STI_EINVAL);
    CHECK(f == NULL);
    CHECK_RC(vs_fetcher_new(NULL, &f), STI_EINVAL);
}

TEST(bad_url_fails_the_call_and_never_calls_back)
{
    struct loop l;
    struct got g = {0};
    CHECK(loop_open(&l, PEER_REFUSING, 1000));
    CHECK_RC(vs_fetch_get(l.f, "https://u@h.example/c.pem", VS_CHAIN, on_fetch, &g), STI_EX5U);
    CHECK_RC(vs_fetch_get(l.f, "http://h.example/c.crl", VS_CRL, on_fetch, &g), STI_EVFY_FETCH);
    loop_run(&l, 50);
    loop_close(&l);
    CHECK_INT(g.calls, 0);
}

TEST(refused_connection_is_a_fetch_error_after_the_call_returns)
{
    struct loop l;
    struct got g = {0};
    CHECK(loop_open(&l, PEER_REFUSING, 2000));
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_OK);
    int during = g.calls;
    loop_until(&l, 3000, &g.calls, 1);
    loop_close(&l);
    CHECK_INT(during, 0);
    CHECK_INT(g.calls, 1);
    CHECK_RC(g.rc, STI_EVFY_FETCH);
}

TEST(silent_server_times_out_at_the_deadline)
{
    struct loop l;
    struct got g = {0};
    CHECK(loop_open(&l, PEER_SILENT, 300));
    double t0 = now_ms();
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_OK);
    loop_until(&l, 3000, &g.calls, 1);
    loop_close(&l);
    CHECK_INT(g.calls, 1);
    CHECK_RC(g.rc, STI_EVFY_FETCH_TIMEOUT);
    CHECK(g.at - t0 >= 290 && g.at - t0 < 1300);
}

TEST(silent_resolver_times_out_and_the_lookup_is_released)
{
    struct loop l;
    struct got g = {0};
    char url[64];
    CHECK(loop_open(&l, PEER_REFUSING, 300));
    CHECK(silent_resolver(&l));
    snprintf(url, sizeof url, "https://x5u.vs-test.invalid:%d/c.pem", l.port);
    CHECK_RC(vs_fetch_get(l.f, url, VS_CHAIN, on_fetch, &g), STI_OK);
    loop_until(&l, 2000, &g.calls, 1);
    loop_close(&l);
    CHECK_INT(g.calls, 1);
    CHECK_RC(g.rc, STI_EVFY_FETCH_TIMEOUT);
    CHECK(strstr(g.detail, "resolving") != NULL);
}

TEST(freeing_the_fetcher_mid_fetch_runs_no_callback)
{
    struct loop l;
    struct got g = {0}, g2 = {0};
    char url[64];
    CHECK(loop_open(&l, PEER_SILENT, 5000));
    CHECK(silent_resolver(&l));
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_OK);
    snprintf(url, sizeof url, "https://x5u.vs-test.invalid:%d/c.pem", l.port);
    CHECK_RC(vs_fetch_get(l.f, url, VS_CHAIN, on_fetch, &g2), STI_OK);
    loop_run(&l, 100); /* connected and resolving */
    loop_close(&l);
    CHECK_INT(g.calls, 0);
    CHECK_INT(g2.calls, 0);
}

TEST(fetches_beyond_max_inflight_are_busy)
{
    struct loop l;
    struct got g = {0};
    CHECK(loop_open(&l, PEER_SILENT, 5000));
    vs_fetcher_free(l.f);
    l.cfg.max_inflight = 1;
    CHECK_RC(vs_fetcher_new(&l.cfg, &l.f), STI_OK);
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_OK);
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_EBUSY);
    CHECK_INT(vs_fetch_cancel(l.f, on_fetch, &g), 1);
    CHECK_RC(vs_fetch_get(l.f, l.url, VS_CHAIN, on_fetch, &g), STI_OK);
    loop_run(&l, 50);
    loop_close(&l);
    CHECK_INT(g.calls, 0);
}

TEST(pinned_chain_and_crl_are_answered_from_the_loop)
{
    struct loop l;
    struct pki p;
    struct got g = {0}, h = {0};
    struct vs_cache_stats st;
    CHECK(pki_make(&p));
    CHECK(loop_open_cache(&l, PEER_REFUSING, 1000, 0));
    STACK_OF(X509) *sk = sk_X509_new_null();
    sk_X509_push(sk, p.leaf);
    sk_X509_push(sk, p.root);
    CHECK_RC(vs_cache_pin(l.cache, "https://cr.example.com/own.pem", sk), STI_OK);
    sk_X509_free(sk); /* the cache took its own references */
    CHECK_RC(vs_cache_pin_crl(l.cache, "https://cr.example.com/own.crl", p.crl), STI_OK);
    CHECK_RC(vs_cache_chain(l.cache, "https://cr.example.com/own.pem", on_chain, &g), STI_OK);
    CHECK_RC(vs_cache_crl(l.cache, "https://cr.example.com/own.crl", on_crl, &h), STI_OK);
    int during = g.calls + h.calls;
    loop_until(&l, 1000, &h.calls, 1);
    CHECK_INT(vs_cache_ttl(l.cache, VS_CHAIN, "https://cr.example.com/own.pem"), LONG_MAX);
    CHECK_INT(vs_cache_ttl(l.cache, VS_CRL, "https://cr.example.com/own.pem"), -1);
    vs_cache_stats(l.cache, &st);
    loop_close(&l);
    pki_free(&p);
    CHECK_INT(during, 0);
    CHECK_GOT(g, STI_OK, VS_FROM_PIN);
    CHECK_INT(g.certs, 2);
    CHECK_GOT(h, STI_OK, VS_FROM_PIN);
    CHECK_INT(h.certs, 1);
    CHECK_INT(st.pinned, 2);
    CHECK_INT(st.hits, 2);
    CHECK_INT(st.fetches, 0);
}

TEST(cache_refuses_bad_urls_without_a_callback)
{
    struct loop l;
    struct got g = {0};
    struct vs_cache_stats st;
    CHECK(loop_open_cache(&l, PEER_REFUSING, 1000, 0));
    CHECK_RC(vs_cache_chain(l.cache, "https://h.example/c.pem#x", on_chain, &g), STI_EX5U);
    CHECK_RC(vs_cache_crl(l.cache, "http://h.example/c.crl", on_crl, &g), STI_EVFY_FETCH);
    loop_run(&l, 50);
    vs_cache_stats(l.cache, &st);
    loop_close(&l);
    CHECK_INT(g.calls, 0);
    CHECK_INT(st.entries, 0);
    CHECK_INT(st.fetches, 0);
}

TEST(failure_is_fetched_once_then_answered_from_the_negative_cache)
{
    struct loop l;
    struct got a = {0}, b = {0}, d = {0};
    struct vs_cache_stats st;
    CHECK(loop_open_cache(&l, PEER_REFUSING, 2000, 0));
    /* two at once share one fetch */
    CHECK_RC(vs_cache_chain(l.cache, l.url, on_chain, &a), STI_OK);
    CHECK_RC(vs_cache_chain(l.cache, l.url, on_chain, &b), STI_OK);
    loop_until(&l, 2500, &b.calls, 1);
    /* a third, later, gets the stored failure */
    CHECK_RC(vs_cache_chain(l.cache, l.url, on_chain, &d), STI_OK);
    loop_until(&l, 1000, &d.calls, 1);
    long ttl = vs_cache_ttl(l.cache, VS_CHAIN, l.url);
    vs_cache_stats(l.cache, &st);
    loop_close(&l);
    CHECK_GOT(a, STI_EVFY_FETCH, VS_FROM_FETCH);
    CHECK_GOT(b, STI_EVFY_FETCH, VS_FROM_FETCH);
    CHECK_GOT(d, STI_EVFY_FETCH, VS_FROM_NEGATIVE);
    CHECK_STR(d.detail, a.detail);
    CHECK_INT(d.certs, -1);
    CHECK(ttl > 25 && ttl <= 30);
    CHECK_INT(st.fetches, 1);
    CHECK_INT(st.coalesced, 1);
    CHECK_INT(st.negative_hits, 1);
    CHECK_INT(st.misses, 1);
}

TEST(in_flight_entries_are_never_evicted)
{
    struct loop l;
    struct got a = {0}, b = {0};
    struct vs_cache_stats st;
    char url[64];
    CHECK(loop_open_cache(&l, PEER_SILENT, 5000, 1));
    CHECK_RC(vs_cache_chain(l.cache, l.url, on_chain, &a), STI_OK);
    snprintf(url, sizeof url, "https://127.0.0.1:%d/other.pem", l.port);
    CHECK_RC(vs_cache_chain(l.cache, url, on_chain, &b), STI_EBUSY);
    loop_run(&l, 50);
    vs_cache_stats(l.cache, &st);
    /* closed with a fetch and a waiter in flight: nothing runs, nothing leaks */
    loop_close(&l);
    CHECK_INT(a.calls, 0);
    CHECK_INT(b.calls, 0);
    CHECK_INT(st.entries, 1);
    CHECK_INT(st.evictions, 0);
}

struct freer {
    struct loop *l;
    int calls;
};

static void free_in_callback(void *arg, int rc, const char *detail, STACK_OF(X509) * chain,
                             enum vs_from from)
{
    struct freer *fr = arg;
    (void)rc;
    (void)detail;
    (void)chain;
    (void)from;
    fr->calls++;
    vs_cache_free(fr->l->cache);
    fr->l->cache = NULL;
}

TEST(cache_freed_inside_a_callback_drops_the_other_answers)
{
    struct loop l;
    struct pki p;
    struct freer fr = {&l, 0};
    CHECK(pki_make(&p));
    CHECK(loop_open_cache(&l, PEER_REFUSING, 1000, 0));
    STACK_OF(X509) *sk = sk_X509_new_null();
    sk_X509_push(sk, p.leaf);
    CHECK_RC(vs_cache_pin(l.cache, "https://cr.example.com/own.pem", sk), STI_OK);
    sk_X509_free(sk);
    for (int i = 0; i < 3; i++)
        CHECK_RC(vs_cache_chain(l.cache, "https://cr.example.com/own.pem", free_in_callback, &fr),
                 STI_OK);
    loop_run(&l, 50);
    loop_close(&l);
    pki_free(&p);
    CHECK_INT(fr.calls, 1);
}

CHECK_MAIN(CASE(url_table_accepts_and_refuses_with_exact_codes), CASE(url_parts_come_out_split),
           CASE(url_port_list_replaces_the_default),
           CASE(url_overlong_is_refused_at_exactly_the_limit), CASE(good_chain_parses_leaf_first),
           CASE(junk_between_blocks_is_refused), CASE(private_key_block_in_a_chain_is_refused),
           CASE(pem_headers_are_refused), CASE(eleven_certificates_are_refused_ten_accepted),
           CASE(certificate_with_trailing_der_is_refused), CASE(empty_or_blank_chain_is_refused),
           CASE(crl_der_and_pem_parse_exactly), CASE(ttl_table),
           CASE(fetcher_needs_base_resolver_and_trust),
           CASE(bad_url_fails_the_call_and_never_calls_back),
           CASE(refused_connection_is_a_fetch_error_after_the_call_returns),
           CASE(silent_server_times_out_at_the_deadline),
           CASE(silent_resolver_times_out_and_the_lookup_is_released),
           CASE(freeing_the_fetcher_mid_fetch_runs_no_callback),
           CASE(fetches_beyond_max_inflight_are_busy),
           CASE(pinned_chain_and_crl_are_answered_from_the_loop),
           CASE(cache_refuses_bad_urls_without_a_callback),
           CASE(failure_is_fetched_once_then_answered_from_the_negative_cache),
           CASE(in_flight_entries_are_never_evicted),
           CASE(cache_freed_inside_a_callback_drops_the_other_answers))
