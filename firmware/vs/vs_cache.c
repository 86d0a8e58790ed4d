/*
 * vs_cache.c — x5u chains and CRLs by URL, in front of the fetcher (see
 * vs_cache.h for the rules).
 *
 * Entries sit in an array sorted by (kind, URL): lookups are a binary
 * search whose cost an attacker choosing URLs cannot inflate, and the
 * bound on entries keeps inserts cheap. Unpinned settled entries are also
 * on an LRU list, the only place eviction looks, so pins and entries being
 * fetched are never candidates.
 *
 * An entry is reference counted: the table holds one reference, the fetch
 * in flight one, and every answer queued for delivery one. An entry that
 * leaves the table (evicted, expired, replaced by a pin) therefore lives
 * on until its last answer is delivered, and its data never changes once
 * settled: an answer always reports the state it was queued with.
 *
 * Answers go through one event: lookups and fetch completions queue them,
 * the event delivers them, so no callback runs inside a vs_cache_* call.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "sti_err.h"
#include "vs_cache.h"

#define VS_DEF_MAX_ENTRIES 1024
#define VS_DEF_MAX_BYTES (16u << 20)
#define VS_DEF_TTL_MIN 60
#define VS_DEF_TTL_MAX 86400
#define VS_DEF_TTL_DEFAULT 3600
#define VS_DEF_NEG_TTL 30

enum vs_state { VS_ST_FETCHING, VS_ST_OK, VS_ST_NEG, VS_ST_PIN };

struct vs_cache;

struct vs_waiter {
    struct vs_waiter *next;
    vs_chain_cb chain_cb;
    vs_crl_cb crl_cb;
    void *arg;
    struct vs_entry *e; /* referenced once queued for delivery */
    enum vs_from from;
};

struct vs_entry {
    struct vs_cache *c;
    struct vs_entry *lru_prev, *lru_next; /* settled, unpinned, in the table */
    struct vs_entry *fl_prev, *fl_next;   /* fetch in flight */
    unsigned refs;
    int in_table, on_lru, fetching;
    enum vs_kind kind;
    enum vs_state state;
    int rc;
    char detail[VS_DETAIL_MAX];
    STACK_OF(X509) * chain;
    X509_CRL *crl;
    size_t bytes;
    time_t expires; /* monotonic seconds */
    struct vs_waiter *waiters, **wtail;
    char url[];
};

struct vs_cache {
    struct vs_cache_cfg cfg;
    struct vs_fetcher *f;
    struct event *answer;
    struct vs_entry **tab;
    size_t n, cap, unpinned, bytes, pinned;
    struct vs_entry *lru_head, *lru_tail; /* head: most recently used */
    struct vs_entry *flight;
    struct vs_waiter *ready, **rtail; /* queued answers */
    struct vs_waiter *running;        /* being delivered */
    int delivering, free_pending;
    struct vs_cache_stats st;
};

static time_t vs_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* ------------------------------------------------------------------ */
/* Entries */

static void vs_entry_unref(struct vs_entry *e)
{
    if (--e->refs > 0)
        return;
    sk_X509_pop_free(e->chain, X509_free);
    X509_CRL_free(e->crl);
    free(e);
}

static struct vs_entry *vs_entry_new(struct vs_cache *c, enum vs_kind kind, const char *url)
{
    size_t n = strlen(url);
    struct vs_entry *e = calloc(1, sizeof *e + n + 1);
    if (e == NULL)
        return NULL;
    e->c = c;
    e->kind = kind;
    memcpy(e->url, url, n + 1);
    e->wtail = &e->waiters;
    return e;
}

static int vs_cmp(enum vs_kind kind, const char *url, const struct vs_entry *e)
{
    if (kind != e->kind)
        return kind < e->kind ? -1 : 1;
    return strcmp(url, e->url);
}

/* Index of (kind, url), or where it would go with *found = 0. */
static size_t vs_find(const struct vs_cache *c, enum vs_kind kind, const char *url, int *found)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int d = vs_cmp(kind, url, c->tab[mid]);
        if (d == 0) {
            *found = 1;
            return mid;
        }
        if (d < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    *found = 0;
    return lo;
}

