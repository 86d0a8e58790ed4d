/*
 * vs_fetch.c — the URL rules and one GET per connection on libevent's
 * evhttp client over bufferevent_openssl (see vs_fetch.h for the rules).
 *
 * A fetch goes: resolve (evdns, skipped for IP literals) -> connect, TLS,
 * request and response (evhttp) -> finish. What evhttp reports (the
 * header callback, the error callback, the request callback) only records
 * an outcome and schedules the fetch's "step" event; the caller's callback
 * runs from that event, outside evhttp's stack, where freeing the
 * connection is safe. One timer per fetch is the deadline for everything.
 *
 * What libevent 2.1 does that shapes this file (http.c, bufferevent_*.c):
 * - evbuffer_readln(EVBUFFER_EOL_CRLF) ends a line at LF with or without a
 *   CR, so heads with bare-LF lines are read like CRLF ones.
 * - A head over max_headers_size and a malformed head are both reported
 *   as EVREQ_HTTP_INVALID_HEADER: the bytes counted on the input buffer
 *   before the head completed tell the two apart.
 * - A body over max_body_size and malformed chunk framing are both
 *   EVREQ_HTTP_DATA_TOO_LONG: both are reported as STI_EVFY_FETCH_SIZE.
 * - The error callback runs after the request was unlinked and the
 *   connection reset; the request callback follows with NULL. A failed
 *   connect may instead call the request callback with status 0 and no
 *   error callback at all, even from inside evhttp_make_request.
 * - After an interim 100 evhttp restarts the request and loses the final
 *   answer, so any status but 200, 100 included, ends the fetch.
 * - bufferevent_openssl reports a TCP close without close_notify as an
 *   error, so a body delimited by the close only completes on a clean TLS
 *   close. Without BEV_OPT_DEFER_CALLBACKS that EOF could be delivered
 *   before the last bytes read with it, truncating such a body.
 * - Cancelling the request does not cancel a lookup that bufferevent
 *   started for an openssl bufferevent; resolving here keeps the lookup
 *   cancellable and the deadline in charge of it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include "sti_err.h"
#include "vs_fetch.h"

#define VS_DEF_MAX_BODY (64u * 1024)
#define VS_DEF_MAX_CRL_BODY (1024u * 1024)
#define VS_DEF_MAX_HEAD (8u * 1024)
#define VS_DEF_TIMEOUT_MS 5000u
#define VS_DEF_MAX_INFLIGHT 64u

struct vs_req {
    struct vs_req *prev, *next; /* the fetcher's live list */
    struct vs_fetcher *f;
    enum vs_kind kind;
    struct vs_url url;
    size_t max_body, max_head; /* copied: callbacks may run after unlinking */
    unsigned timeout_ms;
    vs_fetch_cb cb;
    void *arg;
    struct event *deadline;
    struct event *step; /* starts the fetch, later finishes it */
    struct evdns_getaddrinfo_request *dns;
    int orphan;              /* finished; the resolver's callback frees it */
    struct bufferevent *bev; /* owned by evcon once that exists */
    SSL *ssl;                /* owned by bev */
    struct evhttp_connection *evcon;
    struct evhttp_request *req; /* ours (evhttp_request_own) */
    struct evbuffer_cb_entry *counter;
    int http_active; /* req is queued on evcon */
    int head_done;
    size_t head_bytes;
    int tls_err, tls_depth; /* first certificate verification failure */
    int decided, done, rc;
    char detail[VS_DETAIL_MAX];
};

struct vs_fetcher {
    struct vs_fetch_cfg cfg;
    struct vs_req *live;
    unsigned inflight;
};

/* ------------------------------------------------------------------ */
/* URL rules */

static int vs_port_allowed(const struct vs_fetch_cfg *cfg, unsigned port, int https)
{
    int listed = 0;
    if (!https && port == 80)
        return 1;
    for (int i = 0; cfg != NULL && i < VS_MAX_PORTS; i++) {
        if (cfg->ports[i] != 0)
            listed = 1;
        if (cfg->ports[i] == port)
            return port != 0;
    }
    return !listed && (port == 443 || port == 8443);
}

static int vs_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* RFC 3986 characters of an http(s) URL without a fragment; '[' and ']'
 * pass here and are placed by the host rules. */
