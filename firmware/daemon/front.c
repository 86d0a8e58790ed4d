/*
 * front.c — the front process (`stisignd --front -c FILE`, started by the
 * parent with its control channel on fd 3; docs/architecture.md). It owns
 * every listening socket the parent bound and parses every byte that
 * comes from the network: RPC frames, HTTP requests. It runs as the
 * unprivileged user, holds no PIN and no token session (it asks the parent
 * for HSM workers and talks to them over their channels), cannot write the
 * store and reads no file: its configuration and the credentials' chains
 * come as bytes from the parent, at start and on every reload.
 */
#define _GNU_SOURCE /* SCHED_BATCH */
#include "front.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "child.h"
#include "config.h"
#include "cred.h"
#include "ctlproto.h"
#include "expiry.h"
#include "http.h"
#include "ipc.h"
#include "log.h"
#include "pool.h"
#include "privsep.h"
#include "selftest.h"
#include "server.h"
#include "service.h"
#include "sti_err.h"
#include "verifier.h"

#define DRAIN_MS 5000
#define CTL_START_MSGS (4 * CFG_FILES_MAX) /* what may come before the first FILES_END */

struct front {
    struct cfg cfg;
    const char *cfgpath;
    int ctl;
    struct event *ctl_ev;
    uint8_t *rx;             /* one control message */
    struct cfg_files files;  /* a configuration being received */
    uint32_t gen, files_gen; /* in use; being received */
    int rpc_fd, http_fd;     /* listeners from the parent, until handed on */
    uint32_t next_pool;
    struct cred_table *creds; /* in use */
    /* Reload: a new pool and table start beside the running ones, take
     * over when ready, and the old ones retire once drained. */
    struct pool *new_pool, *old_pool;
    struct cred_table *new_creds, *old_creds;
    struct cfg new_cfg;
    struct event *reload_ev, *retire_ev, *reload_timeout;
    int reload_ready;
    struct event_base *base;
    struct pool *pool;
    struct svc *svc;
    struct rpc_server *srv;
    struct verifier *vfy;
    struct event *sig_term, *sig_int, *start_timer, *drain;
    unsigned drain_ticks;
    struct selftest *selftest;
    int st_pending, st_timed_out, st_state;
    struct event *st_timer, *ops_timer;
    struct http *http;
    struct expiry_state expiry;
    time_t expiry_last;
    int loop_batch;
    int ready_sent;
};

static void front_ops_reloaded(struct front *f);
static void front_health(struct front *f);

/* ---- the control channel ---- */

/* Small messages to the parent; a full channel means a wedged parent,
 * and what could not be said is said again at the next tick. */
static int front_tell(struct front *f, const uint8_t *msg, size_t n)
{
    int rc = ipc_send(f->ctl, msg, n, -1);
    if (rc == STI_ECLOSED) {
        log_error("front: the parent is gone; leaving");
        event_base_loopbreak(f->base);
    }
    return rc;
}

static int front_spawn(void *arg, uint32_t pool, uint32_t gen, unsigned index, int cpu,
                       int sched_other)
{
    struct front *f = arg;
    struct ctl_spawn sp = {pool, (uint16_t)index, gen, (int16_t)cpu, (uint8_t)sched_other};
    uint8_t msg[32];
    size_t n;
    int rc = ctl_spawn_encode(&sp, msg, sizeof msg, &n);
    return rc ? rc : front_tell(f, msg, n);
}

static void front_kill(void *arg, pid_t pid)
{
    struct front *f = arg;
    uint8_t msg[8];
    size_t n;
    if (ctl_kill_encode((uint32_t)pid, msg, sizeof msg, &n) == STI_OK)
        front_tell(f, msg, n);
}

static struct pool *front_pool_by_id(struct front *f, uint32_t id)
{
    struct pool *ps[] = {f->pool, f->new_pool, f->old_pool};
    for (int i = 0; i < 3; i++)
        if (ps[i] && pool_id(ps[i]) == id)
            return ps[i];
    return NULL;
}

