/* http.c — /metrics and the STI-CR chain endpoint on evhttp. */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>
#include <openssl/pem.h>

#include "log.h"
#include "sti_err.h"
#include "wire.h"

#define HTTP_MAX_PATHS (2 * CFG_MAX_CREDS)

struct http_chain {
    char path[PP_X5U_MAX + 16];
    char *pem; /* shared by the two paths of one credential; owned by pems */
    size_t len;
};

struct http {
    struct http_env env;
    struct evhttp *eh;
    int publish;
    struct http_chain paths[HTTP_MAX_PATHS];
    size_t npaths;
    char *pems[CFG_MAX_CREDS];
    size_t npems;
};

static void http_drop_chains(struct http *h)
{
    for (size_t i = 0; i < h->npems; i++)
        free(h->pems[i]);
    h->npems = h->npaths = 0;
}

/* The chain as PEM, leaf first, from the certificates already loaded. */
static int http_chain_pem(STACK_OF(X509) * chain, char **out, size_t *len)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    int rc = STI_ENOMEM;
    if (!b)
        return STI_ENOMEM;
    for (int i = 0; i < sk_X509_num(chain); i++)
        if (!PEM_write_bio_X509(b, sk_X509_value(chain, i)))
            goto out;
    long n = BIO_get_mem_data(b, &data);
    if (n <= 0 || !(*out = malloc((size_t)n)))
        goto out;
    memcpy(*out, data, (size_t)n);
    *len = (size_t)n;
    rc = STI_OK;
out:
    BIO_free(b);
    return rc;
}

static int http_path_known(const struct http *h, const char *path)
{
    for (size_t i = 0; i < h->npaths; i++)
        if (strcmp(h->paths[i].path, path) == 0)
            return 1;
    return 0;
}

static void http_add_path(struct http *h, const char *path, char *pem, size_t len)
{
    /* The first credential to claim a path keeps it (file order, as signing). */
    if (h->npaths == HTTP_MAX_PATHS || !path[0] || http_path_known(h, path) ||
        strcmp(path, "/metrics") == 0)
        return;
    struct http_chain *c = &h->paths[h->npaths++];
    snprintf(c->path, sizeof c->path, "%s", path);
    c->pem = pem;
    c->len = len;
}

int http_set_creds(struct http *h, const struct cred_table *t)
{
    char *pems[CFG_MAX_CREDS];
    size_t lens[CFG_MAX_CREDS], n = 0;
    if (!h || !h->publish)
        return STI_OK;
    for (; n < t->n; n++)
        if (http_chain_pem(t->c[n].chain, &pems[n], &lens[n]) != STI_OK) {
            while (n > 0)
                free(pems[--n]);
            log_error("http: chains not re-encoded; serving the previous ones");
            return STI_ENOMEM;
        }
    http_drop_chains(h);
    for (size_t i = 0; i < n; i++) {
        const struct cred *c = &t->c[i];
        char path[PP_X5U_MAX + 16];
        h->pems[h->npems++] = pems[i];
        snprintf(path, sizeof path, "/x5u/%s.pem", c->name);
        http_add_path(h, path, pems[i], lens[i]);
        /* x5u is https://host[:port]/path (pp_x5u_check): serve its path. */
        const char *p = strstr(c->x5u, "://");
        p = p ? strchr(p + 3, '/') : NULL;
        if (p)
            http_add_path(h, p, pems[i], lens[i]);
    }
    return STI_OK;
}

