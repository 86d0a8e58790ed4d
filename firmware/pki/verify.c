/*
 * verify.c — the STI-VS checks (see verify.h for the order), the x5u
 * fetcher and its cache.
 *
 * The fetcher is deliberately small: one HTTP/1.0 GET over TLS (so the
 * server never answers chunked), OpenSSL's own connect BIO in non-blocking
 * mode with one deadline for connect, handshake, request and response, the
 * server certificate checked against the host name, and a response cap.
 * Name resolution happens inside the connect BIO and is not covered by the
 * deadline (getaddrinfo has no timeout of its own).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "identity.h"
#include "pki.h"
#include "scope.h"
#include "sti_err.h"
#include "verify.h"

/* Status line and headers of an x5u response. */
#define X5U_HEAD_MAX 8192
#define X5U_HOST_MAX 256

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
/* x5u: target, cache */

static int x5u_split(const char *url, char *host, size_t hcap, unsigned *port, const char **path)
{
    static const char scheme[] = "https://";
    if (pp_x5u_check(url) != STI_OK)
        return STI_EX5U;
    const char *a = url + sizeof scheme - 1;
    const char *slash = strchr(a, '/');
    size_t alen = slash ? (size_t)(slash - a) : strlen(a);
    const char *hs = a, *colon;
    size_t hl;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        hs = a + 1;
        hl = (size_t)(close - hs);
        colon = close + 1 < a + alen ? close + 1 : NULL;
    } else {
        colon = memchr(a, ':', alen);
        hl = colon ? (size_t)(colon - a) : alen;
    }
    if (hl == 0 || hl >= hcap)
        return STI_EX5U;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    unsigned long p = 443;
    if (colon != NULL)
        p = strtoul(colon + 1, NULL, 10); /* digits only, checked by pp_x5u_check */
    /* The STI-CR convention: 443 or 8443, nothing else. */
    if (p != 443 && p != 8443)
        return STI_EX5U;
    *port = (unsigned)p;
    if (path != NULL)
        *path = slash ? slash : "/";
    return STI_OK;
}

int pki_x5u_target(const char *url, char *host, size_t hcap, unsigned *port)
{
    if (url == NULL || host == NULL || hcap == 0 || port == NULL)
        return STI_EINVAL;
    return x5u_split(url, host, hcap, port, NULL);
}

int pki_x5u_cache_path(const char *dir, const char *url, char *out, size_t cap)
{
    unsigned char md[32];
    unsigned int mdlen = 0;
    char hex[65];
    if (dir == NULL || url == NULL || out == NULL)
        return STI_EINVAL;
    if (!EVP_Digest(url, strlen(url), md, &mdlen, EVP_sha256(), NULL) || mdlen != 32)
        return STI_EINTERNAL;
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    int n = snprintf(out, cap, "%s/%s.pem", dir, hex);
    return n > 0 && (size_t)n < cap ? STI_OK : STI_ETOOLONG;
}

/* A fresh (less than an hour old) cache entry that parses, or nothing. */
static STACK_OF(X509) * x5u_cache_get(const char *dir, const char *url)
{
    char path[PATH_MAX];
    struct stat st;
    STACK_OF(X509) *chain = NULL;
    char *buf = NULL;
    FILE *f = NULL;
    if (pki_x5u_cache_path(dir, url, path, sizeof path) != STI_OK || stat(path, &st) != 0 ||
        !S_ISREG(st.st_mode) || st.st_size <= 0 || st.st_size > PKI_X5U_BODY_MAX)
        return NULL;
    time_t now = time(NULL);
    if (st.st_mtime > now || now - st.st_mtime >= PKI_X5U_CACHE_SECS)
        return NULL;
    f = fopen(path, "rb");
    buf = malloc((size_t)st.st_size);
    if (f != NULL && buf != NULL && fread(buf, 1, (size_t)st.st_size, f) == (size_t)st.st_size)
        (void)pki_chain_parse(buf, (size_t)st.st_size, &chain);
    if (f != NULL)
        fclose(f);
    free(buf);
    return chain;
}

/* Written to a temporary name and renamed, so readers never see half a
 * file. A failure only costs the next verification a fetch. */