static void front_on_worker(struct front *f, const uint8_t *msg, size_t n, int fd)
{
    struct ctl_worker w;
    struct pool *p;
    if (ctl_worker_decode(msg, n, &w) != STI_OK || (w.status == 0) != (fd >= 0)) {
        log_error("front: malformed WORKER message from the parent");
    } else if ((p = front_pool_by_id(f, w.pool)) != NULL &&
               pool_attach(p, w.index, fd, (pid_t)w.pid, w.status) == STI_OK) {
        return; /* the pool owns fd now */
    } else if (w.pid) {
        front_kill(f, (pid_t)w.pid); /* a pool that is gone asked for it */
    }
    if (fd >= 0)
        close(fd);
}

static void front_reload(struct front *f);

static void front_on_ctl(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    (void)what;
    for (int k = 0; k < 64; k++) {
        size_t n;
        int pfd = -1;
        uint8_t type;
        int rc = ipc_recv(fd, f->rx, CTL_MSG_MAX + 1, &n, &pfd);
        if (rc == STI_EBUSY)
            return;
        if (rc != STI_OK || ctl_type_of(f->rx, n, &type) != STI_OK) {
            log_error("front: control channel %s; leaving",
                      rc == STI_ECLOSED ? "closed by the parent" : "broken");
            if (pfd >= 0)
                close(pfd);
            event_del(f->ctl_ev);
            event_base_loopbreak(f->base);
            return;
        }
        struct ctl_file file;
        struct ctl_files_end end;
        uint32_t pid;
        switch (type) {
        case CTL_WORKER:
            front_on_worker(f, f->rx, n, pfd);
            pfd = -1;
            break;
        case CTL_VERIFIER:
            if (pfd >= 0 && f->vfy && ctl_verifier_decode(f->rx, n, &pid) == STI_OK) {
                verifier_attach(f->vfy, pfd, (pid_t)pid);
                pfd = -1;
            }
            break;
        case CTL_FILE:
            if (ctl_file_decode(f->rx, n, &file) == STI_OK &&
                cfg_files_add(&f->files, file.path, file.data, file.len) == STI_OK)
                break;
            log_error("front: a configuration file from the parent was refused");
            break;
        case CTL_FILES_END:
            if (ctl_files_end_decode(f->rx, n, &end) == STI_OK && end.gen > f->gen) {
                f->files_gen = end.gen;
                front_reload(f);
            }
            cfg_files_free(&f->files);
            break;
        case CTL_STOP:
            raise(SIGTERM);
            break;
        default:
            log_error("front: unexpected control message %u", type);
        }
        if (pfd >= 0)
            close(pfd);
    }
}

/* ---- start ---- */

/* Blocking: what the parent sends before the front can start: the
 * configuration's files and the listeners, up to FILES_END. */
static int front_receive_start(struct front *f)
{
    for (int k = 0; k < CTL_START_MSGS; k++) {
        size_t n;
        int pfd = -1, rc;
        uint8_t type, kind;
        struct ctl_file file;
        struct ctl_files_end end;
        if ((rc = ipc_recv(f->ctl, f->rx, CTL_MSG_MAX + 1, &n, &pfd)) ||
            (rc = ctl_type_of(f->rx, n, &type)))
            return rc;
        if (type == CTL_FILE) {
            rc = ctl_file_decode(f->rx, n, &file);
            if (rc == STI_OK)
                rc = cfg_files_add(&f->files, file.path, file.data, file.len);
        } else if (type == CTL_LISTENER && pfd >= 0) {
            rc = ctl_listener_decode(f->rx, n, &kind);
            if (rc == STI_OK && kind == CTL_LISTEN_RPC && f->rpc_fd < 0)
                f->rpc_fd = pfd, pfd = -1;
            else if (rc == STI_OK && kind == CTL_LISTEN_HTTP && f->http_fd < 0)
                f->http_fd = pfd, pfd = -1;
        } else if (type == CTL_FILES_END) {
            rc = ctl_files_end_decode(f->rx, n, &end);
            if (rc == STI_OK) {
                f->gen = end.gen;
                return f->rpc_fd >= 0 ? STI_OK : STI_EPROTO_MISSING;
            }
        } else {
            rc = STI_EPROTO_FRAME;
        }
        if (pfd >= 0)
            close(pfd);
        if (rc)
            return rc;
    }
    return STI_ETOOMANY;
}

static void front_ready(struct front *f, int status)
{
    struct ctl_ready r = {f->gen, (uint16_t)status};
    uint8_t msg[16];
    size_t n;
    if (ctl_ready_encode(&r, msg, sizeof msg, &n) == STI_OK)
        front_tell(f, msg, n);
}

