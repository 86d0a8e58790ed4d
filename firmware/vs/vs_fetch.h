/*
 * vs_fetch.h — the verifier's HTTP client: GET of an x5u certificate chain
 * or a CRL, on libevent's evhttp client over bufferevent_openssl. No byte
 * of HTTP is parsed here: evhttp reads the status line, headers and body
 * (chunked or not); this file applies the limits and the STI-CR rules.
 *
 *   vs_url_parse     the URL rules, before any I/O
 *   vs_fetcher_new   one per verifier process, on its event_base
 *   vs_fetch_get     one GET; the callback runs exactly once
 *   vs_body_chain    a fetched body as a certificate chain (PEM, leaf first)
 *   vs_body_crl      a fetched body as a CRL (DER or PEM)
 *   vs_ttl           the freshness an answer grants (Cache-Control, Expires)
 *
 * Rules: chains: https only; CRLs: https, or http when the fetcher allows
 * it (a CRL is signed, its transport need not be). No userinfo, no
 * fragment; a query string is accepted (carriers publish such x5u). Port:
 * 443 or 8443 unless the operator lists more. Status 200 only: a redirect
 * is an error, never followed. Content-Type: application/pem-certificate-
 * chain (x-pem-file accepted) for chains; application/pkix-crl (or
 * x-pkcs7-crl, octet-stream) for CRLs. Body at most max_body bytes, the
 * head at most max_head; one deadline (timeout_ms) covers resolve,
 * connect, handshake and the whole answer, so a slow drip ends too. TLS
 * >= 1.2, SNI, the server's certificate checked against the fetcher's
 * trust store and the URL's host name.
 *
 * Conventions: event-loop thread only. The fetcher owns its connections;
 * vs_fetcher_free cancels what is in flight and runs no callback. Bodies
 * handed to a callback are valid only during the call.
 */
#ifndef STI_VS_FETCH_H
#define STI_VS_FETCH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <openssl/ssl.h>
#include <openssl/x509.h>

struct event_base;
struct evdns_base;
struct vs_fetcher;

#define VS_URL_MAX 520
#define VS_HOST_MAX 256
#define VS_MAX_PORTS 8

enum vs_kind { VS_CHAIN = 0, VS_CRL = 1 };

struct vs_url {
    int https;               /* 0: http (CRLs only) */
    char host[VS_HOST_MAX];  /* IPv6 without brackets */
    unsigned port;
    char path[VS_URL_MAX];   /* path and query, at least "/" */
};

struct vs_fetch_cfg {
    struct event_base *base;
    struct evdns_base *dns;  /* resolver, set up before the sandbox */
    SSL_CTX *tls;            /* trust for https servers; borrowed */
    size_t max_body;         /* default 64 KiB for chains; CRLs get max_crl_body */
    size_t max_crl_body;     /* default 1 MiB */
    size_t max_head;         /* default 8 KiB */
    unsigned timeout_ms;     /* default 5000 */
    unsigned max_inflight;   /* fetches at once; beyond: STI_EBUSY; default 64 */
    int crl_http;            /* allow http:// CRL distribution points */
    unsigned ports[VS_MAX_PORTS]; /* allowed ports; all 0: 443 and 8443 */
};

/* rc STI_OK with body/n, or an STI_EVFY_FETCH* code with a detail for the
 * log and the client ("status 302", "Content-Type text/html", ...).
 * ttl_s: what the answer's Cache-Control max-age / Expires grant, -1 when
 * it says nothing, 0 for no-store/no-cache. */
typedef void (*vs_fetch_cb)(void *arg, int rc, const char *detail, const uint8_t *body, size_t n,
                            long ttl_s);

/* STI_EX5U (or STI_EVFY_FETCH for a CRL URL) when url breaks the rules. */
int vs_url_parse(const char *url, enum vs_kind kind, const struct vs_fetch_cfg *cfg,
                 struct vs_url *out);
int vs_fetcher_new(const struct vs_fetch_cfg *cfg, struct vs_fetcher **out);
void vs_fetcher_free(struct vs_fetcher *f);
/* STI_OK: the callback will run (never before this returns). Otherwise it
 * will not: STI_EX5U / STI_EVFY_FETCH (URL), STI_EBUSY, STI_ENOMEM. */
int vs_fetch_get(struct vs_fetcher *f, const char *url, enum vs_kind kind, vs_fetch_cb cb,
                 void *arg);

/* PEM certificates only (whitespace between blocks), 1..VS_CHAIN_MAX of
 * them; STI_EVFY_FETCH_BODY otherwise. */
#define VS_CHAIN_MAX 10
int vs_body_chain(const uint8_t *body, size_t n, STACK_OF(X509) **out);
/* One CRL, DER or PEM; STI_EVFY_FETCH_BODY otherwise. */
int vs_body_crl(const uint8_t *body, size_t n, X509_CRL **out);
/* Freshness from the header values (either may be NULL): Cache-Control
 * max-age / s-maxage, no-store, no-cache; else Expires minus now. */
long vs_ttl(const char *cache_control, const char *expires, time_t now);

#endif
