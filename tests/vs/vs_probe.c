/*
 * vs_probe.c — runs the verifier's fetcher (or its cache) against URLs and
 * prints what came back, one line each, for tests/integration/test_vs_fetch.py.
 * Built with the tests only; never installed.
 *
 *   vs_probe [--ca FILE] [--timeout-ms N] [--max-body N] [--max-head N]
 *            [--max-inflight N] [--ports 443,8443,N] [--crl] [--crl-http]
 *            [--nameserver IP:PORT]
 *            [--cache [--repeat K] [--parallel P] [--gap-ms G] [--together]
 *                     [--max-entries N] [--max-bytes N] [--ttl-min S]
 *                     [--ttl-max S] [--ttl-default S] [--neg-ttl S]] URL...
 *
 * Fetcher: every URL at once; per URL, in order:
 *   URL rc=CODE NAME from=fetch n=BYTES certs=N ttl=T ms=MS detail=...
 * (a body that is not a chain / CRL turns rc into 619, as in the cache;
 * CRLs print certs=0 revoked=N). Cache: K rounds G ms apart; in a round
 * each URL in turn (all at once with --together) gets P lookups at once:
 *   URL round=K rc=CODE NAME from=WHERE answers=P same=0|1 certs=N ttl=T ms=MS detail=...
 * (ttl: vs_cache_ttl after the round), then one line of vs_cache_stats.
 * Exit 0 when every URL got an answer line, 1 on setup failure, 2 on usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>

#include <openssl/ssl.h>

#include "sti_err.h"
#include "vs_cache.h"
#include "vs_fetch.h"

struct opts {
    const char *ca, *nameserver;
    struct vs_fetch_cfg fc;
    struct vs_cache_cfg cc;
    int crl, cache, together;
    unsigned repeat, parallel, gap_ms;
    char **urls;
    int nurls;
};

struct answer {
    int done, rc;
    enum vs_from from;
    size_t n;
    int certs, revoked;
    long ttl;
    double ms;
    char detail[VS_DETAIL_MAX];
};

static double t_start;
static int pending;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static const char *from_name(enum vs_from f)
{
    switch (f) {
    case VS_FROM_PIN:
        return "pin";
    case VS_FROM_CACHE:
        return "cache";
    case VS_FROM_FETCH:
        return "fetch";
    case VS_FROM_NEGATIVE:
        return "negative";
    }
    return "call";
}

static void settle(struct answer *a, int rc, const char *detail)
{
    a->done = 1;
    a->rc = rc;
    a->ms = now_ms() - t_start;
    snprintf(a->detail, sizeof a->detail, "%s", detail ? detail : "(null)");
    pending--;
}

static int g_crl;

static void on_fetch(void *arg, int rc, const char *detail, const uint8_t *body, size_t n, long ttl)
{
    struct answer *a = arg;
    a->from = VS_FROM_FETCH;
    a->n = n;
    a->ttl = ttl;
    a->certs = 0;
    a->revoked = -1;
    if (rc == STI_OK && !g_crl) {
        STACK_OF(X509) *sk = NULL;
        rc = vs_body_chain(body, n, &sk);
        a->certs = sk ? sk_X509_num(sk) : 0;
        sk_X509_pop_free(sk, X509_free);
        detail = rc ? "body is not 1 to 10 PEM certificates" : detail;
    } else if (rc == STI_OK) {
        X509_CRL *crl = NULL;
        rc = vs_body_crl(body, n, &crl);
        a->revoked = crl ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : -1;
        X509_CRL_free(crl);
        detail = rc ? "body is not one DER or PEM CRL" : detail;
    }
    settle(a, rc, detail);
}

static void on_chain(void *arg, int rc, const char *detail, STACK_OF(X509) * chain,
                     enum vs_from from)
{
    struct answer *a = arg;
    a->from = from;
    a->certs = chain ? sk_X509_num(chain) : 0;
    settle(a, rc, detail);
}

static void on_crl(void *arg, int rc, const char *detail, X509_CRL *crl, enum vs_from from)
{
    struct answer *a = arg;
    a->from = from;
    a->certs = 0;
    a->revoked = crl ? sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) : -1;
    settle(a, rc, detail);
}

static void run_until_answered(struct event_base *base)
{
    /* 1 from event_base_loop: nothing left that could answer. */
    while (pending > 0 && event_base_loop(base, EVLOOP_ONCE) == 0)
        ;
}

static int usage(void)
{
    fprintf(stderr, "usage: vs_probe [--ca FILE] [--timeout-ms N] [--max-body N] [--max-head N]"
                    " [--max-inflight N] [--ports P,P] [--crl] [--crl-http]"
                    " [--nameserver IP:PORT] [--cache [--repeat K] [--parallel P] [--gap-ms G]"
                    " [--together] [--max-entries N] [--max-bytes N] [--ttl-min S]"
                    " [--ttl-max S] [--ttl-default S] [--neg-ttl S]] URL...\n");
    return 2;
}