/* During shutdown: leave once every request taken is answered and sent,
 * or when the drain time is up. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    struct svc_counters cnt;
    (void)fd;
    (void)what;
    svc_counters(f->svc, &cnt);
    if ((cnt.in_flight == 0 && rpc_server_unsent(f->srv) == 0) ||
        ++f->drain_ticks > DRAIN_MS / 10) {
        if (cnt.in_flight)
            log_warn("shutdown: %u request(s) still in flight after %d ms", cnt.in_flight,
                     DRAIN_MS);
        event_base_loopbreak(f->base);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct front *f = arg;
    (void)what;
    if (f->drain) {
        event_base_loopbreak(f->base); /* a second signal: leave now */
        return;
    }
    log_info("signal %d: no new connections; answering what is in flight", (int)sig);
    if (f->srv)
        rpc_server_stop_accepting(f->srv);
    struct timeval tv = {0, 10000};
    f->drain = event_new(f->base, -1, EV_PERSIST, on_drain_tick, f);
    event_add(f->drain, &tv);
}

/* Raise the descriptor limit: one per client connection. */
static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

static void front_pool_cfg(struct front *f, const struct cfg *c, uint32_t gen, struct pool_cfg *pc)
{
    memset(pc, 0, sizeof *pc);
    pc->nworkers = c->workers;
    pc->window = c->window;
    pc->affinity = c->worker_affinity;
    pc->sched_other = f->loop_batch;
    pc->max_queue = c->max_queue;
    pc->id = f->next_pool++;
    pc->gen = gen;
    pc->spawn = front_spawn;
    pc->kill = front_kill;
    pc->arg = f;
}

/* Who may connect, per-peer scopes, the iat window and the clock floor. */
static int front_policy(const struct cfg *c, struct svc_policy *pol)
{
    memset(pol, 0, sizeof *pol);
    cfg_ids_parse(c->allow_uid, 0, pol->allow_uid, SVC_MAX_IDS, &pol->nuid);
    cfg_ids_parse(c->allow_gid, 1, pol->allow_gid, SVC_MAX_IDS, &pol->ngid);
    pol->iat_past_s = c->iat_past_s;
    pol->iat_future_s = c->iat_future_s;
    pol->clock_floor = (time_t)STI_BUILD_EPOCH;
    for (unsigned i = 0; i < c->npeer; i++) {
        struct svc_peer *p = &pol->peer[pol->npeer++];
        snprintf(p->name, sizeof p->name, "%s", c->peer[i].name);
        p->uid = c->peer[i].uid;
        p->gid = c->peer[i].gid;
        scope_init(&p->scope);
        int rc = scope_parse_list(c->peer[i].scope, &p->scope);
        if (rc) {
            log_error("peer %s: scope %s: %s", p->name, c->peer[i].scope, sti_strerror(rc));
            for (size_t j = 0; j < pol->npeer; j++)
                scope_free(&pol->peer[j].scope);
            return rc;
        }
    }
    if (time(NULL) < pol->clock_floor)
        log_warn("the clock is before this firmware was built: signing refused until it is set");
    return STI_OK;
}

static void on_start_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    (void)fd;
    (void)what;
    event_base_loopbreak(f->base);
}

static void on_result(void *arg, uint32_t tag, int status, const uint8_t *sig)
{
    struct front *f = arg;
    if (selftest_tag(tag)) { /* never a service job slot (selftest.h) */
        selftest_on_result(f->selftest, tag, status, sig);
        return;
    }
    svc_on_result(f->svc, tag, status, sig);
}

static void on_pool_state_start(void *arg)
{
    struct front *f = arg;
    struct pool_stats st;
    if (!f->pool)
        return;
    pool_stats(f->pool, &st);
    if (f->srv) {
        svc_on_pool_state(f->svc);
        return;
    }
    /* Still starting: stop waiting once every worker has had its first
     * try and one is ready, or when the token refused the PIN. A missing
     * token is retried until the start timeout. */
    if ((st.ready > 0 && st.started == st.workers) || st.login_refused)
        event_base_loopbreak(f->base);
}