static void vs_lru_unlink(struct vs_cache *c, struct vs_entry *e)
{
    if (!e->on_lru)
        return;
    if (e->lru_prev != NULL)
        e->lru_prev->lru_next = e->lru_next;
    else
        c->lru_head = e->lru_next;
    if (e->lru_next != NULL)
        e->lru_next->lru_prev = e->lru_prev;
    else
        c->lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
    e->on_lru = 0;
}

static void vs_lru_front(struct vs_cache *c, struct vs_entry *e)
{
    vs_lru_unlink(c, e);
    e->lru_next = c->lru_head;
    if (c->lru_head != NULL)
        c->lru_head->lru_prev = e;
    c->lru_head = e;
    if (c->lru_tail == NULL)
        c->lru_tail = e;
    e->on_lru = 1;
}

static int vs_table_insert(struct vs_cache *c, struct vs_entry *e)
{
    int found;
    size_t at = vs_find(c, e->kind, e->url, &found);
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct vs_entry **t = realloc(c->tab, cap * sizeof *t);
        if (t == NULL)
            return STI_ENOMEM;
        c->tab = t;
        c->cap = cap;
    }
    memmove(c->tab + at + 1, c->tab + at, (c->n - at) * sizeof *c->tab);
    c->tab[at] = e;
    c->n++;
    e->in_table = 1;
    e->refs++;
    if (e->state == VS_ST_PIN)
        c->pinned++;
    else
        c->unpinned++;
    return STI_OK;
}

/* Takes e out of the table (and the LRU); queued answers keep it alive. */
static void vs_table_remove(struct vs_cache *c, struct vs_entry *e)
{
    int found;
    size_t at = vs_find(c, e->kind, e->url, &found);
    if (!e->in_table || !found || c->tab[at] != e)
        return;
    memmove(c->tab + at, c->tab + at + 1, (c->n - at - 1) * sizeof *c->tab);
    c->n--;
    e->in_table = 0;
    vs_lru_unlink(c, e);
    if (e->state == VS_ST_PIN)
        c->pinned--;
    else
        c->unpinned--;
    c->bytes -= e->bytes;
    vs_entry_unref(e);
}

static void vs_evict_tail(struct vs_cache *c)
{
    c->st.evictions++;
    vs_table_remove(c, c->lru_tail);
}

/* ------------------------------------------------------------------ */
/* Answers */

static void vs_answer_queue(struct vs_cache *c, struct vs_waiter *w, struct vs_entry *e,
                            enum vs_from from)
{
    w->e = e;
    e->refs++;
    w->from = from;
    w->next = NULL;
    *c->rtail = w;
    c->rtail = &w->next;
    event_active(c->answer, 0, 0);
}

static void vs_answer_drop(struct vs_waiter *w)
{
    while (w != NULL) {
        struct vs_waiter *next = w->next;
        if (w->e != NULL)
            vs_entry_unref(w->e);
        free(w);
        w = next;
    }
}

static void vs_cache_destroy(struct vs_cache *c);

static void vs_answer_run(evutil_socket_t fd, short what, void *arg)
{
    struct vs_cache *c = arg;
    struct vs_waiter *w;
    (void)fd;
    (void)what;
    /* Answers queued by these callbacks wait for the next turn, so a
     * callback that looks up again cannot keep this loop going. */
    c->running = c->ready;
    c->ready = NULL;
    c->rtail = &c->ready;
    c->delivering = 1;
    while ((w = c->running) != NULL && !c->free_pending) {
        struct vs_entry *e = w->e;
        int ok = e->state == VS_ST_OK || e->state == VS_ST_PIN;
        const char *detail = ok ? "" : e->detail;
        c->running = w->next;
        if (e->kind == VS_CHAIN)
            w->chain_cb(w->arg, ok ? STI_OK : e->rc, detail, ok ? e->chain : NULL, w->from);
        else
            w->crl_cb(w->arg, ok ? STI_OK : e->rc, detail, ok ? e->crl : NULL, w->from);
        vs_entry_unref(e);
        free(w);
    }
    c->delivering = 0;
    if (c->free_pending)
        vs_cache_destroy(c);
}