static int vs_uri_char(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("-._~!$&'()*+,;=:@/?%[]", c) != NULL);
}

int vs_url_parse(const char *url, enum vs_kind kind, const struct vs_fetch_cfg *cfg,
                 struct vs_url *out)
{
    static const char https[] = "https://", http[] = "http://";
    const int bad = kind == VS_CRL ? STI_EVFY_FETCH : STI_EX5U;
    const char *a;
    size_t n;

    if (url == NULL || out == NULL)
        return STI_EINVAL;
    memset(out, 0, sizeof *out);
    n = strnlen(url, VS_URL_MAX);
    if (n >= VS_URL_MAX)
        return bad;
    if (strncmp(url, https, sizeof https - 1) == 0) {
        out->https = 1;
        a = url + sizeof https - 1;
    } else if (strncmp(url, http, sizeof http - 1) == 0 && kind == VS_CRL && cfg != NULL &&
               cfg->crl_http) {
        a = url + sizeof http - 1;
    } else {
        return bad;
    }
    /* Whitespace, controls, non-ASCII, '#' and the like end the check here,
     * before any of them can reach a request line. */
    for (size_t i = 0; i < n; i++) {
        if (!vs_uri_char((unsigned char)url[i]))
            return bad;
        if (url[i] == '%' && !(i + 2 < n && vs_hex(url[i + 1]) && vs_hex(url[i + 2])))
            return bad;
    }
    size_t alen = strcspn(a, "/?");
    const char *path = a + alen;
    /* Userinfo could hide the real host ("https://good@evil"). */
    if (alen == 0 || memchr(a, '@', alen) != NULL || strpbrk(path, "[]") != NULL)
        return bad;

    size_t hl, i;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', alen);
        if (close == NULL)
            return bad;
        hl = (size_t)(close - a) - 1;
        unsigned char ip6[16];
        if (hl == 0 || hl >= sizeof out->host)
            return bad;
        memcpy(out->host, a + 1, hl);
        out->host[hl] = '\0';
        if (inet_pton(AF_INET6, out->host, ip6) != 1)
            return bad;
        i = (size_t)(close - a) + 1;
    } else {
        for (i = 0; i < alen && a[i] != ':'; i++) {
            char c = a[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.'))
                return bad;
        }
        hl = i;
        if (hl == 0 || hl >= sizeof out->host || a[0] == '.' || a[0] == '-')
            return bad;
        memcpy(out->host, a, hl);
        out->host[hl] = '\0';
    }
    unsigned long port = out->https ? 443 : 80;
    if (i < alen) {
        size_t digits = alen - i - 1;
        if (a[i] != ':' || digits == 0 || digits > 5)
            return bad;
        port = 0;
        for (size_t k = i + 1; k < alen; k++) {
            if (a[k] < '0' || a[k] > '9')
                return bad;
            port = port * 10 + (unsigned long)(a[k] - '0');
        }
        if (port == 0 || port > 65535)
            return bad;
    }
    if (!vs_port_allowed(cfg, (unsigned)port, out->https))
        return bad;
    out->port = (unsigned)port;
    /* n < VS_URL_MAX, so even "/" + "?query" fits. */
    snprintf(out->path, sizeof out->path, "%s%s", path[0] == '/' ? "" : "/", path);
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* Outcomes */

static void vs_req_set(struct vs_req *r, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The first outcome wins: a header check, the deadline or a cancel decide
 * before evhttp's own report of the connection it then tears down. */
static void vs_req_set(struct vs_req *r, int rc, const char *fmt, ...)
{
    va_list ap;
    if (r->decided)
        return;
    r->decided = 1;
    r->rc = rc;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof r->detail, fmt, ap);
    va_end(ap);
}

/* Copy of server-chosen text made safe for a one-line detail. */
static void vs_printable(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; s[i] != '\0' && k + 1 < cap; i++)
        out[k++] = ((unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f) ? s[i] : '?';
    out[k] = '\0';
}

static void vs_req_mark_done(struct vs_req *r)
{
    if (r->done)
        return;
    r->done = 1;
    event_active(r->step, 0, 0);
}

/* ------------------------------------------------------------------ */
/* evhttp callbacks: they record, the step event acts */

static void vs_req_count(struct evbuffer *b, const struct evbuffer_cb_info *info, void *arg)
{
    struct vs_req *r = arg;
    (void)b;
    if (!r->head_done)
        r->head_bytes += info->n_added;
}

static int vs_ieq_n(const char *s, size_t n, const char *want)
{
    if (strlen(want) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c >= 'A' && c <= 'Z')
            c += 'a' - 'A';
        if (c != want[i])
            return 0;
    }
    return 1;
}