static void http_metrics(struct http *h, struct evbuffer *b)
{
    struct svc_counters cnt;
    struct svc_metrics m;
    struct pool_stats ps;
    char reason[200];
    const struct cred_table *t = *h->env.creds;
    struct pool *pool = *h->env.pool;
    time_t now = time(NULL);

    svc_counters(h->env.svc, &cnt);
    svc_metrics(h->env.svc, &m);
    memset(&ps, 0, sizeof ps);
    if (pool)
        pool_stats(pool, &ps);
    int state = svc_health_state(h->env.svc, reason, sizeof reason);

    evbuffer_add_printf(b,
                        "# HELP stisign_up 1 while the daemon can sign (health ready or "
                        "degraded), 0 when it is down.\n# TYPE stisign_up gauge\n"
                        "stisign_up %d\n",
                        state != WIRE_STATE_DOWN);
    evbuffer_add_printf(b,
                        "# HELP stisign_selftest_ok 1 when the last power-on/reload "
                        "self-test (mbedTLS verify of each key) passed.\n"
                        "# TYPE stisign_selftest_ok gauge\nstisign_selftest_ok %d\n"
                        "# HELP stisign_selftest_failures_total Self-test runs that failed.\n"
                        "# TYPE stisign_selftest_failures_total counter\n"
                        "stisign_selftest_failures_total %lu\n"
                        "# HELP stisign_sampled_verify_failures_total Signatures withheld "
                        "because the sampled mbedTLS verify failed.\n"
                        "# TYPE stisign_sampled_verify_failures_total counter\n"
                        "stisign_sampled_verify_failures_total %llu\n",
                        selftest_ok(h->env.selftest), selftest_failures(h->env.selftest),
                        (unsigned long long)ps.selftest_failures);
    evbuffer_add_printf(b, "# HELP stisign_signatures_total Signatures by credential and "
                           "result (the token's answer).\n"
                           "# TYPE stisign_signatures_total counter\n");
    for (size_t i = 0; i < t->n; i++)
        evbuffer_add_printf(b,
                            "stisign_signatures_total{credential=\"%s\",result=\"ok\"} %llu\n"
                            "stisign_signatures_total{credential=\"%s\",result=\"error\"} %llu\n",
                            t->c[i].name, (unsigned long long)t->c[i].signed_ok, t->c[i].name,
                            (unsigned long long)t->c[i].sign_errors);
    evbuffer_add_printf(b,
                        "# HELP stisign_requests_total Sign requests answered, by result "
                        "(errors include refusals before the token: scope, input, busy).\n"
                        "# TYPE stisign_requests_total counter\n"
                        "stisign_requests_total{result=\"ok\"} %llu\n"
                        "stisign_requests_total{result=\"error\"} %llu\n"
                        "# HELP stisign_in_flight Sign requests waiting for the token.\n"
                        "# TYPE stisign_in_flight gauge\nstisign_in_flight %u\n",
                        (unsigned long long)cnt.signed_ok, (unsigned long long)cnt.failed,
                        cnt.in_flight);
    evbuffer_add_printf(b, "# HELP stisign_sign_latency_seconds From submit to the HSM "
                           "worker's answer.\n# TYPE stisign_sign_latency_seconds histogram\n");
    uint64_t cum = 0;
    for (unsigned i = 0; i < SVC_LAT_BUCKETS; i++) {
        cum += m.lat_bucket[i];
        evbuffer_add_printf(b, "stisign_sign_latency_seconds_bucket{le=\"%g\"} %llu\n",
                            svc_lat_bounds[i], (unsigned long long)cum);
    }
    cum += m.lat_bucket[SVC_LAT_BUCKETS];
    evbuffer_add_printf(b,
                        "stisign_sign_latency_seconds_bucket{le=\"+Inf\"} %llu\n"
                        "stisign_sign_latency_seconds_sum %.9f\n"
                        "stisign_sign_latency_seconds_count %llu\n",
                        (unsigned long long)cum, (double)m.lat_sum_ns / 1e9,
                        (unsigned long long)m.lat_count);
    evbuffer_add_printf(b,
                        "# HELP stisign_hsm_errors_total Errors the token answered.\n"
                        "# TYPE stisign_hsm_errors_total counter\nstisign_hsm_errors_total %llu\n"
                        "# HELP stisign_hsm_worker_restarts_total HSM workers restarted.\n"
                        "# TYPE stisign_hsm_worker_restarts_total counter\n"
                        "stisign_hsm_worker_restarts_total %llu\n"
                        "# HELP stisign_hsm_workers HSM workers (token sessions).\n"
                        "# TYPE stisign_hsm_workers gauge\n"
                        "stisign_hsm_workers{state=\"ready\"} %u\n"
                        "stisign_hsm_workers{state=\"configured\"} %u\n",
                        (unsigned long long)ps.hsm_errors, (unsigned long long)ps.respawns,
                        ps.ready, ps.workers);
    evbuffer_add_printf(b, "# HELP stisign_certificate_expiry_seconds Seconds until the "
                           "credential's certificate expires (notAfter - now; negative once "
                           "expired).\n# TYPE stisign_certificate_expiry_seconds gauge\n");
    for (size_t i = 0; i < t->n; i++)
        evbuffer_add_printf(b, "stisign_certificate_expiry_seconds{credential=\"%s\"} %lld\n",
                            t->c[i].name, (long long)(t->c[i].not_after - now));
}

static void http_reply(struct evhttp_request *req, int code, const char *reason, const char *ctype,
                       struct evbuffer *body)
{
    struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
    if (ctype)
        evhttp_add_header(hdr, "Content-Type", ctype);
    evhttp_send_reply(req, code, reason, body);
}

