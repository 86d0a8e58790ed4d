/* pool.c — the HSM worker pool on the I/O loop. */
#define _GNU_SOURCE /* recvmmsg, SCHED_* */
#include "pool.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "sti_err.h"

#define POOL_BACKOFF_MIN_MS 50
#define POOL_RECV_MSGS 16 /* worker messages taken per recvmmsg */
#define POOL_MSG_MAX (WP_RESULT_MAX > WP_READY_MAX ? WP_RESULT_MAX : WP_READY_MAX)
#define POOL_BACKOFF_MAX_MS 2000

struct pool_job {
    struct wp_job j;
    uint8_t retried;
};

enum worker_state { W_DOWN, W_SPAWNING, W_STARTING, W_READY };

struct pool_worker {
    struct pool *p;
    int fd;
    pid_t pid;
    enum worker_state state;
    struct event *ev;
    struct event *respawn;
    struct pool_job *fifo; /* jobs given to this worker, in order */
    unsigned head, count;
    unsigned backoff_ms;
    int started; /* has been ready or has failed once */
    int cpu;     /* the CPU this worker is bound to, -1: any */
};

struct pool {
    struct event_base *base;
    struct pool_cfg cfg;
    pool_result_fn on_result;
    pool_state_fn on_state;
    void *arg;
    struct pool_worker *w;
    struct pool_job *q; /* ring of waiting jobs */
    unsigned qcap, qhead, qcount;
    struct event *flush_ev;
    int have_points;
    struct wp_ready points;
    unsigned next_start; /* workers start one at a time (see pool_start) */
    struct pool_stats st;
    uint8_t (*rx)[POOL_MSG_MAX]; /* POOL_RECV_MSGS messages from a worker */
};

static void pool_spawn(struct pool_worker *w);

/* Starts the next worker that has never run. */
static void pool_start_next(struct pool *p)
{
    if (p->next_start < p->cfg.nworkers)
        pool_spawn(&p->w[p->next_start++]);
}

static void pool_schedule_flush(struct pool *p)
{
    if (!event_pending(p->flush_ev, EV_TIMEOUT, NULL))
        event_active(p->flush_ev, EV_TIMEOUT, 0);
}

static void pool_push_back(struct pool *p, const struct pool_job *j)
{
    p->q[(p->qhead + p->qcount) % p->qcap] = *j;
    p->qcount++;
}

static void pool_push_front(struct pool *p, const struct pool_job *j)
{
    p->qhead = (p->qhead + p->qcap - 1) % p->qcap;
    p->q[p->qhead] = *j;
    p->qcount++;
}

static unsigned pool_ready_count(const struct pool *p)
{
    return p->st.ready;
}

/* Answers every waiting job with code: used when no worker can take them. */
static void pool_fail_queue(struct pool *p, int code)
{
    while (p->qcount) {
        struct pool_job j = p->q[p->qhead];
        p->qhead = (p->qhead + 1) % p->qcap;
        p->qcount--;
        p->on_result(p->arg, j.j.tag, code, NULL);
    }
}

static void pool_worker_down(struct pool_worker *w, int cause)
{
    struct pool *p = w->p;
    if (w->state == W_DOWN || w->state == W_SPAWNING)
        return;
    if (w->state == W_READY)
        p->st.ready--;
    w->state = W_DOWN;
    if (w->ev) {
        event_free(w->ev);
        w->ev = NULL;
    }
    if (w->fd >= 0) {
        close(w->fd);
        w->fd = -1;
    }
    if (w->pid > 0) {
        p->cfg.kill(p->cfg.arg, w->pid); /* a stuck worker would not see the close */
        w->pid = 0;
    }
    p->st.worker_deaths++;
    if (cause)
        p->st.last_open_error = cause;
    int starting = w->started == 0;
    w->started = 1;
    /* Give each job it held one more chance, in its original order. */
    for (unsigned i = w->count; i-- > 0;) {
        struct pool_job j = w->fifo[(w->head + i) % p->cfg.window];
        if (j.retried) {
            p->on_result(p->arg, j.j.tag, STI_EHSM_UNAVAILABLE, NULL);
        } else {
            j.retried = 1;
            pool_push_front(p, &j);
        }
    }
    w->head = w->count = 0;
    /* A refused PIN is final: retrying could lock a real token; a PIN file
     * the parent cannot use stays unusable until a reload. */
    if (cause == STI_EHSM_LOGIN || cause == STI_EPINFILE) {
        p->st.login_refused = 1;
    } else {
        struct timeval tv = {w->backoff_ms / 1000, (w->backoff_ms % 1000) * 1000};
        evtimer_add(w->respawn, &tv);
    }
    if (starting && !p->st.login_refused)
        pool_start_next(p);
    w->backoff_ms =
        w->backoff_ms * 2 > POOL_BACKOFF_MAX_MS ? POOL_BACKOFF_MAX_MS : w->backoff_ms * 2;
    pool_schedule_flush(p);
    if (p->on_state)
        p->on_state(p->arg);
}

