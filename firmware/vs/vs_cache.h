/*
 * vs_cache.h — the verifier's caches of x5u chains and CRLs, keyed by URL.
 *
 * A lookup answers from a pinned chain (the operator's, never expires),
 * else a fresh entry, else a fresh negative entry (a recent failure,
 * answered with the same code without touching the network), else starts
 * one fetch: every lookup of the same URL while it runs waits on it
 * (single flight). Freshness: the answer's own (vs_ttl) clamped to
 * [ttl_min, ttl_max], ttl_default when it says nothing; failures are kept
 * neg_ttl seconds. A body that does not parse (vs_body_chain,
 * vs_body_crl) is a failure, STI_EVFY_FETCH_BODY. Bounded: at most
 * max_entries unpinned entries and max_bytes of the bodies they were
 * parsed from (the parsed chain or CRL is what is kept and served); the
 * least recently used unpinned entry goes first. An entry that is being
 * fetched is never evicted: with every slot in flight a new URL gets
 * STI_EBUSY. Pins count in neither bound. Chains and CRLs are separate
 * entries even under the same URL. Expiry is checked on lookup: no timers.
 *
 * Conventions: event-loop thread only. Callbacks run exactly once, never
 * inside the call that asked (a hit is answered from an event, so callers
 * see one order). Chains and CRLs handed to callbacks are borrowed for the
 * call: take a reference (X509_up_ref / sk_X509_dup + up_ref,
 * X509_CRL_up_ref) to keep them. The fetcher is borrowed: free the cache
 * before it. vs_cache_free drops waiting callbacks without running them and
 * cancels the cache's fetches; called from a callback, it takes effect
 * when that callback returns.
 */
#ifndef STI_VS_CACHE_H
#define STI_VS_CACHE_H

#include <stddef.h>

#include <openssl/x509.h>

#include "vs_fetch.h"

struct vs_cache;

/* Zero selects the default. */
struct vs_cache_cfg {
    size_t max_entries;   /* unpinned, default 1024 */
    size_t max_bytes;     /* bodies kept, default 16 MiB */
    unsigned ttl_min;     /* seconds, default 60 */
    unsigned ttl_max;     /* default 86400 */
    unsigned ttl_default; /* when the answer says nothing, default 3600 */
    unsigned neg_ttl;     /* failures, default 30 */
};

/* Where an answer came from: a pin, a fresh entry, the fetch this lookup
 * started or joined, a fresh negative entry (rc and detail of the failure). */
enum vs_from { VS_FROM_PIN = 1, VS_FROM_CACHE = 2, VS_FROM_FETCH = 3, VS_FROM_NEGATIVE = 4 };

typedef void (*vs_chain_cb)(void *arg, int rc, const char *detail, STACK_OF(X509) * chain,
                            enum vs_from from);
typedef void (*vs_crl_cb)(void *arg, int rc, const char *detail, X509_CRL *crl, enum vs_from from);

int vs_cache_new(const struct vs_cache_cfg *cfg, struct vs_fetcher *f, struct vs_cache **out);
void vs_cache_free(struct vs_cache *c);
/* Pins chain (leaf first; the cache takes its own references) for url.
 * A later pin of the same url replaces it. */
int vs_cache_pin(struct vs_cache *c, const char *url, STACK_OF(X509) * chain);
/* Pins a CRL for url (the appliance's own Delegate CA CRL: no fetch). */
int vs_cache_pin_crl(struct vs_cache *c, const char *url, X509_CRL *crl);
/* STI_OK: cb will run. Else (bad URL, STI_EBUSY, STI_ENOMEM) it will not. */
int vs_cache_chain(struct vs_cache *c, const char *url, vs_chain_cb cb, void *arg);
int vs_cache_crl(struct vs_cache *c, const char *url, vs_crl_cb cb, void *arg);
/* Seconds the entry for url stays fresh: LONG_MAX pinned, -1 none or still
 * being fetched, else what is left (0 expired, negative entries too). */
long vs_cache_ttl(const struct vs_cache *c, enum vs_kind kind, const char *url);

/* entries: all in the table, pins included; bytes: bodies of unpinned
 * entries; hits: answered from a pin or a fresh entry; negative_hits: from
 * a negative entry; coalesced: joined a fetch in flight; misses: lookups
 * that found nothing usable and tried a fetch; fetches: fetches the
 * fetcher accepted (misses less those refused: bad URL, busy); evictions:
 * entries pushed out by the bounds (expiry is not counted). */
struct vs_cache_stats {
    size_t entries, bytes, pinned;
    unsigned long long hits, misses, fetches, negative_hits, evictions, coalesced;
};
void vs_cache_stats(const struct vs_cache *c, struct vs_cache_stats *st);

#endif