static int vs_ctype_ok(enum vs_kind kind, const char *v)
{
    static const char *const chain[] = {"application/pem-certificate-chain",
                                        "application/x-pem-file", NULL};
    static const char *const crl[] = {"application/pkix-crl", "application/x-pkcs7-crl",
                                      "application/octet-stream", NULL};
    /* Parameters (";charset=...") do not change what the body is. */
    size_t n = strcspn(v, ";");
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    for (const char *const *t = kind == VS_CHAIN ? chain : crl; *t != NULL; t++)
        if (vs_ieq_n(v, n, *t))
            return 1;
    return 0;
}

/* Status and Content-Type are decided on the head, so a 302 or a text/html
 * page is never downloaded; returning -1 makes evhttp drop the connection. */
static int vs_req_head(struct evhttp_request *req, void *arg)
{
    struct vs_req *r = arg;
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *ctype = NULL, *clen = NULL;
    int ntypes = 0;
    char shown[64];

    r->head_done = 1;
    int code = evhttp_request_get_response_code(req);
    if (code != 200) {
        if (code >= 300 && code < 400)
            vs_req_set(r, STI_EVFY_FETCH_STATUS, "status %d, redirects are not followed", code);
        else
            vs_req_set(r, STI_EVFY_FETCH_STATUS, "status %d", code);
        return -1;
    }
    for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next) {
        if (vs_ieq_n(kv->key, strlen(kv->key), "content-type")) {
            ctype = kv->value;
            ntypes++;
        } else if (vs_ieq_n(kv->key, strlen(kv->key), "content-length") && clen == NULL) {
            clen = kv->value;
        }
    }
    if (ntypes != 1) {
        vs_req_set(r, STI_EVFY_FETCH_TYPE,
                   ntypes ? "more than one Content-Type" : "no Content-Type");
        return -1;
    }
    if (!vs_ctype_ok(r->kind, ctype)) {
        vs_printable(ctype, shown, sizeof shown);
        vs_req_set(r, STI_EVFY_FETCH_TYPE, "Content-Type %s", shown);
        return -1;
    }
    /* evhttp would refuse it too, but as DATA_TOO_LONG, which it also uses
     * for broken chunk framing; a declared length can be named exactly. */
    if (clen != NULL && clen[0] >= '0' && clen[0] <= '9') {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(clen, &end, 10);
        if (*end == '\0' && (errno == ERANGE || v > r->max_body)) {
            vs_printable(clen, shown, 24);
            vs_req_set(r, STI_EVFY_FETCH_SIZE, "Content-Length %s over the %zu-byte limit", shown,
                       r->max_body);
            return -1;
        }
    }
    return 0;
}

/* What the TLS layer knows about a failed connection, for the detail. */
static int vs_req_tls_detail(struct vs_req *r, char *out, size_t cap)
{
    unsigned long e, first = 0;
    if (r->tls_err != 0) {
        snprintf(out, cap, "TLS: server certificate: %s (depth %d)",
                 X509_verify_cert_error_string(r->tls_err), r->tls_depth);
        return 1;
    }
    if (r->bev == NULL)
        return 0;
    /* libevent queues SSL_get_error() values (library 0) beside the real
     * OpenSSL errors; the first real one names the cause. */
    while ((e = bufferevent_get_openssl_error(r->bev)) != 0)
        if (first == 0 && ERR_GET_LIB(e) != 0)
            first = e;
    if (first == 0)
        return 0;
    const char *why = ERR_reason_error_string(first);
    snprintf(out, cap, "TLS: %s", why ? why : "handshake or record error");
    return 1;
}