static struct pool_worker *pool_pick(struct pool *p)
{
    struct pool_worker *best = NULL;
    for (unsigned i = 0; i < p->cfg.nworkers; i++) {
        struct pool_worker *w = &p->w[i];
        if (w->state == W_READY && w->count < p->cfg.window && (!best || w->count < best->count))
            best = w;
    }
    return best;
}

static void pool_flush(struct pool *p)
{
    struct wp_job jobs[WP_BATCH];
    uint8_t msg[WP_SIGN_MAX];
    while (p->qcount) {
        struct pool_worker *w = pool_pick(p);
        if (!w)
            break;
        /* Split what is queued evenly over the ready workers, so one burst
         * from one connection keeps every session busy. */
        unsigned share = (p->qcount + p->st.ready - 1) / p->st.ready;
        unsigned n = p->cfg.window - w->count;
        if (n > share)
            n = share;
        if (n > WP_BATCH)
            n = WP_BATCH;
        for (unsigned i = 0; i < n; i++)
            jobs[i] = p->q[(p->qhead + i) % p->qcap].j;
        size_t len;
        if (wp_sign_encode(jobs, n, msg, sizeof msg, &len) != STI_OK)
            break;
        ssize_t s = send(w->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break; /* the worker will answer and we flush again */
        if (s != (ssize_t)len) {
            pool_worker_down(w, 0);
            continue;
        }
        for (unsigned i = 0; i < n; i++) {
            w->fifo[(w->head + w->count) % p->cfg.window] = p->q[p->qhead];
            w->count++;
            p->qhead = (p->qhead + 1) % p->qcap;
            p->qcount--;
        }
    }
    if (p->qcount && pool_ready_count(p) == 0)
        pool_fail_queue(p, STI_EHSM_UNAVAILABLE);
}

static void pool_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    pool_flush(arg);
}

static void pool_on_ready(struct pool_worker *w, const uint8_t *msg, size_t n)
{
    struct pool *p = w->p;
    struct wp_ready r;
    if (wp_ready_decode(msg, n, &r) != STI_OK || w->state != W_STARTING) {
        pool_worker_down(w, STI_EINTERNAL);
        return;
    }
    if (r.status != STI_OK) {
        pool_worker_down(w, r.status);
        return;
    }
    w->state = W_READY;
    w->backoff_ms = POOL_BACKOFF_MIN_MS;
    if (!w->started) {
        w->started = 1;
        pool_start_next(p);
    }
    p->st.ready++;
    p->points = r;
    p->have_points = 1;
    if (p->on_state)
        p->on_state(p->arg);
}

static void pool_on_results(struct pool_worker *w, const uint8_t *msg, size_t n)
{
    struct pool *p = w->p;
    struct wp_result res[WP_BATCH];
    size_t cnt;
    if (w->state != W_READY || wp_result_decode(msg, n, res, &cnt) != STI_OK || cnt > w->count) {
        pool_worker_down(w, STI_EINTERNAL);
        return;
    }
    for (size_t i = 0; i < cnt; i++) {
        struct pool_job *j = &w->fifo[w->head];
        if (j->j.tag != res[i].tag) {
            pool_worker_down(w, STI_EINTERNAL);
            return;
        }
        w->head = (w->head + 1) % p->cfg.window;
        w->count--;
        if (res[i].status) {
            p->st.hsm_errors++;
            p->st.last_error = res[i].status;
            /* The worker's sampled verify caught a bad signature: it was
             * not returned. Log the first and then every 1000th. */
            if (res[i].status == STI_EHSM_SELFTEST && p->st.selftest_failures++ % 1000 == 0)
                log_error("HSM worker %u: a token signature failed the mbedTLS verify and was "
                          "withheld (%llu so far): check the token",
                          (unsigned)(w - p->w), (unsigned long long)p->st.selftest_failures);
        }
        p->on_result(p->arg, res[i].tag, res[i].status, res[i].status ? NULL : res[i].sig);
        /* The token refused the PIN on a re-login: this worker cannot sign
         * again and must not try the PIN again. Take it out, without a
         * restart; health reports why; a reload with a fixed PIN file
         * brings new workers. */
        if (res[i].status == STI_EHSM_LOGIN) {
            pool_worker_down(w, STI_EHSM_LOGIN);
            return;
        }
    }
}