/* ------------------------------------------------------------------ */
/* Fetch completion */

static long vs_clamp(const struct vs_cache_cfg *cfg, long ttl)
{
    if (ttl < 0)
        ttl = (long)cfg->ttl_default;
    if (ttl < (long)cfg->ttl_min)
        ttl = (long)cfg->ttl_min;
    if (ttl > (long)cfg->ttl_max)
        ttl = (long)cfg->ttl_max;
    return ttl;
}

static void vs_flight_unlink(struct vs_cache *c, struct vs_entry *e)
{
    if (e->fl_prev != NULL)
        e->fl_prev->fl_next = e->fl_next;
    else
        c->flight = e->fl_next;
    if (e->fl_next != NULL)
        e->fl_next->fl_prev = e->fl_prev;
    e->fl_prev = e->fl_next = NULL;
    e->fetching = 0;
}

static void vs_cache_fetched(void *arg, int rc, const char *detail, const uint8_t *body, size_t n,
                             long ttl_s)
{
    struct vs_entry *e = arg;
    struct vs_cache *c = e->c;
    time_t now = vs_now();

    vs_flight_unlink(c, e);
    if (rc == STI_OK) {
        rc =
            e->kind == VS_CHAIN ? vs_body_chain(body, n, &e->chain) : vs_body_crl(body, n, &e->crl);
        if (rc == STI_ENOMEM) {
            detail = "out of memory parsing the body";
        } else if (rc != STI_OK) {
            rc = STI_EVFY_FETCH_BODY;
            detail = e->kind == VS_CHAIN ? "body is not 1 to 10 PEM certificates"
                                         : "body is not one DER or PEM CRL";
        }
    }
    if (rc == STI_OK) {
        e->state = VS_ST_OK;
        e->bytes = n;
        e->expires = now + vs_clamp(&c->cfg, ttl_s);
    } else {
        e->state = VS_ST_NEG;
        e->rc = rc;
        snprintf(e->detail, sizeof e->detail, "%s", detail);
        e->expires = now + (time_t)c->cfg.neg_ttl;
    }
    /* Everyone who waited gets this outcome, whatever happens to the entry. */
    struct vs_waiter *w = e->waiters;
    e->waiters = NULL;
    e->wtail = &e->waiters;
    while (w != NULL) {
        struct vs_waiter *next = w->next;
        vs_answer_queue(c, w, e, VS_FROM_FETCH);
        w = next;
    }
    if (e->in_table) {
        c->bytes += e->bytes;
        vs_lru_front(c, e);
        /* Oldest first, possibly this entry itself if it alone is too big. */
        while (c->bytes > c->cfg.max_bytes && c->lru_tail != NULL)
            vs_evict_tail(c);
    }
    vs_entry_unref(e); /* the fetch's reference */
}

/* ------------------------------------------------------------------ */
/* Lookups */

