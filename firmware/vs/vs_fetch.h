/*
 * vs_fetch.h — the verifier's HTTP client: GET of an x5u certificate chain
 * or a CRL, on libevent's evhttp client over bufferevent_openssl. No byte
 * of HTTP is parsed here: evhttp reads the status line, headers and body
 * (chunked or not); this file applies the limits and the STI-CR rules.
 *
 * vs_fetch.c
 *   vs_url_parse     the URL rules, before any I/O
 *   vs_fetcher_new   one per verifier process, on its event_base
 *   vs_fetch_get     one GET; the callback runs exactly once
 *   vs_fetch_cancel  drops a fetch without running its callback
 * vs_body.c (pure: no I/O, no libevent; fuzzed)
 *   vs_body_chain    a fetched body as a certificate chain (PEM, leaf first)
 *   vs_body_crl      a fetched body as a CRL (DER or PEM)
 *   vs_ttl           the freshness an answer grants (Cache-Control, Expires)
 *
 * Rules: chains: https only; CRLs: https, or http when the fetcher allows
 * it (a CRL is signed, its transport need not be). No userinfo, no
 * fragment; a query string is accepted (carriers publish such x5u). Port:
 * one of the operator's list (ports), by default 443 and 8443; an http CRL
 * may also use 80. Status 200 only: a redirect is an error, never followed.
 * Content-Type: application/pem-certificate-chain (x-pem-file accepted)
 * for chains; application/pkix-crl (or x-pkcs7-crl, octet-stream) for
 * CRLs. Body at most max_body bytes, the head at most max_head; one
 * deadline (timeout_ms) covers resolve, connect, handshake and the whole
 * answer, so a slow drip ends too. TLS >= 1.2, SNI, the server's
 * certificate checked against the fetcher's trust store and the URL's
 * host name (or IP address). One connection per fetch, closed after it;
 * a name with several addresses is tried at its first only.
 *
 * Conventions: event-loop thread only. The fetcher owns its connections;
 * vs_fetcher_free cancels what is in flight and runs no callback (libevent
 * may still hold a cancelled lookup or a connection's last deferred
 * callback: they go the next time the loop runs, so let it run once more
 * before freeing the evdns_base and the event_base). Bodies handed to a
 * callback are valid only during the call. Zero in a size, time or count
 * of vs_fetch_cfg selects the default written beside it.
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
/* Details passed to callbacks fit in this, NUL included. */
#define VS_DETAIL_MAX 160

enum vs_kind { VS_CHAIN = 0, VS_CRL = 1 };

struct vs_url {
    int https;              /* 0: http (CRLs only) */
    char host[VS_HOST_MAX]; /* IPv6 without brackets */
    unsigned port;
    char path[VS_URL_MAX]; /* path and query, at least "/" */
};

struct vs_fetch_cfg {
    struct event_base *base;
    struct evdns_base *dns;       /* resolver, set up before the sandbox */
    SSL_CTX *tls;                 /* trust for https servers; borrowed */
    size_t max_body;              /* default 64 KiB for chains; CRLs get max_crl_body */
    size_t max_crl_body;          /* default 1 MiB */
    size_t max_head;              /* default 8 KiB */
    unsigned timeout_ms;          /* default 5000 */
    unsigned max_inflight;        /* fetches at once; beyond: STI_EBUSY; default 64 */
    int crl_http;                 /* allow http:// CRL distribution points */
    int offline;                  /* never touch the network: fetches fail STI_EVFY_FETCH */
    unsigned ports[VS_MAX_PORTS]; /* allowed ports; all 0: 443 and 8443 */
};

/* rc STI_OK with body/n, or an STI_EVFY_FETCH* code with a detail for the
 * log and the client ("status 302, redirects are not followed",
 * "Content-Type text/html", ...); detail is never NULL ("" on success).
 * The body is not checked here: vs_body_chain / vs_body_crl do that.
 * ttl_s: what the answer's Cache-Control max-age / Expires grant, -1 when
 * it says nothing, 0 for no-store/no-cache. */
