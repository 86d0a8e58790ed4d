/*
 * http.h — the daemon's HTTP endpoint (libevent evhttp), off unless
 * `http_listen` is set; loopback unless a host is given:
 *
 *   GET /metrics            Prometheus text format (version 0.0.4)
 *   GET /x5u/NAME.pem       with publish_chain: credential NAME's chain,
 *   GET <path of its x5u>   leaf first, application/pem-certificate-chain
 *                           (the STI-CR role, directly or behind a proxy)
 *
 * Only GET and HEAD (405 otherwise); anything else is 404. The PEM bodies
 * are encoded once per credential table (http_set_creds at start and after
 * each reload), never per request. Not the signing hot path: the metrics
 * page is built per scrape from counters the hot path already keeps.
 *
 * Conventions: loop thread only. The env pointers are the daemon's own and
 * are read at each request (the pool and table change on reload).
 */
#ifndef STI_HTTP_H
#define STI_HTTP_H

#include "cred.h"
#include "pool.h"
#include "selftest.h"
#include "service.h"

struct event_base;
struct http;

struct http_env {
    struct event_base *base;
    struct svc *svc;
    struct pool **pool;        /* the pool in use, or NULL */
    struct cred_table **creds; /* the credentials in use */
    struct selftest *selftest;
};

/* The parent binds (listen: "PORT", "HOST:PORT" or "[V6]:PORT"; STI_ECONFIG
 * for a bad address, STI_EIO when it cannot be bound), the front serves on
 * the socket it is handed (and owns it from then on). */
int http_bind(const char *addr, int *fd);
int http_start(const struct http_env *env, int fd, int publish_chain, struct http **out);
void http_free(struct http *h);
/* Re-encodes the chains served (publish_chain); STI_ENOMEM on failure, in
 * which case the previous table stays. */
int http_set_creds(struct http *h, const struct cred_table *t);

#endif