/* Binds every credential of t to the public key pool's workers report. */
static int front_bind_creds(struct pool *pool, struct cred_table *t, const char *what)
{
    for (size_t i = 0; i < t->n; i++) {
        struct cred *c = &t->c[i];
        uint8_t point[HSM_EC_POINT_LEN];
        int rc = pool_key_point(pool, c->key_idx, point);
        if (rc == STI_OK)
            rc = cred_bind(c, point);
        if (rc) {
            log_error("%scredential %s: %s (%s)", what, c->name, sti_strerror(rc), sti_errname(rc));
            return rc;
        }
    }
    return STI_OK;
}

/* Runs the loop until one worker is ready; then checks the credentials
 * against the public keys the token reports. */
static int front_wait_ready(struct front *f)
{
    struct timeval tv = {f->cfg.start_timeout_ms / 1000, (f->cfg.start_timeout_ms % 1000) * 1000};
    struct pool_stats st;
    f->start_timer = evtimer_new(f->base, on_start_timeout, f);
    evtimer_add(f->start_timer, &tv);
    event_base_dispatch(f->base);
    evtimer_del(f->start_timer);
    pool_stats(f->pool, &st);
    if (st.ready == 0) {
        int why = st.last_open_error ? st.last_open_error : STI_ETIMEOUT;
        log_error("HSM workers could not start: %s (%s)", sti_strerror(why), sti_errname(why));
        return why;
    }
    int rc = front_bind_creds(f->pool, f->creds, "");
    if (rc)
        return rc;
    time_t now = time(NULL);
    for (size_t i = 0; i < f->creds->n; i++) {
        struct cred *c = &f->creds->c[i];
        int state = cred_state(c, now);
        log_info("credential %s: %s, scope %s, x5u %s", c->name,
                 state == 0   ? "valid"
                 : state == 1 ? "EXPIRED (not used)"
                 : state == 2 ? "NOT YET VALID (not used)"
                              : "unavailable",
                 c->scope_text, c->x5u);
    }
    return STI_OK;
}

/* ---- reload: a configuration from the parent ---- */

static void reload_drop_new(struct front *f)
{
    if (f->new_pool)
        pool_free(f->new_pool);
    f->new_pool = NULL;
    if (f->new_creds) {
        cred_free(f->new_creds);
        free(f->new_creds);
    }
    f->new_creds = NULL;
    evtimer_del(f->reload_timeout);
}

/* The old pool and table go once no job of theirs is left. */
static void on_retire_tick(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    struct pool_stats st = {0};
    (void)fd;
    (void)what;
    if (f->old_pool)
        pool_stats(f->old_pool, &st);
    if (st.in_flight || st.queued)
        return;
    event_del(f->retire_ev);
    if (f->old_pool)
        pool_free(f->old_pool);
    f->old_pool = NULL;
    cred_free(f->old_creds);
    free(f->old_creds);
    f->old_creds = NULL;
    log_info("reload: previous workers retired");
}

/* The settings a reload changes take effect with the new table. */
static void front_take_cfg(struct front *f)
{
    const struct cfg *nc = &f->new_cfg;
    memcpy(f->cfg.cred, nc->cred, sizeof nc->cred);
    f->cfg.ncred = nc->ncred;
    memcpy(f->cfg.token, nc->token, sizeof nc->token);
    f->cfg.verify_sample = nc->verify_sample;
    f->cfg.key_session_copy = nc->key_session_copy;
    f->gen = f->files_gen;
}

/* Runs outside the pool's own callbacks (pool_free is not reentrant). */
static void on_reload_step(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    struct pool_stats st;
    (void)fd;
    if (!f->new_pool)
        return;
    pool_stats(f->new_pool, &st);
    if (st.login_refused || (what & EV_TIMEOUT && !f->reload_ready)) {
        log_error("reload: new HSM workers did not start (%s); keeping the running credentials",
                  st.login_refused ? "PIN refused" : "timeout");
        reload_drop_new(f);
        return;
    }
    if (!(st.ready > 0 && st.started == st.workers))
        return;
    f->reload_ready = 1;
    if (front_bind_creds(f->new_pool, f->new_creds, "reload: ") != STI_OK) {
        log_error("reload: keeping the running credentials");
        reload_drop_new(f);
        return;
    }
    evtimer_del(f->reload_timeout);
    f->old_pool = f->pool;
    f->old_creds = f->creds;
    f->pool = f->new_pool;
    f->creds = f->new_creds;
    f->new_pool = NULL;
    f->new_creds = NULL;
    front_take_cfg(f);
    svc_swap(f->svc, f->pool, f->creds);
    front_ops_reloaded(f);
    struct timeval tv = {0, 100000};
    event_add(f->retire_ev, &tv);
    log_info("reload: signing with %zu credential(s)", f->creds->n);
}

