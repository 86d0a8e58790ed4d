/*
 * pool.h — the HSM worker pool as the front's I/O loop sees it.
 *
 * Jobs (a tag, a key index, a digest) go into one bounded queue; after each
 * loop wake-up the queue is flushed to workers in batches, least-loaded
 * first, each worker holding at most `window` jobs. Workers answer in the
 * order they were given jobs. Every job is answered exactly once through
 * the result callback: with a signature, with the worker's HSM error, or —
 * when its worker died — by a retry on another worker, and if that worker
 * dies too, with STI_EHSM_UNAVAILABLE. A dead worker is replaced after a
 * backoff. With no worker ready, submit fails at once (never an unbounded
 * queue behind an absent token).
 *
 * Workers are processes that the parent starts (the front holds no PIN and
 * never loads the token): the pool asks through cfg.spawn, the worker's
 * channel comes back through pool_attach, already configured by the
 * parent; the pool only ever reads READY and RESULT messages from it.
 * cfg.kill asks the parent to end a worker that the pool gave up on. With
 * `affinity`, and at least as many CPUs allowed to the process as workers,
 * worker i (and its replacements) is bound to the i-th of them; with
 * `sched_other` workers run SCHED_OTHER whatever the loop thread runs at.
 * Runs on one event_base.
 */
#ifndef STI_POOL_H
#define STI_POOL_H

#include <stdint.h>
#include <sys/types.h>

#include "workproto.h"

struct event_base;
struct pool;

struct pool_cfg {
    unsigned nworkers;
    unsigned window;    /* jobs in flight per worker */
    unsigned max_queue; /* jobs waiting for a worker */
    int affinity;       /* bind worker i to the i-th CPU when there are enough */
    int sched_other;    /* workers SCHED_OTHER, whatever the loop thread runs at */
    uint32_t id;        /* this pool, as spawn requests and pool_attach name it */
    uint32_t gen;       /* the configuration whose keys its workers load */
    /* STI_OK: a worker for slot index will come with pool_attach. */
    int (*spawn)(void *arg, uint32_t pool, uint32_t gen, unsigned index, int cpu, int sched_other);
    void (*kill)(void *arg, pid_t pid);
    void *arg;
};

typedef void (*pool_result_fn)(void *arg, uint32_t tag, int status, const uint8_t *sig);
/* Called when a worker becomes ready or goes down. */
typedef void (*pool_state_fn)(void *arg);

struct pool_stats {
    unsigned workers, ready, in_flight, queued;
    unsigned started; /* workers that have been ready or failed at least once */
    uint64_t respawns, hsm_errors, worker_deaths;
    uint64_t selftest_failures; /* signatures the sampled verify withheld (STI_EHSM_SELFTEST) */
    int last_error;             /* last HSM error code, 0 if none since start */
    int last_open_error;        /* why the last worker failed to open its session */
    int login_refused;          /* the token refused the PIN: no worker is restarted */
};

int pool_start(struct event_base *base, const struct pool_cfg *cfg, pool_result_fn on_result,
               pool_state_fn on_state, void *arg, struct pool **out);
void pool_free(struct pool *p);
/* The answer to a spawn: the worker's channel (the pool owns fd from now)
 * and pid, or status != 0 when none could be started. STI_EINVAL when the
 * slot asked for none (the caller closes fd and has pid killed). */
int pool_attach(struct pool *p, unsigned index, int fd, pid_t pid, int status);
uint32_t pool_id(const struct pool *p);
/* STI_OK: queued, the callback will answer. Otherwise nothing was queued:
 * STI_EHSM_UNAVAILABLE (no worker ready) or STI_EBUSY (queue full). */
int pool_submit(struct pool *p, uint32_t tag, uint16_t key, const uint8_t digest[32]);
/* Public point of key k as reported by a ready worker; STI_EHSM_KEY when
 * the worker could not find it, STI_EHSM_UNAVAILABLE when none is ready. */
int pool_key_point(const struct pool *p, size_t k, uint8_t point[HSM_EC_POINT_LEN]);
void pool_stats(const struct pool *p, struct pool_stats *st);

#endif