static void pool_worker_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool_worker *w = arg;
    struct pool *p = w->p;
    struct mmsghdr mh[POOL_RECV_MSGS];
    struct iovec iov[POOL_RECV_MSGS];
    (void)what;
    /* Every message that is there, several per system call: one wake-up,
     * many batches. Fewer than asked for means the socket is drained. */
    for (int round = 0; round < 4 && w->state != W_DOWN; round++) {
        memset(mh, 0, sizeof mh);
        for (int i = 0; i < POOL_RECV_MSGS; i++) {
            iov[i].iov_base = p->rx[i];
            iov[i].iov_len = POOL_MSG_MAX;
            mh[i].msg_hdr.msg_iov = &iov[i];
            mh[i].msg_hdr.msg_iovlen = 1;
        }
        int n = recvmmsg(fd, mh, POOL_RECV_MSGS, MSG_DONTWAIT, NULL);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        if (n <= 0) {
            pool_worker_down(w, 0);
            break;
        }
        for (int i = 0; i < n && w->state != W_DOWN; i++) {
            size_t len = mh[i].msg_len;
            if (len == 0) { /* the worker closed its end */
                pool_worker_down(w, 0);
                break;
            }
            if (p->rx[i][0] == WP_READY)
                pool_on_ready(w, p->rx[i], len);
            else
                pool_on_results(w, p->rx[i], len);
        }
        if (n < POOL_RECV_MSGS)
            break;
    }
    pool_schedule_flush(p);
}

/* Asks the owner (the parent, through the front) for a worker process;
 * it arrives with pool_attach. */
static void pool_spawn(struct pool_worker *w)
{
    struct pool *p = w->p;
    w->state = W_SPAWNING;
    if (p->cfg.spawn(p->cfg.arg, p->cfg.id, p->cfg.gen, (unsigned)(w - p->w), w->cpu,
                     p->cfg.sched_other) != STI_OK) {
        w->state = W_STARTING;
        pool_worker_down(w, STI_EINTERNAL);
    }
}

int pool_attach(struct pool *p, unsigned index, int fd, pid_t pid, int status)
{
    if (index >= p->cfg.nworkers || p->w[index].state != W_SPAWNING)
        return STI_EINVAL;
    struct pool_worker *w = &p->w[index];
    w->state = W_STARTING;
    if (status) {
        pool_worker_down(w, status);
        return STI_OK;
    }
    w->fd = fd;
    w->pid = pid;
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    w->ev = event_new(p->base, w->fd, EV_READ | EV_PERSIST, pool_worker_cb, w);
    if (!w->ev) {
        pool_worker_down(w, STI_ENOMEM);
        return STI_OK;
    }
    event_add(w->ev, NULL);
    return STI_OK;
}

static void pool_respawn_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pool_worker *w = arg;
    (void)fd;
    (void)what;
    w->p->st.respawns++;
    pool_spawn(w);
}

/* The CPUs this process may run on, in order, at most max. */
static unsigned pool_cpus(int *cpus, unsigned max)
{
    cpu_set_t set;
    unsigned n = 0;
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return 0;
    for (int c = 0; c < CPU_SETSIZE && n < max; c++)
        if (CPU_ISSET(c, &set))
            cpus[n++] = c;
    return n;
}