static void vs_req_error(enum evhttp_request_error e, void *arg)
{
    struct vs_req *r = arg;
    int err = errno; /* evhttp restores the socket's errno for us */
    char tls[VS_DETAIL_MAX - 32];

    r->http_active = 0;
    if (r->decided)
        return; /* our own cancel, or the head check said no */
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        vs_req_set(r, STI_EVFY_FETCH_TIMEOUT, "connection idle too long");
        break;
    case EVREQ_HTTP_EOF:
        if (vs_req_tls_detail(r, tls, sizeof tls))
            vs_req_set(r, STI_EVFY_FETCH, "%s", tls);
        else if (r->head_done)
            vs_req_set(r, STI_EVFY_FETCH, "connection closed before the body was complete");
        else if (r->head_bytes > 0)
            vs_req_set(r, STI_EVFY_FETCH, "connection closed inside the response head");
        else if (err == ECONNREFUSED || err == ECONNRESET || err == EHOSTUNREACH ||
                 err == ENETUNREACH || err == ETIMEDOUT || err == EPIPE)
            vs_req_set(r, STI_EVFY_FETCH, "no answer from %s port %u: %s", r->url.host, r->url.port,
                       strerror(err));
        else
            vs_req_set(r, STI_EVFY_FETCH, "no answer from %s port %u", r->url.host, r->url.port);
        break;
    case EVREQ_HTTP_INVALID_HEADER:
        if (!r->head_done && r->head_bytes > r->max_head)
            vs_req_set(r, STI_EVFY_FETCH_SIZE, "response head over the %zu-byte limit",
                       r->max_head);
        else
            vs_req_set(r, STI_EVFY_FETCH_HTTP, "malformed status line, header or length");
        break;
    case EVREQ_HTTP_DATA_TOO_LONG:
        vs_req_set(r, STI_EVFY_FETCH_SIZE,
                   "body over the %zu-byte limit (or chunk framing that libevent reports alike)",
                   r->max_body);
        break;
    case EVREQ_HTTP_BUFFER_ERROR:
        vs_req_set(r, STI_EVFY_FETCH, "I/O error on the connection");
        break;
    case EVREQ_HTTP_REQUEST_CANCEL:
    default:
        vs_req_set(r, STI_EVFY_FETCH, "request cancelled");
        break;
    }
}

static void vs_req_response(struct evhttp_request *req, void *arg)
{
    struct vs_req *r = arg;
    r->http_active = 0;
    if (req == NULL) {
        vs_req_set(r, STI_EVFY_FETCH, "request failed");
    } else {
        int code = evhttp_request_get_response_code(req);
        if (code == 0)
            vs_req_set(r, STI_EVFY_FETCH, "cannot connect to %s port %u", r->url.host, r->url.port);
        else if (code != 200 || !r->head_done)
            vs_req_set(r, STI_EVFY_FETCH_STATUS, "status %d", code); /* head check missed */
        else
            vs_req_set(r, STI_OK, "%s", "");
    }
    vs_req_mark_done(r);
}

static int vs_tls_verify(int ok, X509_STORE_CTX *ctx)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(ctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    struct vs_req *r = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
    if (!ok && r != NULL && r->tls_err == 0) {
        r->tls_err = X509_STORE_CTX_get_error(ctx);
        r->tls_depth = X509_STORE_CTX_get_error_depth(ctx);
    }
    return ok;
}

/* ------------------------------------------------------------------ */
/* Stages */

static int vs_is_ip(const char *host, int *v6)
{
    unsigned char b[16];
    *v6 = inet_pton(AF_INET6, host, b) == 1;
    return *v6 || inet_pton(AF_INET, host, b) == 1;
}

/* The TLS object for one connection: the fetcher's trust, TLS >= 1.2,
 * SNI and the name (or address) the certificate must carry. */