typedef void (*vs_fetch_cb)(void *arg, int rc, const char *detail, const uint8_t *body, size_t n,
                            long ttl_s);

/* STI_EX5U (or STI_EVFY_FETCH for a CRL URL) when url breaks the rules:
 * scheme, userinfo ('@' before the path), fragment ('#'), whitespace,
 * controls, non-ASCII or other characters outside RFC 3986, empty or
 * malformed host, port not allowed, length VS_URL_MAX or more. cfg may be
 * NULL (default ports, no http CRLs). */
int vs_url_parse(const char *url, enum vs_kind kind, const struct vs_fetch_cfg *cfg,
                 struct vs_url *out);
/* base, dns and tls are required (STI_EINVAL); the fetcher keeps a copy of
 * cfg with the defaults filled in and borrows the three. */
int vs_fetcher_new(const struct vs_fetch_cfg *cfg, struct vs_fetcher **out);
/* (vs_fetcher_new also lets libevent learn the host's address families
 * now, so a process confined afterwards never needs a netlink socket.) */
void vs_fetcher_free(struct vs_fetcher *f);
struct event_base *vs_fetcher_base(const struct vs_fetcher *f);
/* STI_OK: the callback will run (never before this returns). Otherwise it
 * will not: STI_EX5U / STI_EVFY_FETCH (URL), STI_EBUSY, STI_ENOMEM. */
int vs_fetch_get(struct vs_fetcher *f, const char *url, enum vs_kind kind, vs_fetch_cb cb,
                 void *arg);
/* Drops every fetch in flight started with this cb and arg; their
 * callbacks will not run. Returns how many were dropped. */
unsigned vs_fetch_cancel(struct vs_fetcher *f, vs_fetch_cb cb, const void *arg);

/* The pieces a fetcher is built from, set up before the process confines
 * itself (the verifier, stisign verify):
 *   vs_ports_parse  "443 8443" (spaces or commas) into ports[VS_MAX_PORTS]
 *                   (STI_ECONFIG: not 1..VS_MAX_PORTS numbers in 1..65535)
 *   vs_tls_new      a TLS 1.2+ client context that verifies its peer with
 *                   the certificates of ca_file (NULL: the system's file),
 *                   all read now: nothing is read lazily after a chroot
 *   vs_dns_new      an evdns resolver with resolv.conf and the hosts file
 *                   read now */
int vs_ports_parse(const char *list, unsigned ports[VS_MAX_PORTS]);
int vs_tls_new(const char *ca_file, SSL_CTX **out);
struct evdns_base *vs_dns_new(struct event_base *base);

/* PEM "CERTIFICATE" blocks only (whitespace between and around them, no
 * PEM headers), 1..VS_CHAIN_MAX of them, each DER consumed exactly by
 * d2i_X509; STI_EVFY_FETCH_BODY otherwise. *out is the caller's. */
#define VS_CHAIN_MAX 10
int vs_body_chain(const uint8_t *body, size_t n, STACK_OF(X509) * *out);
/* One CRL: DER consumed exactly, or one PEM "X509 CRL" block with only
 * whitespace around it; STI_EVFY_FETCH_BODY otherwise. */
int vs_body_crl(const uint8_t *body, size_t n, X509_CRL **out);
/* Freshness in seconds from the header values (either may be NULL):
 * no-store or no-cache (without a field list) give 0; else s-maxage, else
 * max-age (the first valid one; quoted digits accepted; values beyond
 * 2^31 saturate there); else Expires (IMF-fixdate only) minus now, 0 when
 * past or not a date; else -1. Malformed directives are ignored. */
#define VS_TTL_SATURATE 2147483648L
long vs_ttl(const char *cache_control, const char *expires, time_t now);

#endif