static void x5u_cache_put(const char *dir, const char *url, const char *body, size_t n)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    unsigned char rnd[8];
    if (pki_x5u_cache_path(dir, url, path, sizeof path) != STI_OK || RAND_bytes(rnd, 8) != 1)
        return;
    snprintf(tmp, sizeof tmp, "%s.%02x%02x%02x%02x%02x%02x%02x%02x.tmp", path, rnd[0], rnd[1],
             rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    size_t off = 0;
    while (off < n) {
        ssize_t w = write(fd, body + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    if (close(fd) != 0 || off != n || rename(tmp, path) != 0)
        unlink(tmp);
}

/* ------------------------------------------------------------------ */
/* x5u: https fetch */

static long long ms_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits until the BIO's socket can make the progress the last call asked
 * for; 0 ok, -1 deadline passed or poll failed. */
static int x5u_wait(BIO *bio, long long deadline)
{
    int fd = (int)BIO_get_fd(bio, NULL);
    long long left = deadline - ms_now();
    if (left <= 0)
        return -1;
    if (fd < 0) {
        /* Still resolving or before the socket exists: just retry shortly. */
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
        return 0;
    }
    struct pollfd p = {fd, (short)(BIO_should_read(bio) ? POLLIN : POLLOUT), 0};
    int rc;
    do
        rc = poll(&p, 1, (int)left);
    while (rc < 0 && errno == EINTR);
    return rc > 0 ? 0 : -1;
}

static int ci_prefix(const char *s, size_t n, const char *want)
{
    size_t m = strlen(want);
    if (n < m)
        return 0;
    for (size_t i = 0; i < m; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != want[i])
            return 0;
    }
    return 1;
}

static int ci_equal(const char *s, size_t n, const char *want)
{
    return n == strlen(want) && ci_prefix(s, n, want);
}

static void trim(const char **s, size_t *n)
{
    while (*n > 0 && (**s == ' ' || **s == '\t')) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && ((*s)[*n - 1] == ' ' || (*s)[*n - 1] == '\t'))
        (*n)--;
}

struct x5u_resp {
    size_t head_len; /* through the blank line */
    long long clen;  /* Content-Length, -1 when absent */
};

/* Parses the head once it is complete: 1 complete and acceptable, 0 need
 * more, -1 refused (detail set). */
static int x5u_head(const char *buf, size_t n, struct x5u_resp *resp, char *detail, size_t dcap)
{
    const char *end = NULL;
    for (size_t i = 0; i + 3 < n && i < X5U_HEAD_MAX; i++)
        if (memcmp(buf + i, "\r\n\r\n", 4) == 0) {
            end = buf + i;
            break;
        }
    if (end == NULL) {
        if (n >= X5U_HEAD_MAX) {
            snprintf(detail, dcap, "response head larger than %d bytes", X5U_HEAD_MAX);
            return -1;
        }
        return 0;
    }
    resp->head_len = (size_t)(end - buf) + 4;
    resp->clen = -1;
    const char *line = buf, *eol = memchr(buf, '\r', (size_t)(end - buf) + 2);
    size_t ll = (size_t)(eol - line);
    if (ll < 12 || memcmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ') {
        snprintf(detail, dcap, "not an HTTP/1.x response");
        return -1;
    }
    if (memcmp(line + 9, "200", 3) != 0 || (ll > 12 && line[12] != ' ')) {
        char st[4];
        vfy_printable(line + 9, 3, st, sizeof st);
        snprintf(detail, dcap, "HTTP status %s%s (only 200 is accepted)", st,
                 st[0] == '3' ? ", redirects are not followed" : "");
        return -1;
    }
    int ctype_ok = 0;
    while (eol < end) {
        line = eol + 2;
        eol = memchr(line, '\r', (size_t)(end - line) + 2);
        ll = (size_t)(eol - line);
        const char *colon = memchr(line, ':', ll);
        if (colon == NULL) {
            snprintf(detail, dcap, "malformed response header line");
            return -1;
        }
        const char *v = colon + 1;
        size_t vl = ll - (size_t)(v - line);
        size_t nl = (size_t)(colon - line);
        trim(&v, &vl);
        if (ci_equal(line, nl, "content-type")) {
            const char *semi = memchr(v, ';', vl);
            size_t tl = semi ? (size_t)(semi - v) : vl;
            trim(&v, &tl);
            ctype_ok = ci_equal(v, tl, "application/pem-certificate-chain") ||
                       ci_equal(v, tl, "application/x-pem-file");
            if (!ctype_ok) {
                char t[64];
                vfy_printable(v, tl, t, sizeof t);
                snprintf(detail, dcap,
                         "Content-Type \"%s\" is not application/pem-certificate-chain", t);
                return -1;
            }
        } else if (ci_equal(line, nl, "content-length")) {
            long long x = 0;
            if (vl == 0 || vl > 9 || resp->clen >= 0) {
                snprintf(detail, dcap, "bad Content-Length");
                return -1;
            }
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9') {
                    snprintf(detail, dcap, "bad Content-Length");
                    return -1;
                }
                x = x * 10 + (v[i] - '0');
            }
            resp->clen = x;
        } else if (ci_equal(line, nl, "transfer-encoding")) {
            snprintf(detail, dcap, "Transfer-Encoding not accepted");
            return -1;
        }
    }
    if (!ctype_ok) {
        snprintf(detail, dcap, "no Content-Type");
        return -1;
    }
    if (resp->clen > PKI_X5U_BODY_MAX) {
        snprintf(detail, dcap, "body larger than %d bytes", PKI_X5U_BODY_MAX);
        return -1;
    }
    return 1;
}