static int num(const char *s, unsigned long *v)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return 0;
    *v = strtoul(s, &end, 10);
    return *end == '\0';
}

static int parse(int argc, char **argv, struct opts *o)
{
    unsigned long v;
    memset(o, 0, sizeof *o);
    o->repeat = o->parallel = 1;
    int i;
    for (i = 1; i < argc && strncmp(argv[i], "--", 2) == 0; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--crl") == 0) {
            o->crl = 1;
            continue;
        }
        if (strcmp(a, "--crl-http") == 0) {
            o->fc.crl_http = 1;
            continue;
        }
        if (strcmp(a, "--cache") == 0) {
            o->cache = 1;
            continue;
        }
        if (strcmp(a, "--together") == 0) {
            o->together = 1;
            continue;
        }
        if (val == NULL)
            return 0;
        i++;
        if (strcmp(a, "--ca") == 0) {
            o->ca = val;
        } else if (strcmp(a, "--nameserver") == 0) {
            o->nameserver = val;
        } else if (strcmp(a, "--ports") == 0) {
            char buf[128];
            snprintf(buf, sizeof buf, "%s", val);
            int k = 0;
            for (char *save = NULL, *t = strtok_r(buf, ",", &save); t != NULL;
                 t = strtok_r(NULL, ",", &save)) {
                if (k == VS_MAX_PORTS || !num(t, &v) || v == 0 || v > 65535)
                    return 0;
                o->fc.ports[k++] = (unsigned)v;
            }
        } else if (!num(val, &v)) {
            return 0;
        } else if (strcmp(a, "--timeout-ms") == 0) {
            o->fc.timeout_ms = (unsigned)v;
        } else if (strcmp(a, "--max-body") == 0) {
            o->fc.max_body = o->fc.max_crl_body = v;
        } else if (strcmp(a, "--max-head") == 0) {
            o->fc.max_head = v;
        } else if (strcmp(a, "--max-inflight") == 0) {
            o->fc.max_inflight = (unsigned)v;
        } else if (strcmp(a, "--repeat") == 0 && v > 0) {
            o->repeat = (unsigned)v;
        } else if (strcmp(a, "--parallel") == 0 && v > 0 && v <= 1000) {
            o->parallel = (unsigned)v;
        } else if (strcmp(a, "--gap-ms") == 0) {
            o->gap_ms = (unsigned)v;
        } else if (strcmp(a, "--max-entries") == 0) {
            o->cc.max_entries = v;
        } else if (strcmp(a, "--max-bytes") == 0) {
            o->cc.max_bytes = v;
        } else if (strcmp(a, "--ttl-min") == 0) {
            o->cc.ttl_min = (unsigned)v;
        } else if (strcmp(a, "--ttl-max") == 0) {
            o->cc.ttl_max = (unsigned)v;
        } else if (strcmp(a, "--ttl-default") == 0) {
            o->cc.ttl_default = (unsigned)v;
        } else if (strcmp(a, "--neg-ttl") == 0) {
            o->cc.neg_ttl = (unsigned)v;
        } else {
            return 0;
        }
    }
    o->urls = argv + i;
    o->nurls = argc - i;
    return o->nurls > 0;
}

static void print_answer(const char *url, const struct answer *a, const char *prefix)
{
    printf("%s %src=%d %s from=%s n=%zu certs=%d", url, prefix, a->rc, sti_errname(a->rc),
           a->done ? from_name(a->from) : "call", a->n, a->certs);
    if (a->revoked >= 0)
        printf(" revoked=%d", a->revoked);
    printf(" ttl=%ld ms=%.0f detail=%s\n", a->ttl, a->ms, a->detail);
}

static void run_fetcher(const struct opts *o, struct vs_fetcher *f, struct event_base *base)
{
    struct answer *a = calloc((size_t)o->nurls, sizeof *a);
    if (a == NULL)
        return;
    t_start = now_ms();
    for (int i = 0; i < o->nurls; i++) {
        a[i].revoked = -1;
        a[i].ttl = -1;
        pending++;
        int rc = vs_fetch_get(f, o->urls[i], o->crl ? VS_CRL : VS_CHAIN, on_fetch, &a[i]);
        if (rc != STI_OK) {
            settle(&a[i], rc, "refused by vs_fetch_get");
            a[i].done = 0;
        }
    }
    run_until_answered(base);
    for (int i = 0; i < o->nurls; i++)
        print_answer(o->urls[i], &a[i], "");
    free(a);
}

/* P lookups of url, started in one go. */
static void lookup_all(const struct opts *o, struct vs_cache *c, const char *url, struct answer *a)
{
    for (unsigned p = 0; p < o->parallel; p++) {
        memset(&a[p], 0, sizeof a[p]);
        a[p].revoked = -1;
        pending++;
        int rc =
            o->crl ? vs_cache_crl(c, url, on_crl, &a[p]) : vs_cache_chain(c, url, on_chain, &a[p]);
        if (rc != STI_OK) {
            settle(&a[p], rc, "refused by the cache call");
            a[p].done = 0;
        }
    }
}