static int vs_lookup(struct vs_cache *c, enum vs_kind kind, const char *url, vs_chain_cb ccb,
                     vs_crl_cb rcb, void *arg)
{
    struct vs_waiter *w = NULL;
    struct vs_entry *e = NULL;
    int found, rc;

    STI_CHECK(c != NULL && url != NULL && (ccb != NULL || rcb != NULL) && !c->free_pending,
              STI_EINVAL);
    w = calloc(1, sizeof *w);
    STI_CHECK(w != NULL, STI_ENOMEM);
    w->chain_cb = ccb;
    w->crl_cb = rcb;
    w->arg = arg;

    size_t at = vs_find(c, kind, url, &found);
    if (found) {
        e = c->tab[at];
        if ((e->state == VS_ST_OK || e->state == VS_ST_NEG) && vs_now() >= e->expires) {
            vs_table_remove(c, e); /* stale: fetch again below */
            e = NULL;
        }
    }
    if (e != NULL) {
        switch (e->state) {
        case VS_ST_PIN:
            c->st.hits++;
            vs_answer_queue(c, w, e, VS_FROM_PIN);
            break;
        case VS_ST_OK:
            c->st.hits++;
            vs_lru_front(c, e);
            vs_answer_queue(c, w, e, VS_FROM_CACHE);
            break;
        case VS_ST_NEG:
            c->st.negative_hits++;
            vs_lru_front(c, e);
            vs_answer_queue(c, w, e, VS_FROM_NEGATIVE);
            break;
        case VS_ST_FETCHING:
            c->st.coalesced++;
            *e->wtail = w;
            e->wtail = &w->next;
            break;
        }
        return STI_OK;
    }

    c->st.misses++;
    STI_CHECK(strnlen(url, VS_URL_MAX) < VS_URL_MAX, kind == VS_CRL ? STI_EVFY_FETCH : STI_EX5U);
    while (c->unpinned >= c->cfg.max_entries && c->lru_tail != NULL)
        vs_evict_tail(c);
    /* Every slot is a fetch in flight: refuse rather than grow. */
    STI_CHECK(c->unpinned < c->cfg.max_entries, STI_EBUSY);
    e = vs_entry_new(c, kind, url);
    STI_CHECK(e != NULL, STI_ENOMEM);
    e->refs = 1; /* the fetch's, taken back below if it does not start */
    e->state = VS_ST_FETCHING;
    STI_TRY(vs_table_insert(c, e));
    rc = vs_fetch_get(c->f, url, kind, vs_cache_fetched, e);
    if (rc != STI_OK) {
        vs_table_remove(c, e);
        goto out;
    }
    c->st.fetches++;
    e->fetching = 1;
    e->fl_next = c->flight;
    if (c->flight != NULL)
        c->flight->fl_prev = e;
    c->flight = e;
    e->waiters = w;
    e->wtail = &w->next;
    return STI_OK;
out:
    if (e != NULL)
        vs_entry_unref(e);
    free(w);
    return rc;
}

int vs_cache_chain(struct vs_cache *c, const char *url, vs_chain_cb cb, void *arg)
{
    if (cb == NULL)
        return STI_EINVAL;
    return vs_lookup(c, VS_CHAIN, url, cb, NULL, arg);
}

int vs_cache_crl(struct vs_cache *c, const char *url, vs_crl_cb cb, void *arg)
{
    if (cb == NULL)
        return STI_EINVAL;
    return vs_lookup(c, VS_CRL, url, NULL, cb, arg);
}

long vs_cache_ttl(const struct vs_cache *c, enum vs_kind kind, const char *url)
{
    int found;
    if (c == NULL || url == NULL)
        return -1;
    size_t at = vs_find(c, kind, url, &found);
    if (!found)
        return -1;
    const struct vs_entry *e = c->tab[at];
    if (e->state == VS_ST_PIN)
        return LONG_MAX;
    if (e->state == VS_ST_FETCHING)
        return -1;
    time_t now = vs_now();
    return e->expires > now ? (long)(e->expires - now) : 0;
}

/* ------------------------------------------------------------------ */
/* Pins */

/* Puts a pinned entry in place of whatever the table holds for its key.
 * A replaced entry in flight keeps its fetch and its waiters. */
static int vs_pin(struct vs_cache *c, struct vs_entry *e)
{
    int found;
    size_t at = vs_find(c, e->kind, e->url, &found);
    if (found)
        vs_table_remove(c, c->tab[at]);
    return vs_table_insert(c, e);
}

int vs_cache_pin(struct vs_cache *c, const char *url, STACK_OF(X509) * chain)
{
    struct vs_entry *e = NULL;
    int rc;
    STI_CHECK(c != NULL && url != NULL && chain != NULL && sk_X509_num(chain) > 0 &&
                  !c->free_pending,
              STI_EINVAL);
    STI_CHECK(strnlen(url, VS_URL_MAX) < VS_URL_MAX, STI_EX5U);
    e = vs_entry_new(c, VS_CHAIN, url);
    STI_CHECK(e != NULL, STI_ENOMEM);
    e->refs = 1;
    e->state = VS_ST_PIN;
    e->chain = X509_chain_up_ref(chain);
    STI_CHECK(e->chain != NULL, STI_ENOMEM);
    rc = vs_pin(c, e);
out:
    if (e != NULL)
        vs_entry_unref(e);
    return rc;
}