static void on_reload_pool_state(void *arg)
{
    struct front *f = arg;
    event_active(f->reload_ev, EV_READ, 0);
}

static void front_reload(struct front *f)
{
    struct pool_cfg pc;
    char err[512];
    struct cfg *nc = &f->new_cfg;
    if (f->new_pool || f->old_creds || f->drain) {
        log_warn("reload: one is already under way; try again shortly");
        return;
    }
    struct svc_policy pol;
    cfg_defaults(nc);
    if (cfg_load_files(&f->files, f->cfgpath, nc, err, sizeof err) != STI_OK) {
        log_error("reload: %s; keeping the running configuration", err);
        return;
    }
    if (front_policy(nc, &pol) != STI_OK) { /* it said which scope */
        log_error("reload: keeping the running configuration");
        return;
    }
    /* Who may sign what applies at once, to open connections too: a
     * narrowed scope or a removed peer must not wait for new workers. */
    svc_set_policy(f->svc, &pol);
    log_info("reload: access rules applied ([peer] sections, allow_uid, allow_gid, iat window), "
             "from each connection's next request");
    /* Credentials, peers and the PIN file reload; what the process was
     * started with stays. */
    if (strcmp(nc->socket, f->cfg.socket) || strcmp(nc->module, f->cfg.module) ||
        nc->workers != f->cfg.workers || nc->worker_affinity != f->cfg.worker_affinity ||
        nc->loop_sched_batch != f->cfg.loop_sched_batch || strcmp(nc->user, f->cfg.user))
        log_warn("reload: socket, module, workers and user take effect at restart");
    struct cred_table *t = calloc(1, sizeof *t);
    if (!t || cred_load_files(t, nc, &f->files, err, sizeof err) != STI_OK) {
        log_error("reload: %s; keeping the running credentials", t ? err : "out of memory");
        free(t);
        return;
    }
    if (!nc->token[0]) {
        /* No token any more (a factory reset): stop signing with what was
         * loaded; the running workers retire. */
        f->old_pool = f->pool;
        f->old_creds = f->creds;
        f->pool = NULL;
        f->creds = t;
        front_take_cfg(f);
        svc_swap(f->svc, NULL, t);
        struct timeval tv = {0, 100000};
        event_add(f->retire_ev, &tv);
        log_warn("reload: no token configured: not signing until provisioned");
        return;
    }
    f->new_creds = t;
    f->reload_ready = 0;
    front_pool_cfg(f, nc, f->files_gen, &pc);
    int rc = pool_start(f->base, &pc, on_result, on_reload_pool_state, f, &f->new_pool);
    if (rc) {
        log_error("reload: %s; keeping the running credentials", sti_strerror(rc));
        reload_drop_new(f);
        return;
    }
    struct timeval tv = {f->cfg.start_timeout_ms / 1000, (f->cfg.start_timeout_ms % 1000) * 1000};
    evtimer_add(f->reload_timeout, &tv);
    log_info("reload: starting workers for %zu credential(s)", t->n);
}

/* Starts the HSM workers and binds the credentials, or says why not. */
static int front_start_pool(struct front *f)
{
    struct pool_cfg pc;
    if (!f->cfg.token[0])
        return STI_EHSM_TOKEN;
    front_pool_cfg(f, &f->cfg, f->gen, &pc);
    int rc = pool_start(f->base, &pc, on_result, on_pool_state_start, f, &f->pool);
    if (rc) {
        log_error("HSM workers: %s (%s)", sti_strerror(rc), sti_errname(rc));
        return rc;
    }
    if ((rc = front_wait_ready(f))) {
        pool_free(f->pool);
        f->pool = NULL;
    }
    return rc;
}

/* ---- self-test, metrics/STI-CR, expiry warnings, health ---- */