static void http_on_request(struct evhttp_request *req, void *arg)
{
    struct http *h = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    struct evbuffer *b = evbuffer_new();
    if (!b) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        evbuffer_add_printf(b, "only GET and HEAD\n");
        http_reply(req, 405, "Method Not Allowed", "text/plain; charset=utf-8", b);
    } else if (path && strcmp(path, "/metrics") == 0) {
        http_metrics(h, b);
        http_reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", b);
    } else {
        const struct http_chain *c = NULL;
        for (size_t i = 0; path && i < h->npaths && !c; i++)
            if (strcmp(h->paths[i].path, path) == 0)
                c = &h->paths[i];
        if (c) {
            evbuffer_add(b, c->pem, c->len); /* a copy: a reload may free the table */
            http_reply(req, 200, "OK", "application/pem-certificate-chain", b);
        } else {
            evbuffer_add_printf(b, "not found\n");
            http_reply(req, 404, "Not Found", "text/plain; charset=utf-8", b);
        }
    }
    evbuffer_free(b);
}

/* "PORT", "HOST:PORT", "[V6]:PORT" -> host (default loopback) and port. */
static int http_parse_listen(const char *s, char *host, size_t cap, unsigned *port)
{
    const char *colon = strrchr(s, ':'), *p = colon ? colon + 1 : s;
    char *end;
    unsigned long v = strtoul(p, &end, 10);
    if (!*p || *end || v == 0 || v > 65535)
        return STI_ECONFIG;
    *port = (unsigned)v;
    if (!colon) {
        snprintf(host, cap, "127.0.0.1");
        return STI_OK;
    }
    size_t n = (size_t)(colon - s);
    if (n >= 2 && s[0] == '[' && s[n - 1] == ']')
        s++, n -= 2;
    if (n == 0 || n >= cap)
        return STI_ECONFIG;
    memcpy(host, s, n);
    host[n] = '\0';
    return STI_OK;
}

int http_bind(const char *addr, int *fd)
{
    char host[128], port_s[8];
    unsigned port;
    struct evutil_addrinfo hints, *ai = NULL;
    int rc = http_parse_listen(addr, host, sizeof host, &port);
    if (rc) {
        log_error("http_listen %s: expected PORT, HOST:PORT or [V6]:PORT", addr);
        return rc;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICSERV;
    snprintf(port_s, sizeof port_s, "%u", port);
    if (evutil_getaddrinfo(host, port_s, &hints, &ai) != 0 || !ai) {
        log_error("http_listen %s: %s cannot be resolved", addr, host);
        return STI_ECONFIG;
    }
    int s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int one = 1;
    if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(s, ai->ai_addr, ai->ai_addrlen) != 0 || listen(s, 128) != 0) {
        log_error("http_listen %s: cannot listen on %s port %u", addr, host, port);
        if (s >= 0)
            close(s);
        evutil_freeaddrinfo(ai);
        return STI_EIO;
    }
    evutil_freeaddrinfo(ai);
    log_info("http: listening on %s port %u", host, port);
    *fd = s;
    return STI_OK;
}

int http_start(const struct http_env *env, int fd, int publish_chain, struct http **out)
{
    int rc;
    struct http *h = calloc(1, sizeof *h);
    STI_CHECK(h, STI_ENOMEM);
    h->env = *env;
    h->publish = publish_chain;
    h->eh = evhttp_new(env->base);
    STI_CHECK(h->eh, STI_ENOMEM);
    /* Every method reaches the handler, which answers 405 itself. */
    evhttp_set_allowed_methods(h->eh, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                                          EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_OPTIONS |
                                          EVHTTP_REQ_TRACE | EVHTTP_REQ_CONNECT | EVHTTP_REQ_PATCH);
    evhttp_set_max_headers_size(h->eh, 8192);
    evhttp_set_max_body_size(h->eh, 4096);
    evhttp_set_timeout(h->eh, 10);
    evhttp_set_gencb(h->eh, http_on_request, h);
    STI_CHECK(evhttp_accept_socket_with_handle(h->eh, fd) != NULL, STI_EIO);
    fd = -1; /* evhttp owns it now */
    log_info("http: serving metrics%s", publish_chain ? " and chains" : "");
    *out = h;
    h = NULL;
    rc = STI_OK;
out:
    if (fd >= 0)
        close(fd);
    http_free(h);
    return rc;
}

void http_free(struct http *h)
{
    if (!h)
        return;
    if (h->eh)
        evhttp_free(h->eh);
    http_drop_chains(h);
    free(h);
}