static SSL *vs_req_ssl(struct vs_req *r)
{
    int v6, ip = vs_is_ip(r->url.host, &v6);
    SSL *ssl = SSL_new(r->f->cfg.tls);
    if (ssl == NULL)
        return NULL;
    X509_VERIFY_PARAM *vp = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set_verify(ssl, SSL_VERIFY_PEER, vs_tls_verify);
    /* RFC 6066 §3: no SNI for an address literal. */
    if (SSL_set_min_proto_version(ssl, TLS1_2_VERSION) != 1 || SSL_set_app_data(ssl, r) != 1 ||
        (ip ? X509_VERIFY_PARAM_set1_ip_asc(vp, r->url.host) != 1
            : (SSL_set_tlsext_host_name(ssl, r->url.host) != 1 ||
               SSL_set1_host(ssl, r->url.host) != 1))) {
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

static int vs_req_add_headers(struct vs_req *r)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    char host[VS_HOST_MAX + 16];
    int v6;
    (void)vs_is_ip(r->url.host, &v6);
    int dflt = r->url.port == (r->url.https ? 443u : 80u);
    snprintf(host, sizeof host, "%s%s%s", v6 ? "[" : "", r->url.host, v6 ? "]" : "");
    if (!dflt)
        snprintf(host + strlen(host), sizeof host - strlen(host), ":%u", r->url.port);
    /* Connection: close, so evhttp never keeps or reuses the connection. */
    return evhttp_add_header(out, "Host", host) == 0 &&
                   evhttp_add_header(out, "Accept",
                                     r->kind == VS_CHAIN ? "application/pem-certificate-chain"
                                                         : "application/pkix-crl") == 0 &&
                   evhttp_add_header(out, "User-Agent", "stisign-vs") == 0 &&
                   evhttp_add_header(out, "Connection", "close") == 0
               ? STI_OK
               : STI_ENOMEM;
}

/* Connects to addr (numeric) and sends the GET. Failures are recorded. */
static void vs_req_connect(struct vs_req *r, const char *addr)
{
    struct vs_fetcher *f = r->f;
    struct event_base *base = f->cfg.base;
    const int opts = BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS;

    if (r->url.https) {
        r->ssl = vs_req_ssl(r);
        if (r->ssl == NULL) {
            vs_req_set(r, STI_EVFY_FETCH, "cannot set up TLS for %s", r->url.host);
            goto out;
        }
        r->bev = bufferevent_openssl_socket_new(base, -1, r->ssl, BUFFEREVENT_SSL_CONNECTING, opts);
        if (r->bev == NULL)
            SSL_free(r->ssl); /* not taken over when creation fails */
    } else {
        r->bev = bufferevent_socket_new(base, -1, opts);
    }
    if (r->bev == NULL) {
        r->ssl = NULL;
        vs_req_set(r, STI_EVFY_FETCH, "cannot create a connection");
        goto out;
    }
    r->counter = evbuffer_add_cb(bufferevent_get_input(r->bev), vs_req_count, r);
    r->evcon = evhttp_connection_base_bufferevent_new(base, f->cfg.dns, r->bev, addr,
                                                      (ev_uint16_t)r->url.port);
    if (r->evcon == NULL || r->counter == NULL) {
        vs_req_set(r, STI_EVFY_FETCH, "cannot create a connection");
        goto out;
    }
    evhttp_connection_set_max_headers_size(r->evcon, (ev_ssize_t)r->max_head);
    evhttp_connection_set_max_body_size(r->evcon, (ev_ssize_t)r->max_body);
    evhttp_connection_set_retries(r->evcon, 0);
    /* evhttp's own idle timeout only backs up the deadline, so it is set
     * longer: the deadline must be what ends a fetch. */
    struct timeval idle = {(time_t)(r->timeout_ms / 1000 + 1),
                           (suseconds_t)(r->timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(r->evcon, &idle);

    r->req = evhttp_request_new(vs_req_response, r);
    if (r->req == NULL) {
        vs_req_set(r, STI_EVFY_FETCH, "cannot create the request");
        goto out;
    }
    /* Owned, so every path frees it here and evhttp never does. */
    evhttp_request_own(r->req);
    evhttp_request_set_error_cb(r->req, vs_req_error);
    evhttp_request_set_header_cb(r->req, vs_req_head);
    if (vs_req_add_headers(r) != STI_OK) {
        vs_req_set(r, STI_EVFY_FETCH, "cannot create the request");
        goto out;
    }
    r->http_active = 1;
    if (evhttp_make_request(r->evcon, r->req, EVHTTP_REQ_GET, r->url.path) != 0) {
        r->http_active = 0;
        vs_req_set(r, STI_EVFY_FETCH, "cannot connect to %s port %u", r->url.host, r->url.port);
        goto out;
    }
    return;
out:
    /* evcon (once made) owns bev; without it bev is freed here. */
    if (r->evcon == NULL && r->bev != NULL) {
        if (r->counter != NULL)
            evbuffer_remove_cb_entry(bufferevent_get_input(r->bev), r->counter);
        r->counter = NULL;
        bufferevent_free(r->bev);
        r->bev = NULL;
        r->ssl = NULL;
    }
    vs_req_mark_done(r);
}

static void vs_req_free(struct vs_req *r);

static void vs_req_resolved(int err, struct evutil_addrinfo *ai, void *arg)
{
    struct vs_req *r = arg;
    char addr[INET6_ADDRSTRLEN];
    const void *ip = NULL;

    r->dns = NULL;
    if (r->orphan) {
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        vs_req_free(r);
        return;
    }
    if (err == 0 && ai != NULL && ai->ai_family == AF_INET)
        ip = &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr;
    else if (err == 0 && ai != NULL && ai->ai_family == AF_INET6)
        ip = &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr;
    if (ip == NULL || evutil_inet_ntop(ai->ai_family, ip, addr, sizeof addr) == NULL) {
        vs_req_set(r, STI_EVFY_FETCH, "DNS: %s: %s", r->url.host,
                   err ? evutil_gai_strerror(err) : "no address");
        if (ai != NULL)
            evutil_freeaddrinfo(ai);
        vs_req_mark_done(r);
        return;
    }
    evutil_freeaddrinfo(ai);
    vs_req_connect(r, addr);
}

static void vs_req_resolve(struct vs_req *r)
{
    struct evutil_addrinfo hints;
    int v6;
    if (vs_is_ip(r->url.host, &v6)) {
        vs_req_connect(r, r->url.host);
        return;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    /* The callback may run before this returns (hosts file, errors); it
     * then clears r->dns, which the NULL return value leaves cleared. */
    r->dns = evdns_getaddrinfo(r->f->cfg.dns, r->url.host, NULL, &hints, vs_req_resolved, r);
}

/* Stops whatever is in flight; no callback of ours runs for it after. */
static void vs_req_abort(struct vs_req *r)
{
    if (r->dns != NULL)
        evdns_getaddrinfo_cancel(r->dns); /* answers later, with EAI_CANCEL */
    if (r->http_active) {
        r->http_active = 0;
        evhttp_cancel_request(r->req); /* error callback runs, already decided */
    }
}

static void vs_req_unlink(struct vs_req *r)
{
    struct vs_fetcher *f = r->f;
    if (f == NULL)
        return;
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        f->live = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
    f->inflight--;
    r->f = NULL;
}

static void vs_req_free(struct vs_req *r)
{
    vs_req_abort(r);
    if (r->ssl != NULL)
        SSL_set_app_data(r->ssl, NULL); /* the SSL may outlive r inside libevent */
    if (r->counter != NULL)
        evbuffer_remove_cb_entry(bufferevent_get_input(r->bev), r->counter);
    r->counter = NULL;
    if (r->evcon != NULL)
        evhttp_connection_free(r->evcon);
    r->evcon = NULL;
    r->bev = NULL;
    r->ssl = NULL;
    if (r->req != NULL)
        evhttp_request_free(r->req);
    r->req = NULL;
    if (r->deadline != NULL)
        event_free(r->deadline);
    if (r->step != NULL)
        event_free(r->step);
    r->deadline = r->step = NULL;
    if (r->dns != NULL) {
        /* The cancelled lookup still calls back; that call frees r. */
        r->orphan = 1;
        return;
    }
    free(r);
}

/* Hands the outcome to the caller, then releases everything. */
static void vs_req_finish(struct vs_req *r)
{
    static const uint8_t empty[1];
    const uint8_t *body = NULL;
    size_t n = 0;
    long ttl = -1;
    char *cc = NULL;

    vs_req_unlink(r);
    if (r->rc == STI_OK) {
        struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
        struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
        n = evbuffer_get_length(in);
        body = n > 0 ? evbuffer_pullup(in, -1) : empty;
        /* Several Cache-Control fields read as one list (RFC 9110 §5.3). */
        size_t len = 1;
        for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
            if (vs_ieq_n(kv->key, strlen(kv->key), "cache-control"))
                len += strlen(kv->value) + 1;
        if (len > 1 && (cc = malloc(len)) != NULL) {
            cc[0] = '\0';
            for (struct evkeyval *kv = h->tqh_first; kv != NULL; kv = kv->next.tqe_next)
                if (vs_ieq_n(kv->key, strlen(kv->key), "cache-control")) {
                    strcat(cc, cc[0] ? "," : "");
                    strcat(cc, kv->value);
                }
        }
        /* Unable to join them: treat the answer as not cacheable. */
        ttl = len > 1 && cc == NULL ? 0 : vs_ttl(cc, evhttp_find_header(h, "Expires"), time(NULL));
        if (body == NULL) {
            r->rc = STI_EVFY_FETCH;
            snprintf(r->detail, sizeof r->detail, "out of memory for the body");
            n = 0;
            ttl = -1;
        }
    }
    r->cb(r->arg, r->rc, r->detail, r->rc == STI_OK ? body : NULL, n, ttl);
    free(cc);
    vs_req_free(r);
}

static void vs_req_step(evutil_socket_t fd, short what, void *arg)
{
    struct vs_req *r = arg;
    (void)fd;
    (void)what;
    if (r->done) {
        vs_req_finish(r);
    } else if (r->f->cfg.offline) {
        vs_req_set(r, STI_EVFY_FETCH, "not pinned or cached, and fetching is off");
        vs_req_mark_done(r);
    } else {
        vs_req_resolve(r);
    }
}

static void vs_req_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct vs_req *r = arg;
    (void)fd;
    (void)what;
    if (r->done)
        return; /* finished in this same loop turn; step delivers it */
    const char *stage = r->dns != NULL  ? "resolving"
                        : r->head_done  ? "reading the body"
                        : r->head_bytes ? "reading the head"
                                        : "connecting, TLS or waiting for the answer";
    vs_req_set(r, STI_EVFY_FETCH_TIMEOUT, "no complete answer within %u ms (%s)", r->timeout_ms,
               stage);
    r->done = 1;
    vs_req_abort(r);
    vs_req_finish(r);
}

/* ------------------------------------------------------------------ */
/* Fetcher */

/* A numeric name is answered at once, inside evdns_getaddrinfo. */
static void vs_warm_answer(int err, struct evutil_addrinfo *ai, void *arg)
{
    (void)err;
    (void)arg;
    if (ai != NULL)
        evutil_freeaddrinfo(ai);
}

int vs_fetcher_new(const struct vs_fetch_cfg *cfg, struct vs_fetcher **out)
{
    struct vs_fetcher *f;
    if (out == NULL)
        return STI_EINVAL;
    *out = NULL;
    if (cfg == NULL || cfg->base == NULL || cfg->dns == NULL || cfg->tls == NULL)
        return STI_EINVAL;
    /* libevent asks the kernel once which address families the host has
     * (AI_ADDRCONFIG: a netlink socket) and keeps the answer: ask now, while
     * the process may still open such a socket (the verifier confines
     * itself after this, bsp_sandbox). */
    struct evutil_addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
    evdns_getaddrinfo(cfg->dns, "127.0.0.1", NULL, &hints, vs_warm_answer, NULL);
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return STI_ENOMEM;
    f->cfg = *cfg;
    if (f->cfg.max_body == 0)
        f->cfg.max_body = VS_DEF_MAX_BODY;
    if (f->cfg.max_crl_body == 0)
        f->cfg.max_crl_body = VS_DEF_MAX_CRL_BODY;
    if (f->cfg.max_head == 0)
        f->cfg.max_head = VS_DEF_MAX_HEAD;
    if (f->cfg.timeout_ms == 0)
        f->cfg.timeout_ms = VS_DEF_TIMEOUT_MS;
    if (f->cfg.max_inflight == 0)
        f->cfg.max_inflight = VS_DEF_MAX_INFLIGHT;
    *out = f;
    return STI_OK;
}

struct event_base *vs_fetcher_base(const struct vs_fetcher *f)
{
    return f != NULL ? f->cfg.base : NULL;
}

void vs_fetcher_free(struct vs_fetcher *f)
{
    struct vs_req *r;
    if (f == NULL)
        return;
    while ((r = f->live) != NULL) {
        vs_req_unlink(r);
        vs_req_set(r, STI_EVFY_FETCH, "fetcher freed");
        r->done = 1;
        vs_req_free(r);
    }
    free(f);
}

unsigned vs_fetch_cancel(struct vs_fetcher *f, vs_fetch_cb cb, const void *arg)
{
    unsigned n = 0;
    struct vs_req *r, *next;
    for (r = f != NULL ? f->live : NULL; r != NULL; r = next) {
        next = r->next;
        if (r->cb != cb || r->arg != arg)
            continue;
        vs_req_unlink(r);
        vs_req_set(r, STI_EVFY_FETCH, "cancelled");
        r->done = 1;
        vs_req_free(r);
        n++;
    }
    return n;
}

int vs_fetch_get(struct vs_fetcher *f, const char *url, enum vs_kind kind, vs_fetch_cb cb,
                 void *arg)
{
    struct vs_req *r = NULL;
    int rc;

    STI_CHECK(f != NULL && url != NULL && cb != NULL && (kind == VS_CHAIN || kind == VS_CRL),
              STI_EINVAL);
    r = calloc(1, sizeof *r);
    STI_CHECK(r != NULL, STI_ENOMEM);
    STI_TRY(vs_url_parse(url, kind, &f->cfg, &r->url));
    STI_CHECK(f->inflight < f->cfg.max_inflight, STI_EBUSY);
    r->kind = kind;
    r->max_body = kind == VS_CRL ? f->cfg.max_crl_body : f->cfg.max_body;
    r->max_head = f->cfg.max_head;
    r->timeout_ms = f->cfg.timeout_ms;
    r->cb = cb;
    r->arg = arg;
    r->deadline = evtimer_new(f->cfg.base, vs_req_deadline, r);
    r->step = event_new(f->cfg.base, -1, 0, vs_req_step, r);
    STI_CHECK(r->deadline != NULL && r->step != NULL, STI_ENOMEM);
    struct timeval tv = {(time_t)(f->cfg.timeout_ms / 1000),
                         (suseconds_t)(f->cfg.timeout_ms % 1000) * 1000};
    STI_CHECK(evtimer_add(r->deadline, &tv) == 0, STI_ENOMEM);
    r->f = f;
    r->next = f->live;
    if (f->live != NULL)
        f->live->prev = r;
    f->live = r;
    f->inflight++;
    /* Started from the loop: whatever libevent reports synchronously still
     * reaches cb after this call has returned. */
    event_active(r->step, 0, 0);
    r = NULL;
    rc = STI_OK;
out:
    if (r != NULL)
        vs_req_free(r);
    return rc;
}

int vs_ports_parse(const char *list, unsigned ports[VS_MAX_PORTS])
{
    char buf[128], *save = NULL;
    unsigned n = 0;
    if (strlen(list) >= sizeof buf)
        return STI_ECONFIG;
    memset(ports, 0, VS_MAX_PORTS * sizeof *ports);
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        char *end;
        unsigned long p = strtoul(t, &end, 10);
        if (*end || p == 0 || p > 65535 || n == VS_MAX_PORTS)
            return STI_ECONFIG;
        ports[n++] = (unsigned)p;
    }
    return n ? STI_OK : STI_ECONFIG;
}

int vs_tls_new(const char *ca_file, SSL_CTX **out)
{
    const char *file = ca_file ? ca_file : X509_get_default_cert_file();
    SSL_CTX *tls = SSL_CTX_new(TLS_client_method());
    if (tls == NULL || !SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION)) {
        SSL_CTX_free(tls);
        return STI_ENOMEM;
    }
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    /* The whole file now: a hashed folder would be read lazily. */
    if (SSL_CTX_load_verify_file(tls, file) != 1) {
        ERR_clear_error();
        SSL_CTX_free(tls);
        return STI_EIO;
    }
    *out = tls;
    return STI_OK;
}

struct evdns_base *vs_dns_new(struct event_base *base)
{
    struct evdns_base *dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (dns == NULL) /* no resolv.conf: hosts file and addresses only */
        dns = evdns_base_new(base, 0);
    if (dns != NULL)
        evdns_base_load_hosts(dns, NULL);
    return dns;
}