static void front_selftest_done(void *arg, int rc, const char *why)
{
    struct front *f = arg;
    char reason[200];
    f->st_pending = 0;
    f->st_state = rc ? 2 : 1;
    if (rc) {
        snprintf(reason, sizeof reason, "self-test failed: %s; signing refused until fixed", why);
        svc_set_fault(f->svc, STI_EHSM_SELFTEST, reason);
    } else {
        svc_set_fault(f->svc, 0, NULL);
        log_info("self-test passed: every credential's key signs and mbedTLS verifies it; "
                 "known answers match");
    }
    if (!f->srv)
        event_base_loopbreak(f->base); /* the power-on wait in front_selftest_poweron */
    else
        front_health(f); /* the console waits for the outcome (admin.c, in_sync) */
}

static void on_selftest_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    (void)fd;
    (void)what;
    f->st_timed_out = 1;
    event_base_loopbreak(f->base);
}

/* Before the RPC server opens: the loop runs (workers answer) until every
 * credential's test signature is back. */
static void front_selftest_poweron(struct front *f)
{
    struct timeval tv = {f->cfg.start_timeout_ms / 1000, (f->cfg.start_timeout_ms % 1000) * 1000};
    f->st_pending = 1;
    f->st_state = 3;
    selftest_run(f->selftest, f->pool, f->creds, front_selftest_done, f);
    if (!f->st_pending)
        return;
    f->st_timer = evtimer_new(f->base, on_selftest_timeout, f);
    evtimer_add(f->st_timer, &tv);
    /* The pool's state callback may break the loop too: wait on. */
    while (f->st_pending && !f->st_timed_out)
        event_base_dispatch(f->base);
    evtimer_del(f->st_timer);
    if (f->st_pending) {
        log_error("self-test: no answer from the token within %d ms; signing refused",
                  f->cfg.start_timeout_ms);
        f->st_state = 2;
        svc_set_fault(f->svc, STI_EHSM_SELFTEST,
                      "self-test failed: the token did not answer the test signatures");
    }
}

/* The health the parent acts on (watchdog, systemd, LEDs, the console). */
static void front_health(struct front *f)
{
    static struct ctl_health h;
    static uint8_t msg[sizeof h + 1024];
    struct svc_counters cnt;
    struct pool_stats ps;
    size_t n;
    memset(&h, 0, sizeof h);
    h.state = (uint8_t)svc_health_state(f->svc, h.reason, sizeof h.reason);
    h.gen = f->gen;
    svc_counters(f->svc, &cnt);
    h.signed_ok = cnt.signed_ok;
    h.failed = cnt.failed;
    h.in_flight = cnt.in_flight;
    h.selftest = (uint8_t)f->st_state;
    if (f->pool) {
        pool_stats(f->pool, &ps);
        h.have_pool = 1;
        h.workers = ps.workers;
        h.ready = ps.ready;
        h.hsm_errors = ps.hsm_errors;
        h.worker_deaths = ps.worker_deaths;
        h.last_error = (uint16_t)ps.last_error;
    }
    time_t now = time(NULL);
    for (size_t i = 0; f->creds && i < f->creds->n && h.ncreds < CTL_CREDS_MAX; i++) {
        const struct cred *c = &f->creds->c[i];
        struct ctl_cred_state *o = &h.cred[h.ncreds++];
        snprintf(o->name, sizeof o->name, "%s", c->name);
        snprintf(o->x5u, sizeof o->x5u, "%s", c->x5u);
        o->bound = (uint8_t)(c->bound != 0);
        o->state = (uint8_t)cred_state(c, now);
        o->signed_ok = c->signed_ok;
        memcpy(o->leaf_sha256, c->leaf_sha256, sizeof o->leaf_sha256);
    }
    if (ctl_health_encode(&h, msg, sizeof msg, &n) == STI_OK)
        front_tell(f, msg, n);
}

/* Every tick: the health to the parent and, hourly, the expiry warnings. */
static void on_ops_tick(evutil_socket_t fd, short what, void *arg)
{
    struct front *f = arg;
    time_t now = time(NULL);
    (void)fd;
    (void)what;
    front_health(f);
    if (now - f->expiry_last >= 3600) {
        f->expiry_last = now;
        expiry_check(&f->expiry, f->creds, now);
    }
}

/* After a reload took over: test the new keys, re-encode the published
 * chains, warn about expiry, tell the parent. */