int pool_start(struct event_base *base, const struct pool_cfg *cfg, pool_result_fn on_result,
               pool_state_fn on_state, void *arg, struct pool **out)
{
    int rc;
    struct pool *p = calloc(1, sizeof *p);
    STI_CHECK(p, STI_ENOMEM);
    p->cfg = *cfg;
    p->base = base;
    p->on_result = on_result;
    p->on_state = on_state;
    p->arg = arg;
    STI_CHECK(cfg->nworkers >= 1 && cfg->nworkers <= 256, STI_ECONFIG);
    STI_CHECK(cfg->window >= 1 && cfg->max_queue >= 1, STI_ECONFIG);
    /* Room for every job a dying worker hands back. */
    p->qcap = cfg->max_queue + cfg->nworkers * cfg->window;
    p->q = calloc(p->qcap, sizeof *p->q);
    p->w = calloc(cfg->nworkers, sizeof *p->w);
    p->flush_ev = event_new(base, -1, 0, pool_flush_cb, p);
    p->rx = malloc(POOL_RECV_MSGS * sizeof *p->rx);
    STI_CHECK(p->q && p->w && p->flush_ev && p->rx, STI_ENOMEM);
    STI_CHECK(cfg->spawn && cfg->kill, STI_EINVAL);
    p->st.workers = cfg->nworkers;
    int cpus[256];
    unsigned ncpu = cfg->affinity ? pool_cpus(cpus, 256) : 0;
    int bind = ncpu >= cfg->nworkers;
    if (bind)
        log_info("HSM workers bound one per CPU, from CPU %d", cpus[0]);
    else if (cfg->affinity)
        log_info("HSM workers not bound to CPUs: %u workers, %u CPUs", cfg->nworkers, ncpu);
    for (unsigned i = 0; i < cfg->nworkers; i++) {
        struct pool_worker *w = &p->w[i];
        w->p = p;
        w->cpu = bind ? cpus[i] : -1;
        w->fd = -1;
        w->backoff_ms = POOL_BACKOFF_MIN_MS;
        w->fifo = calloc(cfg->window, sizeof *w->fifo);
        w->respawn = evtimer_new(base, pool_respawn_cb, w);
        STI_CHECK(w->fifo && w->respawn, STI_ENOMEM);
    }
    /* One at a time: SoftHSM2 mis-reads its token files when several
     * processes initialise at once, and a slow token is not helped either.
     * Each worker starts the next when it is ready or has failed. */
    pool_start_next(p);
    *out = p;
    p = NULL;
    rc = STI_OK;
out:
    pool_free(p);
    return rc;
}

void pool_free(struct pool *p)
{
    if (!p)
        return;
    for (unsigned i = 0; p->w && i < p->cfg.nworkers; i++) {
        struct pool_worker *w = &p->w[i];
        if (w->ev)
            event_free(w->ev);
        if (w->fd >= 0)
            close(w->fd);
        if (w->pid > 0) /* it leaves when its channel closes; a stuck one is ended */
            p->cfg.kill(p->cfg.arg, w->pid);
        if (w->respawn)
            event_free(w->respawn);
        free(w->fifo);
    }
    if (p->flush_ev)
        event_free(p->flush_ev);
    free(p->w);
    free(p->q);
    free(p->rx);
    free(p);
}

int pool_submit(struct pool *p, uint32_t tag, uint16_t key, const uint8_t digest[32])
{
    if (pool_ready_count(p) == 0)
        return STI_EHSM_UNAVAILABLE;
    if (p->qcount >= p->cfg.max_queue)
        return STI_EBUSY;
    struct pool_job j;
    j.j.tag = tag;
    j.j.key = key;
    memcpy(j.j.digest, digest, 32);
    j.retried = 0;
    pool_push_back(p, &j);
    pool_schedule_flush(p);
    return STI_OK;
}

int pool_key_point(const struct pool *p, size_t k, uint8_t point[HSM_EC_POINT_LEN])
{
    if (!p->have_points)
        return STI_EHSM_UNAVAILABLE;
    if (k >= p->points.nkeys)
        return STI_EINVAL;
    if (p->points.key_status[k])
        return p->points.key_status[k];
    memcpy(point, p->points.point[k], HSM_EC_POINT_LEN);
    return STI_OK;
}

void pool_stats(const struct pool *p, struct pool_stats *st)
{
    *st = p->st;
    st->queued = p->qcount;
    unsigned inflight = 0;
    for (unsigned i = 0; i < p->cfg.nworkers; i++)
        inflight += p->w[i].count;
    st->in_flight = inflight;
    unsigned started = 0;
    for (unsigned i = 0; i < p->cfg.nworkers; i++)
        started += p->w[i].started;
    st->started = started;
}

uint32_t pool_id(const struct pool *p)
{
    return p->cfg.id;
}