static void x5u_tls_detail(SSL *ssl, const char *what, char *detail, size_t dcap)
{
    long v = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
    unsigned long e = ERR_peek_last_error();
    if (v != X509_V_OK)
        snprintf(detail, dcap, "%s: server certificate: %s", what,
                 X509_verify_cert_error_string(v));
    else if (e != 0)
        snprintf(detail, dcap, "%s: %s", what,
                 ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "TLS error");
    else
        snprintf(detail, dcap, "%s failed", what);
}

/* GET url; on success *body (malloc'd) holds the certificate chain PEM. */
static int x5u_fetch(const char *url, const char *tls_ca_file, char **body, size_t *blen,
                     char *detail, size_t dcap)
{
    char host[X5U_HOST_MAX], target[X5U_HOST_MAX + 32], req[PP_X5U_MAX + X5U_HOST_MAX + 160];
    const char *path;
    unsigned port;
    SSL_CTX *ctx = NULL;
    BIO *bio = NULL;
    SSL *ssl = NULL;
    char *buf = NULL;
    size_t cap = X5U_HEAD_MAX + PKI_X5U_BODY_MAX, n = 0;
    struct x5u_resp resp = {0, -1};
    int rc = STI_EVFY_FETCH, head = 0;
    long long deadline = ms_now() + PKI_X5U_TIMEOUT_MS;
    unsigned char ipbuf[16];

    *body = NULL;
    *blen = 0;
    ERR_set_mark();
    if (x5u_split(url, host, sizeof host, &port, &path) != STI_OK) {
        snprintf(detail, dcap, "x5u must be https on port 443 or 8443");
        goto out;
    }
    int is_v6 = inet_pton(AF_INET6, host, ipbuf) == 1;
    int is_ip = is_v6 || inet_pton(AF_INET, host, ipbuf) == 1;
    snprintf(target, sizeof target, is_v6 ? "[%s]:%u" : "%s:%u", host, port);
    int rl = snprintf(req, sizeof req,
                      "GET %s HTTP/1.0\r\nHost: %s%s%s%s\r\n"
                      "Accept: application/pem-certificate-chain\r\nUser-Agent: stisign\r\n\r\n",
                      path, is_v6 ? "[" : "", host, is_v6 ? "]" : "", port == 443 ? "" : ":8443");
    if (rl <= 0 || (size_t)rl >= sizeof req) {
        snprintf(detail, dcap, "x5u too long");
        goto out;
    }

    ctx = SSL_CTX_new(TLS_client_method());
    buf = malloc(cap + 1);
    if (ctx == NULL || buf == NULL) {
        rc = STI_ENOMEM;
        goto out;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((tls_ca_file ? SSL_CTX_load_verify_file(ctx, tls_ca_file)
                     : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        snprintf(detail, dcap, "cannot load TLS trust %s", tls_ca_file ? tls_ca_file : "(system)");
        goto out;
    }
    bio = BIO_new_ssl_connect(ctx);
    if (bio == NULL || BIO_get_ssl(bio, &ssl) <= 0 || ssl == NULL) {
        rc = STI_ENOMEM;
        goto out;
    }
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if ((is_ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, host)
               : X509_VERIFY_PARAM_set1_host(vp, host, 0)) != 1 ||
        (!is_ip && SSL_set_tlsext_host_name(ssl, host) != 1) ||
        BIO_set_conn_hostname(bio, target) != 1) {
        snprintf(detail, dcap, "cannot set up TLS for %.64s", host);
        goto out;
    }
    BIO_set_nbio(bio, 1);

    while (BIO_do_connect(bio) <= 0) {
        if (!BIO_should_retry(bio)) {
            x5u_tls_detail(ssl, "connect/handshake", detail, dcap);
            goto out;
        }
        if (x5u_wait(bio, deadline) != 0)
            goto timeout;
    }
    for (size_t off = 0; off < (size_t)rl;) {
        int w = BIO_write(bio, req + off, (int)((size_t)rl - off));
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (!BIO_should_retry(bio)) {
            x5u_tls_detail(ssl, "write", detail, dcap);
            goto out;
        }
        if (x5u_wait(bio, deadline) != 0)
            goto timeout;
    }
    for (;;) {
        if (head == 1 && resp.clen >= 0 && n >= resp.head_len + (size_t)resp.clen)
            break;
        if (n == cap + 1)
            break;
        int got = BIO_read(bio, buf + n, (int)(cap + 1 - n));
        if (got > 0) {
            n += (size_t)got;
            if (head == 0 && (head = x5u_head(buf, n, &resp, detail, dcap)) < 0)
                goto out;
            continue;
        }
        if (BIO_should_retry(bio)) {
            if (x5u_wait(bio, deadline) != 0)
                goto timeout;
            continue;
        }
        /* End of stream. Without a Content-Length only a clean TLS close
         * (close_notify) proves the body was not cut short. */
        if (head == 1 && resp.clen < 0 && !(SSL_get_shutdown(ssl) & SSL_RECEIVED_SHUTDOWN)) {
            snprintf(detail, dcap, "connection closed without close_notify or Content-Length");
            goto out;
        }
        break;
    }
    if (head != 1) {
        if (detail[0] == '\0')
            snprintf(detail, dcap, "incomplete response");
        goto out;
    }
    size_t bl = n - resp.head_len;
    if (bl > PKI_X5U_BODY_MAX) {
        snprintf(detail, dcap, "body larger than %d bytes", PKI_X5U_BODY_MAX);
        goto out;
    }
    if (resp.clen >= 0 && bl != (size_t)resp.clen) {
        snprintf(detail, dcap, "body shorter or longer than Content-Length");
        goto out;
    }
    memmove(buf, buf + resp.head_len, bl);
    buf[bl] = '\0';
    *body = buf;
    *blen = bl;
    buf = NULL;
    rc = STI_OK;
    goto out;
timeout:
    snprintf(detail, dcap, "no complete answer within %d ms", PKI_X5U_TIMEOUT_MS);
out:
    ERR_pop_to_mark();
    free(buf);
    BIO_free_all(bio);
    SSL_CTX_free(ctx);
    return rc;
}

/* The chain named by x5u: cache first, then the network. */
static int vfy_x5u_chain(const struct pki_vfy_opts *o, struct pki_vfy_result *r,
                         STACK_OF(X509) * *chain)
{
    char host[X5U_HOST_MAX], *body = NULL;
    unsigned port;
    size_t blen;
    if (x5u_split(r->x5u, host, sizeof host, &port, NULL) != STI_OK)
        return vfy_fail(r, "x5u", STI_EVFY_FETCH, "x5u port must be 443 or 8443");
    if (o->cache_dir != NULL && (*chain = x5u_cache_get(o->cache_dir, r->x5u)) != NULL) {
        r->from_cache = 1;
        return STI_OK;
    }
    if (!o->allow_fetch)
        return vfy_fail(r, "x5u", STI_EVFY_FETCH, "not cached and fetching is disabled");
    int rc = x5u_fetch(r->x5u, o->tls_ca_file, &body, &blen, r->detail, sizeof r->detail);
    if (rc != STI_OK) {
        char d[sizeof r->detail];
        memcpy(d, r->detail, sizeof d);
        return vfy_fail(r, "x5u", rc, "%s", d);
    }
    rc = pki_chain_parse(body, blen, chain);
    if (rc == STI_OK && o->cache_dir != NULL)
        x5u_cache_put(o->cache_dir, r->x5u, body, blen);
    free(body);
    if (rc != STI_OK)
        return vfy_fail(r, "x5u", STI_EVFY_FETCH, "body is not a PEM certificate chain");
    return STI_OK;
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
    STACK_OF(X509) *fetched = NULL;
    int rc = pki_vfy_begin(in, n, o, r, &v);
    if (rc == STI_OK && o->chain == NULL) {
        if ((rc = vfy_x5u_chain(o, r, &fetched)) != STI_OK)
            r->code = rc;
    }
    if (rc == STI_OK)
        rc = pki_vfy_chain(v, o->chain ? o->chain : fetched);
    if (rc == STI_OK)
        rc = pki_vfy_finish(v);
    sk_X509_pop_free(fetched, X509_free);
    pki_vfy_end(v);
    return rc;
}