static void front_ops_reloaded(struct front *f)
{
    f->st_pending = 1;
    f->st_state = 3;
    selftest_run(f->selftest, f->pool, f->creds, front_selftest_done, f);
    http_set_creds(f->http, f->creds);
    f->expiry_last = time(NULL);
    expiry_check(&f->expiry, f->creds, f->expiry_last);
    front_ready(f, STI_OK);
    front_health(f);
}

/* The loop thread alone becomes SCHED_BATCH (see pool.h). */
static void front_loop_sched(struct front *f)
{
    struct sched_param sp = {0};
    if (!f->loop_batch) {
        if (f->cfg.loop_sched_batch)
            log_info("event loop: left at its scheduling policy %d", sched_getscheduler(0));
        return;
    }
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
        log_warn("event loop: SCHED_BATCH refused (%s); running SCHED_OTHER", strerror(errno));
    else
        log_info("event loop: SCHED_BATCH; HSM workers SCHED_OTHER");
}

static int front_run(struct front *f)
{
    int rc;
    struct rpc_server_cfg sc;
    struct rpc_handler h;
    char err[512] = "";

    if ((rc = front_receive_start(f))) {
        log_error("front: the parent's start messages: %s", sti_strerror(rc));
        return rc;
    }
    cfg_defaults(&f->cfg);
    if (cfg_load_files(&f->files, f->cfgpath, &f->cfg, err, sizeof err) != STI_OK) {
        log_error("front: %s", err);
        return STI_ECONFIG;
    }
    enum log_level lvl = LOG_LVL_INFO;
    log_level_parse(f->cfg.log_level, &lvl);
    log_setup("stisignd-front", f->cfg.log_syslog, lvl);
    raise_nofile();
    f->creds = calloc(1, sizeof *f->creds);
    if (!f->creds)
        return STI_ENOMEM;
    if ((rc = cred_load_files(f->creds, &f->cfg, &f->files, err, sizeof err))) {
        log_error("%s", err);
        return rc;
    }
    cfg_files_free(&f->files);
    f->base = event_base_new();
    if (!f->base)
        return STI_ENOMEM;
    child_nonblock(f->ctl); /* from here on the loop reads it */
    f->ctl_ev = event_new(f->base, f->ctl, EV_READ | EV_PERSIST, front_on_ctl, f);
    f->reload_ev = event_new(f->base, -1, 0, on_reload_step, f);
    f->reload_timeout = evtimer_new(f->base, on_reload_step, f);
    f->retire_ev = event_new(f->base, -1, EV_PERSIST, on_retire_tick, f);
    if (!f->ctl_ev || !f->reload_ev || !f->reload_timeout || !f->retire_ev)
        return STI_ENOMEM;
    event_add(f->ctl_ev, NULL);
    /* Group membership of clients is looked up at accept (service.c):
     * one lookup now loads the user database's modules (nsswitch.conf)
     * while the process may still map code. */
    gid_t groups[4];
    int ngroups = 4;
    struct passwd *pw = getpwuid(0);
    if (pw)
        getgrouplist(pw->pw_name, pw->pw_gid, groups, &ngroups);
    /* Set up, and before anything parses a byte from the network. */
    if ((rc = privsep_confine(PRIVSEP_FRONT, &f->cfg)))
        return rc;
    /* An operator who started the daemon under another policy (chrt) keeps
     * it for every thread. */
    f->loop_batch = f->cfg.loop_sched_batch && sched_getscheduler(0) == SCHED_OTHER;
    struct svc_policy pol;
    if ((rc = front_policy(&f->cfg, &pol)))
        return rc;
    if ((rc =
             svc_new(f->creds, &pol, f->cfg.max_queue + f->cfg.workers * f->cfg.window, &f->svc))) {
        for (size_t i = 0; i < pol.npeer; i++)
            scope_free(&pol.peer[i].scope);
        return rc;
    }
    if (f->cfg.verify_trust_anchor[0]) {
        if ((rc = verifier_new(f->base, f->cfg.verify_max_pending, svc_on_verified, f->svc,
                               &f->vfy)))
            return rc;
        svc_set_verifier(f->svc, f->vfy);
    }
    if ((rc = front_start_pool(f))) {
        /* With a store the console can fix what is missing: run
         * unprovisioned (health says why) rather than exit. */
        if (!f->cfg.store_dir[0])
            return rc;
        log_warn("not signing until provisioned: %s (%s)", sti_strerror(rc), sti_errname(rc));
    }
    if ((rc = selftest_new(&f->selftest)))
        return rc;
    front_selftest_poweron(f);

    if (f->http_fd >= 0) {
        struct http_env env = {f->base, f->svc, &f->pool, &f->creds, f->selftest};
        rc = http_start(&env, f->http_fd, f->cfg.publish_chain, &f->http);
        f->http_fd = -1;
        if (rc)
            return rc;
        http_set_creds(f->http, f->creds);
    }
    rpc_server_cfg_defaults(&sc);
    sc.path = f->cfg.socket;
    sc.listen_fd = f->rpc_fd;
    sc.max_conns = f->cfg.max_conns;
    sc.max_pending = f->cfg.max_pending;
    sc.frame_timeout_ms = f->cfg.frame_timeout_ms;
    sc.write_timeout_ms = f->cfg.write_timeout_ms;
    svc_handler(f->svc, &h);
    if ((rc = rpc_server_start(f->base, &sc, &h, &f->srv))) {
        log_error("socket %s: %s", f->cfg.socket, sti_strerror(rc));
        return rc;
    }
    f->rpc_fd = -1;
    svc_attach(f->svc, f->pool, f->srv);

    f->sig_term = evsignal_new(f->base, SIGTERM, on_signal, f);
    f->sig_int = evsignal_new(f->base, SIGINT, on_signal, f);
    evsignal_add(f->sig_term, NULL);
    evsignal_add(f->sig_int, NULL);
    signal(SIGHUP, SIG_IGN); /* the parent reloads; it sends the files */

    f->expiry_last = time(NULL);
    expiry_check(&f->expiry, f->creds, f->expiry_last);
    /* Three reports a second: the parent kicks the watchdogs only on a
     * recent one (parent.c, HEALTH_FRESH_MS). */
    struct timeval tv = {0, 333000};
    f->ops_timer = event_new(f->base, -1, EV_PERSIST, on_ops_tick, f);
    if (!f->ops_timer)
        return STI_ENOMEM;
    event_add(f->ops_timer, &tv);
    front_loop_sched(f);
    log_info("ready: signing on %s with %zu credential(s), %u HSM worker(s)", f->cfg.socket,
             f->creds->n, f->cfg.workers);
    front_ready(f, STI_OK);
    front_health(f);
    event_base_dispatch(f->base);
    return STI_OK;
}