static void report_round(const struct opts *o, struct vs_cache *c, const char *url, unsigned round,
                         struct answer *a)
{
    char prefix[32];
    int same = 1;
    for (unsigned p = 1; p < o->parallel; p++)
        same = same && a[p].rc == a[0].rc && a[p].from == a[0].from && a[p].done == a[0].done;
    a[0].ttl = vs_cache_ttl(c, o->crl ? VS_CRL : VS_CHAIN, url);
    snprintf(prefix, sizeof prefix, "round=%u ", round);
    printf("%s %src=%d %s from=%s answers=%u same=%d certs=%d", url, prefix, a[0].rc,
           sti_errname(a[0].rc), a[0].done ? from_name(a[0].from) : "call", o->parallel, same,
           a[0].certs);
    if (a[0].revoked >= 0)
        printf(" revoked=%d", a[0].revoked);
    printf(" ttl=%ld ms=%.0f detail=%s\n", a[0].ttl, a[0].ms, a[0].detail);
}

static void run_cache(const struct opts *o, struct vs_cache *c, struct event_base *base)
{
    size_t per = o->parallel;
    struct answer *a = calloc((size_t)o->nurls * per, sizeof *a);
    if (a == NULL)
        return;
    for (unsigned r = 1; r <= o->repeat; r++) {
        if (r > 1 && o->gap_ms > 0) {
            struct timespec ts = {(time_t)(o->gap_ms / 1000), (long)(o->gap_ms % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
        t_start = now_ms();
        for (int i = 0; i < o->nurls; i++) {
            lookup_all(o, c, o->urls[i], a + (size_t)i * per);
            if (!o->together) {
                run_until_answered(base);
                report_round(o, c, o->urls[i], r, a + (size_t)i * per);
                t_start = now_ms();
            }
        }
        if (o->together) {
            run_until_answered(base);
            for (int i = 0; i < o->nurls; i++)
                report_round(o, c, o->urls[i], r, a + (size_t)i * per);
        }
    }
    struct vs_cache_stats st;
    vs_cache_stats(c, &st);
    printf("stats entries=%zu bytes=%zu pinned=%zu hits=%llu misses=%llu fetches=%llu "
           "negative_hits=%llu evictions=%llu coalesced=%llu\n",
           st.entries, st.bytes, st.pinned, st.hits, st.misses, st.fetches, st.negative_hits,
           st.evictions, st.coalesced);
    free(a);
}

int main(int argc, char **argv)
{
    struct opts o;
    struct event_base *base = NULL;
    struct evdns_base *dns = NULL;
    SSL_CTX *tls = NULL;
    struct vs_fetcher *f = NULL;
    struct vs_cache *c = NULL;
    int rc = 1;

    if (!parse(argc, argv, &o))
        return usage();
    g_crl = o.crl;
    base = event_base_new();
    if (base == NULL)
        goto out;
    /* The resolver must not keep the loop alive when idle: the probe ends
     * when nothing is left to wait for. */
    if (o.nameserver == NULL)
        dns = evdns_base_new(base,
                             EVDNS_BASE_INITIALIZE_NAMESERVERS | EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (dns == NULL) {
        dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
        if (dns == NULL || evdns_base_load_hosts(dns, NULL) != 0 ||
            (o.nameserver != NULL && evdns_base_nameserver_ip_add(dns, o.nameserver) != 0)) {
            fprintf(stderr, "vs_probe: resolver setup failed\n");
            goto out;
        }
    }
    tls = SSL_CTX_new(TLS_client_method());
    if (tls == NULL || SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) != 1 ||
        (o.ca ? SSL_CTX_load_verify_file(tls, o.ca) : SSL_CTX_set_default_verify_paths(tls)) != 1) {
        fprintf(stderr, "vs_probe: TLS trust setup failed\n");
        goto out;
    }
    o.fc.base = base;
    o.fc.dns = dns;
    o.fc.tls = tls;
    if (vs_fetcher_new(&o.fc, &f) != STI_OK)
        goto out;
    if (o.cache) {
        int crc = vs_cache_new(&o.cc, f, &c);
        if (crc != STI_OK) {
            fprintf(stderr, "vs_probe: cache: %s\n", sti_strerror(crc));
            goto out;
        }
        run_cache(&o, c, base);
    } else {
        run_fetcher(&o, f, base);
    }
    rc = 0;
out:
    fflush(stdout);
    vs_cache_free(c);
    vs_fetcher_free(f);
    if (base != NULL)
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (dns != NULL)
        evdns_base_free(dns, 1);
    if (base != NULL) {
        event_base_loop(base, EVLOOP_NONBLOCK);
        event_base_free(base);
    }
    SSL_CTX_free(tls);
    return rc;
}