int vs_cache_pin_crl(struct vs_cache *c, const char *url, X509_CRL *crl)
{
    struct vs_entry *e = NULL;
    int rc;
    STI_CHECK(c != NULL && url != NULL && crl != NULL && !c->free_pending, STI_EINVAL);
    STI_CHECK(strnlen(url, VS_URL_MAX) < VS_URL_MAX, STI_EVFY_FETCH);
    e = vs_entry_new(c, VS_CRL, url);
    STI_CHECK(e != NULL, STI_ENOMEM);
    e->refs = 1;
    e->state = VS_ST_PIN;
    STI_CHECK(X509_CRL_up_ref(crl) == 1, STI_EINTERNAL);
    e->crl = crl;
    rc = vs_pin(c, e);
out:
    if (e != NULL)
        vs_entry_unref(e);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Life cycle */

int vs_cache_new(const struct vs_cache_cfg *cfg, struct vs_fetcher *f, struct vs_cache **out)
{
    struct vs_cache *c = NULL;
    int rc;
    STI_CHECK(out != NULL, STI_EINVAL);
    *out = NULL;
    STI_CHECK(cfg != NULL && f != NULL, STI_EINVAL);
    c = calloc(1, sizeof *c);
    STI_CHECK(c != NULL, STI_ENOMEM);
    c->cfg = *cfg;
    c->f = f;
    c->rtail = &c->ready;
    if (c->cfg.max_entries == 0)
        c->cfg.max_entries = VS_DEF_MAX_ENTRIES;
    if (c->cfg.max_bytes == 0)
        c->cfg.max_bytes = VS_DEF_MAX_BYTES;
    if (c->cfg.ttl_min == 0)
        c->cfg.ttl_min = VS_DEF_TTL_MIN;
    if (c->cfg.ttl_max == 0)
        c->cfg.ttl_max = VS_DEF_TTL_MAX;
    if (c->cfg.ttl_default == 0)
        c->cfg.ttl_default = VS_DEF_TTL_DEFAULT;
    if (c->cfg.neg_ttl == 0)
        c->cfg.neg_ttl = VS_DEF_NEG_TTL;
    STI_CHECK(c->cfg.ttl_min <= c->cfg.ttl_max, STI_ECONFIG);
    c->answer = event_new(vs_fetcher_base(f), -1, 0, vs_answer_run, c);
    STI_CHECK(c->answer != NULL, STI_ENOMEM);
    *out = c;
    c = NULL;
    rc = STI_OK;
out:
    free(c);
    return rc;
}

static void vs_cache_destroy(struct vs_cache *c)
{
    /* Fetches first: their entries are referenced by nothing else once
     * their waiters are dropped. */
    while (c->flight != NULL) {
        struct vs_entry *e = c->flight;
        vs_flight_unlink(c, e);
        vs_fetch_cancel(c->f, vs_cache_fetched, e);
        vs_answer_drop(e->waiters);
        e->waiters = NULL;
        vs_entry_unref(e);
    }
    vs_answer_drop(c->running);
    vs_answer_drop(c->ready);
    while (c->n > 0)
        vs_table_remove(c, c->tab[c->n - 1]);
    free(c->tab);
    event_free(c->answer);
    free(c);
}

void vs_cache_free(struct vs_cache *c)
{
    if (c == NULL)
        return;
    if (c->delivering) {
        c->free_pending = 1; /* vs_answer_run finishes the job */
        return;
    }
    vs_cache_destroy(c);
}

void vs_cache_stats(const struct vs_cache *c, struct vs_cache_stats *st)
{
    if (st == NULL)
        return;
    memset(st, 0, sizeof *st);
    if (c == NULL)
        return;
    *st = c->st;
    st->entries = c->n;
    st->bytes = c->bytes;
    st->pinned = c->pinned;
}