static void front_free(struct front *f)
{
    http_free(f->http);
    struct event *evs[] = {f->ops_timer,   f->st_timer,      f->sig_term, f->sig_int,
                           f->start_timer, f->drain,         f->ctl_ev,   f->reload_ev,
                           f->retire_ev,   f->reload_timeout};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    selftest_free(f->selftest);
    verifier_free(f->vfy);
    if (f->srv)
        rpc_server_free(f->srv);
    struct pool *pools[] = {f->pool, f->new_pool, f->old_pool};
    for (int i = 0; i < 3; i++)
        if (pools[i])
            pool_free(pools[i]);
    svc_free(f->svc);
    if (f->base)
        event_base_free(f->base);
    struct cred_table *tables[] = {f->creds, f->new_creds, f->old_creds};
    for (size_t i = 0; i < 3; i++)
        if (tables[i]) {
            cred_free(tables[i]);
            free(tables[i]);
        }
    cfg_files_free(&f->files);
    if (f->rpc_fd >= 0)
        close(f->rpc_fd);
    if (f->http_fd >= 0)
        close(f->http_fd);
    free(f->rx);
}

int front_main(const char *cfgpath, int ctl)
{
    static struct front f;
    f.cfgpath = cfgpath;
    f.ctl = ctl;
    f.rpc_fd = f.http_fd = -1;
    f.next_pool = 1;
    log_setup("stisignd-front", 0, LOG_LVL_INFO);
    f.rx = malloc(CTL_MSG_MAX + 1);
    int rc = f.rx ? front_run(&f) : STI_ENOMEM;
    if (rc)
        front_ready(&f, rc);
    front_free(&f);
    return rc == STI_OK ? 0 : 1;
}
