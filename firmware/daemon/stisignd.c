/*
 * stisignd.c — the daemon: reads the configuration, starts the HSM
 * workers, checks every credential against its token key, then serves the
 * signing RPC on the event loop until SIGTERM/SIGINT.
 *
 *   stisignd -c FILE [--check]     run (or only check the configuration)
 *   stisignd -c FILE --update IMG  verify a signed update image and install
 *                                  it in the other slot (docs/update-image.md)
 *   stisignd -c FILE --update-status  the update slots
 *   stisignd --hsm-worker          internal: an HSM worker on fd 3
 */
#define _GNU_SOURCE /* SCHED_BATCH */
#include <errno.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "admin.h"
#include "bsp.h"
#include "config.h"
#include "cred.h"
#include "expiry.h"
#include "http.h"
#include "log.h"
#include "pool.h"
#include "server.h"
#include "selftest.h"
#include "service.h"
#include "sti_err.h"
#include "systemd.h"
#include "workproto.h"

struct daemon {
    struct cfg cfg;
    const char *cfgpath;
    struct cred_table *creds; /* in use */
    /* SIGHUP reload: a new pool and table start beside the running ones,
     * take over when ready, and the old ones retire once drained. */
    struct pool *new_pool, *old_pool;
    struct cred_table *new_creds, *old_creds;
    struct event *sig_hup, *reload_ev, *retire_ev, *reload_timeout;
    int reload_ready;
    struct event_base *base;
    struct pool *pool;
    struct svc *svc;
    struct rpc_server *srv;
    struct verifier *vfy;
    struct event *sig_term, *sig_int, *start_timer, *drain;
    int start_failed;
    unsigned drain_ticks;
    struct admin *admin;      /* the provisioning console (admin.h) */
    struct console_io *console;
    /* self-test, metrics/STI-CR, expiry warnings, systemd (daemon_ops_*) */
    struct selftest *selftest;
    int st_pending, st_timed_out;
    struct event *st_timer, *ops_timer;
    struct http *http;
    struct expiry_state expiry;
    time_t expiry_last;
    uint64_t watchdog_usec;
    int listen_fd;        /* socket activation: the inherited socket, else -1 */
    int loop_batch;       /* the loop thread goes SCHED_BATCH, workers stay SCHED_OTHER */
    int ops_state;        /* last health state told to systemd, -1 none */
    /* board: update confirmed, signatures seen at the last tick, test hook */
    int board_confirmed;
    uint64_t board_signed;
    struct event *sig_usr2;
    char ops_reason[200];
};

static void daemon_ops_reloaded(struct daemon *d);

/* The console's commits take effect through the SIGHUP path. */
void daemon_request_reload(void)
{
    raise(SIGHUP);
}

/* The provisioning console, when configured; signing goes on without it. */
static void daemon_console_start(struct daemon *d)
{
    struct admin_env env = {d->base, &d->cfg, &d->creds, &d->pool, d->svc, daemon_request_reload};
    int rc;
    if (strcmp(d->cfg.console, "none") == 0)
        return;
    if (!d->cfg.store_dir[0]) {
        log_error("console: needs store_dir (where provisioning is kept); console not started");
        return;
    }
    if ((rc = admin_new(&env, &d->admin)) == STI_OK &&
        (rc = console_start(d->base, &d->cfg, d->admin, &d->console)) != STI_OK) {
        admin_free(d->admin);
        d->admin = NULL;
    }
    if (rc)
        log_error("console not started: %s (%s)", sti_strerror(rc), sti_errname(rc));
}

static void usage(void)
{
    fprintf(stderr, "usage: stisignd -c CONFIG [--check | --update IMAGE | --update-status]\n");
}

#define DRAIN_MS 5000

/* During shutdown: leave once every request taken is answered and sent,
 * or when the drain time is up. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct svc_counters cnt;
    (void)fd;
    (void)what;
    svc_counters(d->svc, &cnt);
    if ((cnt.in_flight == 0 && rpc_server_unsent(d->srv) == 0) || ++d->drain_ticks > DRAIN_MS / 10) {
        if (cnt.in_flight)
            log_warn("shutdown: %u request(s) still in flight after %d ms", cnt.in_flight,
                     DRAIN_MS);
        event_base_loopbreak(d->base);
    }
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    (void)what;
    if (d->drain) {
        event_base_loopbreak(d->base); /* a second signal: leave now */
        return;
    }
    log_info("signal %d: no new connections; answering what is in flight", (int)sig);
    systemd_notify("STOPPING=1");
    rpc_server_stop_accepting(d->srv);
    struct timeval tv = {0, 10000};
    d->drain = event_new(d->base, -1, EV_PERSIST, on_drain_tick, d);
    event_add(d->drain, &tv);
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

static int daemon_pool_cfg(struct daemon *d, const struct cred_table *creds, struct pool_cfg *pc)
{
    int rc;
    memset(pc, 0, sizeof *pc);
    pc->nworkers = d->cfg.workers;
    pc->mode = d->cfg.worker_mode;
    pc->window = d->cfg.window;
    pc->affinity = d->cfg.worker_affinity;
    pc->sched_other = d->loop_batch;
    pc->max_queue = d->cfg.max_queue;
    ssize_t n = readlink("/proc/self/exe", pc->self_exe, sizeof pc->self_exe - 1);
    if (n <= 0)
        return STI_EINTERNAL;
    pc->self_exe[n] = '\0';
    snprintf(pc->wc.module, sizeof pc->wc.module, "%s", d->cfg.module);
    struct hsm_key_sel dummy;
    if ((rc = hsm_uri_parse(d->cfg.token, &pc->wc.token, &dummy)))
        return rc;
    cred_key_sels(creds, pc->wc.keys, &pc->wc.nkeys);
    pc->wc.verify_sample = d->cfg.verify_sample;
    /* Session objects are seen by every session of a process: thread
     * workers share theirs with the console's key searches (libp11), so
     * only process workers sign from copies. */
    pc->wc.flags = d->cfg.key_session_copy && pc->mode == POOL_PROCESS ? WP_KEY_COPY : 0;
    pc->wc.sandbox = (uint8_t)d->cfg.sandbox;
    return hsm_pin_read(d->cfg.pin_file, pc->wc.pin, sizeof pc->wc.pin, &pc->wc.pin_len);
}

/* Who may connect, per-peer scopes, the iat window and the clock floor. */
static int daemon_policy(const struct cfg *c, struct svc_policy *pol)
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
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    d->start_failed = 1;
    event_base_loopbreak(d->base);
}

static void on_result(void *arg, uint32_t tag, int status, const uint8_t *sig)
{
    struct daemon *d = arg;
    if (selftest_tag(tag)) { /* never a service job slot (selftest.h) */
        selftest_on_result(d->selftest, tag, status, sig);
        return;
    }
    svc_on_result(d->svc, tag, status, sig);
}

static void on_pool_state_start(void *arg)
{
    struct daemon *d = arg;
    struct pool_stats st;
    if (!d->pool)
        return;
    pool_stats(d->pool, &st);
    if (d->srv) {
        svc_on_pool_state(d->svc);
        return;
    }
    /* Still starting: stop waiting once every worker has had its first
     * try and one is ready, or when the token refused the PIN. A missing
     * token is retried until the start timeout. */
    if ((st.ready > 0 && st.started == st.workers) || st.login_refused)
        event_base_loopbreak(d->base);
}

/* Runs the loop until one worker is ready; then checks the credentials
 * against the public keys the token reports. */
static int daemon_wait_ready(struct daemon *d)
{
    struct timeval tv = {d->cfg.start_timeout_ms / 1000, (d->cfg.start_timeout_ms % 1000) * 1000};
    struct pool_stats st;
    d->start_timer = evtimer_new(d->base, on_start_timeout, d);
    evtimer_add(d->start_timer, &tv);
    event_base_dispatch(d->base);
    evtimer_del(d->start_timer);
    pool_stats(d->pool, &st);
    if (st.ready == 0) {
        int why = st.last_open_error ? st.last_open_error : STI_ETIMEOUT;
        log_error("HSM workers could not start: %s (%s)", sti_strerror(why), sti_errname(why));
        return why;
    }
    for (size_t i = 0; i < d->creds->n; i++) {
        struct cred *c = &d->creds->c[i];
        uint8_t point[HSM_EC_POINT_LEN];
        int rc = pool_key_point(d->pool, c->key_idx, point);
        if (rc == STI_OK)
            rc = cred_bind(c, point);
        if (rc) {
            log_error("credential %s: %s (%s)", c->name, sti_strerror(rc), sti_errname(rc));
            return rc;
        }
        time_t now = time(NULL);
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

/* ---- SIGHUP: reload the credentials without dropping a connection ---- */

static void reload_drop_new(struct daemon *d)
{
    if (d->new_pool)
        pool_free(d->new_pool);
    d->new_pool = NULL;
    if (d->new_creds) {
        cred_free(d->new_creds);
        free(d->new_creds);
    }
    d->new_creds = NULL;
    evtimer_del(d->reload_timeout);
}

/* The old pool and table go once no job of theirs is left. */
static void on_retire_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct pool_stats st = {0};
    (void)fd;
    (void)what;
    if (d->old_pool)
        pool_stats(d->old_pool, &st);
    if (st.in_flight || st.queued)
        return;
    event_del(d->retire_ev);
    if (d->old_pool)
        pool_free(d->old_pool);
    d->old_pool = NULL;
    cred_free(d->old_creds);
    free(d->old_creds);
    d->old_creds = NULL;
    log_info("reload: previous workers retired");
}

/* Runs outside the pool's own callbacks (pool_free is not reentrant). */
static void on_reload_step(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct pool_stats st;
    (void)fd;
    (void)what;
    if (!d->new_pool)
        return;
    pool_stats(d->new_pool, &st);
    if (st.login_refused || (what & EV_TIMEOUT && !d->reload_ready)) {
        log_error("reload: new HSM workers did not start (%s); keeping the running credentials",
                  st.login_refused ? "PIN refused" : "timeout");
        reload_drop_new(d);
        return;
    }
    if (!(st.ready > 0 && st.started == st.workers))
        return;
    d->reload_ready = 1;
    for (size_t i = 0; i < d->new_creds->n; i++) {
        struct cred *c = &d->new_creds->c[i];
        uint8_t point[HSM_EC_POINT_LEN];
        int rc = pool_key_point(d->new_pool, c->key_idx, point);
        if (rc == STI_OK)
            rc = cred_bind(c, point);
        if (rc) {
            log_error("reload: credential %s: %s; keeping the running credentials", c->name,
                      sti_strerror(rc));
            reload_drop_new(d);
            return;
        }
    }
    evtimer_del(d->reload_timeout);
    d->old_pool = d->pool;
    d->old_creds = d->creds;
    d->pool = d->new_pool;
    d->creds = d->new_creds;
    d->new_pool = NULL;
    d->new_creds = NULL;
    svc_swap(d->svc, d->pool, d->creds);
    daemon_ops_reloaded(d);
    struct timeval tv = {0, 100000};
    event_add(d->retire_ev, &tv);
    log_info("reload: signing with %zu credential(s)", d->creds->n);
}

static void on_reload_pool_state(void *arg)
{
    struct daemon *d = arg;
    event_active(d->reload_ev, EV_READ, 0);
}

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    struct cfg nc;
    struct pool_cfg pc;
    char err[512];
    (void)sig;
    (void)what;
    if (d->new_pool || d->old_creds || d->drain) {
        log_warn("reload: one is already under way; try again shortly");
        return;
    }
    struct svc_policy pol;
    cfg_defaults(&nc);
    if (cfg_load(d->cfgpath, &nc, err, sizeof err) != STI_OK) {
        log_error("reload: %s; keeping the running configuration", err);
        return;
    }
    if (daemon_policy(&nc, &pol) != STI_OK) { /* it said which scope */
        log_error("reload: keeping the running configuration");
        return;
    }
    /* Who may sign what applies at once, to open connections too: a
     * narrowed scope or a removed peer must not wait for a restart. */
    svc_set_policy(d->svc, &pol);
    log_info("reload: access rules applied ([peer] sections, allow_uid, allow_gid, iat window), "
             "from each connection's next request");
    /* Credentials reload; what the process was started with stays. */
    if (strcmp(nc.socket, d->cfg.socket) || strcmp(nc.module, d->cfg.module) ||
        nc.workers != d->cfg.workers || nc.worker_mode != d->cfg.worker_mode ||
        nc.worker_affinity != d->cfg.worker_affinity ||
        nc.loop_sched_batch != d->cfg.loop_sched_batch)
        log_warn("reload: socket, module and worker settings take effect at restart");
    struct cred_table *t = calloc(1, sizeof *t);
    if (!t || cred_load(t, &nc, err, sizeof err) != STI_OK) {
        log_error("reload: %s; keeping the running credentials", t ? err : "out of memory");
        free(t);
        return;
    }
    memcpy(d->cfg.cred, nc.cred, sizeof nc.cred);
    d->cfg.ncred = nc.ncred;
    memcpy(d->cfg.pin_file, nc.pin_file, sizeof nc.pin_file);
    memcpy(d->cfg.token, nc.token, sizeof nc.token); /* the console may have set it */
    d->cfg.verify_sample = nc.verify_sample;
    d->cfg.key_session_copy = nc.key_session_copy;
    d->cfg.sandbox = nc.sandbox; /* the new workers': log can be had without a restart */
    if (!nc.token[0]) {
        /* No token any more (a factory reset): stop signing with what was
         * loaded; the running workers retire. */
        d->old_pool = d->pool;
        d->old_creds = d->creds;
        d->pool = NULL;
        d->creds = t;
        svc_swap(d->svc, NULL, t);
        struct timeval tv = {0, 100000};
        event_add(d->retire_ev, &tv);
        log_warn("reload: no token configured: not signing until provisioned");
        return;
    }
    d->new_creds = t;
    d->reload_ready = 0;
    int rc = daemon_pool_cfg(d, t, &pc);
    if (rc == STI_OK)
        rc = pool_start(d->base, &pc, on_result, on_reload_pool_state, d, &d->new_pool);
    hsm_wipe(&pc, sizeof pc);
    if (rc) {
        log_error("reload: %s; keeping the running credentials", sti_strerror(rc));
        reload_drop_new(d);
        return;
    }
    struct timeval tv = {d->cfg.start_timeout_ms / 1000, (d->cfg.start_timeout_ms % 1000) * 1000};
    evtimer_add(d->reload_timeout, &tv);
    log_info("reload: starting workers for %zu credential(s)", t->n);
}

/* Starts the HSM workers and binds the credentials, or says why not. */
static int daemon_start_pool(struct daemon *d, struct pool_cfg *pc)
{
    int rc;
    if (!d->cfg.token[0])
        return STI_EHSM_TOKEN;
    rc = daemon_pool_cfg(d, d->creds, pc);
    if (rc == STI_OK)
        rc = pool_start(d->base, pc, on_result, on_pool_state_start, d, &d->pool);
    hsm_wipe(pc, sizeof *pc);
    if (rc) {
        log_error("HSM workers: %s (%s)", sti_strerror(rc), sti_errname(rc));
        return rc;
    }
    if ((rc = daemon_wait_ready(d))) {
        pool_free(d->pool);
        d->pool = NULL;
    }
    return rc;
}

/* The RPC verify operation, when a trust anchor is configured. */
static int daemon_start_verifier(struct daemon *d)
{
    struct verifier_cfg vc;
    if (!d->cfg.verify_trust_anchor[0])
        return STI_OK;
    memset(&vc, 0, sizeof vc);
    snprintf(vc.trust_anchor, sizeof vc.trust_anchor, "%s", d->cfg.verify_trust_anchor);
    snprintf(vc.cache_dir, sizeof vc.cache_dir, "%s", d->cfg.verify_cache_dir);
    snprintf(vc.tls_ca, sizeof vc.tls_ca, "%s", d->cfg.verify_tls_ca);
    vc.max_age = d->cfg.verify_max_age;
    vc.allow_fetch = d->cfg.verify_fetch;
    vc.spc_policy =
        strcmp(d->cfg.verify_spc_policy, "allow") == 0 ? SCOPE_SPC_ALLOW : SCOPE_SPC_DENY;
    vc.threads = d->cfg.verify_threads;
    vc.max_queue = 256;
    int rc = verifier_start(d->base, &vc, svc_on_verified, d->svc, &d->vfy);
    if (rc) {
        log_error("verifier: %s", sti_strerror(rc));
        return rc;
    }
    svc_set_verifier(d->svc, d->vfy);
    return STI_OK;
}

/* ---- self-test, metrics/STI-CR, expiry warnings, systemd ---- */

static void daemon_selftest_done(void *arg, int rc, const char *why)
{
    struct daemon *d = arg;
    char reason[200];
    d->st_pending = 0;
    if (rc) {
        snprintf(reason, sizeof reason, "self-test failed: %s; signing refused until fixed", why);
        svc_set_fault(d->svc, STI_EHSM_SELFTEST, reason);
    } else {
        svc_set_fault(d->svc, 0, NULL);
        log_info("self-test passed: every credential's key signs and mbedTLS verifies it; "
                 "known answers match");
    }
    if (!d->srv)
        event_base_loopbreak(d->base); /* the power-on wait in daemon_selftest_poweron */
}

static void on_selftest_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    (void)fd;
    (void)what;
    d->st_timed_out = 1;
    event_base_loopbreak(d->base);
}

/* Before the RPC server opens: the loop runs (workers answer) until every
 * credential's test signature is back. */
static void daemon_selftest_poweron(struct daemon *d)
{
    struct timeval tv = {d->cfg.start_timeout_ms / 1000, (d->cfg.start_timeout_ms % 1000) * 1000};
    d->st_pending = 1;
    selftest_run(d->selftest, d->pool, d->creds, daemon_selftest_done, d);
    if (!d->st_pending)
        return;
    d->st_timer = evtimer_new(d->base, on_selftest_timeout, d);
    evtimer_add(d->st_timer, &tv);
    /* The pool's state callback may break the loop too: wait on. */
    while (d->st_pending && !d->st_timed_out)
        event_base_dispatch(d->base);
    evtimer_del(d->st_timer);
    if (d->st_pending) {
        log_error("self-test: no answer from the token within %d ms; signing refused",
                  d->cfg.start_timeout_ms);
        svc_set_fault(d->svc, STI_EHSM_SELFTEST,
                      "self-test failed: the token did not answer the test signatures");
    }
}

/* The board's part of the tick: the watchdog is kicked under the same
 * condition as systemd's WATCHDOG=1; LEDs follow the health state; the
 * activity LED blinks while signatures go out; a trial boot of an update
 * confirms itself once the self-test passed and the daemon serves. */
static void daemon_board_tick(struct daemon *d, int state)
{
    struct svc_counters cnt;
    char status[256];
    if (d->cfg.watchdog_ms && state != WIRE_STATE_DOWN)
        bsp_wdt_kick();
    bsp_led_set(BSP_LED_READY, state != WIRE_STATE_DOWN ? BSP_LED_ON : BSP_LED_OFF);
    bsp_led_set(BSP_LED_FAULT, state == WIRE_STATE_DOWN       ? BSP_LED_ON
                               : state == WIRE_STATE_DEGRADED ? BSP_LED_BLINK
                                                              : BSP_LED_OFF);
    svc_counters(d->svc, &cnt);
    bsp_led_set(BSP_LED_ACTIVITY, cnt.signed_ok != d->board_signed ? BSP_LED_BLINK : BSP_LED_OFF);
    d->board_signed = cnt.signed_ok;
    if (!d->board_confirmed && state == WIRE_STATE_READY && !d->st_pending) {
        d->board_confirmed = 1;
        bsp_update_status(status, sizeof status);
        int trial = strstr(status, " trial=yes ") != NULL;
        if (bsp_update_confirm() != STI_OK) {
            log_error("board: cannot confirm the running firmware slot");
        } else if (trial) {
            bsp_update_status(status, sizeof status);
            log_info("board: self-test passed and serving: firmware confirmed (%s)", status);
        }
    }
}

/* Every tick: the health state to systemd (STATUS= when it changes,
 * WATCHDOG=1 only while the daemon can sign) and, hourly, the expiry
 * warnings. That the tick runs at all proves the loop is alive. */
static void on_ops_tick(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    char reason[200], msg[256];
    time_t now = time(NULL);
    (void)fd;
    (void)what;
    int state = svc_health_state(d->svc, reason, sizeof reason);
    if (d->watchdog_usec && state != WIRE_STATE_DOWN)
        systemd_notify("WATCHDOG=1");
    daemon_board_tick(d, state);
    if (state != d->ops_state || strcmp(reason, d->ops_reason) != 0) {
        d->ops_state = state;
        snprintf(d->ops_reason, sizeof d->ops_reason, "%s", reason);
        snprintf(msg, sizeof msg, "STATUS=%s%s%s",
                 state == WIRE_STATE_READY      ? "ready"
                 : state == WIRE_STATE_DEGRADED ? "degraded"
                                                : "down",
                 reason[0] ? ": " : "", reason);
        systemd_notify(msg);
    }
    if (now - d->expiry_last >= 3600) {
        d->expiry_last = now;
        expiry_check(&d->expiry, d->creds, now);
    }
}

/* After a reload took over: test the new keys, re-encode the published
 * chains, warn about expiry. Signing goes on during the test (a few ms);
 * a failure stops it. */
static void daemon_ops_reloaded(struct daemon *d)
{
    d->st_pending = 1;
    selftest_run(d->selftest, d->pool, d->creds, daemon_selftest_done, d);
    http_set_creds(d->http, d->creds);
    d->expiry_last = time(NULL);
    expiry_check(&d->expiry, d->creds, d->expiry_last);
}

/* At start, before the signing socket exists: a bad http_listen stops the
 * daemon before any client can connect. Nothing is served before the
 * event loop runs. */
static int daemon_http_start(struct daemon *d)
{
    int rc = STI_OK;
    if (d->cfg.http_listen[0]) {
        struct http_env env = {d->base, d->svc, &d->pool, &d->creds, d->selftest};
        if ((rc = http_start(&env, d->cfg.http_listen, d->cfg.publish_chain, &d->http)))
            return rc;
        http_set_creds(d->http, d->creds);
    }
    return rc;
}

/* At start, once the RPC server is open: timers, READY=1. */
static int daemon_ops_start(struct daemon *d)
{
    int rc;
    d->expiry_last = time(NULL);
    expiry_check(&d->expiry, d->creds, d->expiry_last);
    d->watchdog_usec = systemd_watchdog_usec();
    /* Half the watchdog interval, as sd_watchdog_enabled(3) advises. */
    uint64_t us = d->watchdog_usec ? d->watchdog_usec / 2 : 10000000;
    /* The board's watchdog gets three kicks per timeout; LEDs follow
     * within a second. */
    if (d->cfg.watchdog_ms && us > (uint64_t)d->cfg.watchdog_ms * 1000 / 3)
        us = (uint64_t)d->cfg.watchdog_ms * 1000 / 3;
    if (us > 1000000)
        us = 1000000;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    d->ops_state = -1;
    d->ops_timer = event_new(d->base, -1, EV_PERSIST, on_ops_tick, d);
    if (!d->ops_timer)
        return STI_ENOMEM;
    event_add(d->ops_timer, &tv);
    if (d->cfg.watchdog_ms) {
        if ((rc = bsp_wdt_start(d->cfg.watchdog_ms)) != STI_OK)
            log_error("board: watchdog not started: %s", sti_strerror(rc));
        else
            log_info("board: watchdog armed, %u ms, kicked while healthy", d->cfg.watchdog_ms);
    }
    systemd_notify("READY=1");
    on_ops_tick(-1, 0, d);
    return STI_OK;
}

/* The board from the configuration; boot: the daemon's start (update
 * slot check, reset reason), else only for --update. */
static int daemon_board_init(struct daemon *d, int boot)
{
    struct bsp_board_cfg bc;
    char why[64], status[256];
    memset(&bc, 0, sizeof bc);
    if (snprintf(bc.state_dir, sizeof bc.state_dir, "%s", d->cfg.board_state_dir) >=
            (int)sizeof bc.state_dir ||
        snprintf(bc.wdt_device, sizeof bc.wdt_device, "%s", d->cfg.watchdog_device) >=
            (int)sizeof bc.wdt_device ||
        snprintf(bc.vendor_key, sizeof bc.vendor_key, "%s", d->cfg.update_vendor_key) >=
            (int)sizeof bc.vendor_key) {
        log_error("board: a board path is longer than %d bytes", BSP_PATH_MAX - 1);
        return STI_ETOOLONG;
    }
    for (int i = 0; i < 3; i++)
        snprintf(bc.led_name[i], sizeof bc.led_name[i], "%s", d->cfg.led_name[i]);
    int rc = bsp_init(&bc);
    if (rc) {
        log_error("board: %s", sti_strerror(rc));
        return rc;
    }
    if (!boot)
        return STI_OK;
    bsp_boot();
    bsp_wdt_last_reset(why, sizeof why);
    bsp_update_status(status, sizeof status);
    log_info("board: last reset: %s; firmware %s", why, status);
    if (!bsp_clock_ok((time_t)STI_BUILD_EPOCH))
        log_warn("board: the clock is before the firmware build date");
    for (int i = 0; i < 3; i++) /* until the first health tick */
        bsp_led_set((enum bsp_led)i, BSP_LED_OFF);
    return STI_OK;
}

/* Test hook (test_hooks = yes): SIGUSR2 wedges the event loop for three
 * watchdog timeouts, so a test can starve the watchdog. */
static void on_sigusr2(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;
    unsigned ms = d->cfg.watchdog_ms ? 3 * d->cfg.watchdog_ms : 3000;
    (void)sig;
    (void)what;
    log_warn("test hook: SIGUSR2: the event loop blocks for %u ms", ms);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* The loop thread alone becomes SCHED_BATCH, once the other threads have
 * started: a loop woken by a client or a worker's answers then waits for
 * the running worker's slice instead of preempting it, and takes what has
 * piled up in one pass. At full load that halves the loop's and the
 * client's wake-ups; an idle CPU still runs it at once. Workers started
 * later are put back to SCHED_OTHER by the pool (pool_cfg.sched_other). */
static void daemon_loop_sched(struct daemon *d)
{
    struct sched_param sp = {0};
    if (!d->loop_batch) {
        if (d->cfg.loop_sched_batch)
            log_info("event loop: left at its scheduling policy %d", sched_getscheduler(0));
        return;
    }
    if (sched_setscheduler(0, SCHED_BATCH, &sp) != 0)
        log_warn("event loop: SCHED_BATCH refused (%s); running SCHED_OTHER", strerror(errno));
    else
        log_info("event loop: SCHED_BATCH; HSM workers SCHED_OTHER");
}

static int daemon_run(struct daemon *d)
{
    int rc;
    struct pool_cfg pc;
    struct rpc_server_cfg sc;
    struct rpc_handler h;
    char err[512] = "";

    if ((rc = daemon_board_init(d, 1)))
        return rc;
    d->creds = calloc(1, sizeof *d->creds);
    if (!d->creds)
        return STI_ENOMEM;
    if ((rc = cred_load(d->creds, &d->cfg, err, sizeof err))) {
        log_error("%s", err);
        return rc;
    }
    d->base = event_base_new();
    if (!d->base)
        return STI_ENOMEM;
    /* An operator who started the daemon under another policy (chrt) keeps
     * it for every thread. */
    d->loop_batch = d->cfg.loop_sched_batch && sched_getscheduler(0) == SCHED_OTHER;
    struct svc_policy pol;
    if ((rc = daemon_policy(&d->cfg, &pol)))
        return rc;
    if ((rc = svc_new(d->creds, &pol, d->cfg.max_queue + d->cfg.workers * d->cfg.window,
                      &d->svc))) {
        for (size_t i = 0; i < pol.npeer; i++)
            scope_free(&pol.peer[i].scope);
        return rc;
    }
    if ((rc = daemon_start_pool(d, &pc))) {
        /* With a store the console can fix what is missing: run
         * unprovisioned (health says why) rather than exit. */
        if (!d->cfg.store_dir[0])
            return rc;
        log_warn("not signing until provisioned: %s (%s)", sti_strerror(rc), sti_errname(rc));
    }
    if ((rc = selftest_new(&d->selftest)))
        return rc;
    daemon_selftest_poweron(d);

    rpc_server_cfg_defaults(&sc);
    sc.path = d->cfg.socket;
    sc.listen_fd = d->listen_fd;
    sc.mode = d->cfg.socket_mode;
    sc.max_conns = d->cfg.max_conns;
    sc.max_pending = d->cfg.max_pending;
    sc.frame_timeout_ms = d->cfg.frame_timeout_ms;
    sc.write_timeout_ms = d->cfg.write_timeout_ms;
    if (d->cfg.socket_group[0]) {
        struct group *g = getgrnam(d->cfg.socket_group);
        if (!g) {
            log_error("socket_group %s: no such group", d->cfg.socket_group);
            return STI_ECONFIG;
        }
        sc.gid = g->gr_gid;
    }
    if ((rc = daemon_http_start(d)))
        return rc;
    svc_handler(d->svc, &h);
    if ((rc = rpc_server_start(d->base, &sc, &h, &d->srv))) {
        log_error("socket %s: %s", d->cfg.socket, sti_strerror(rc));
        return rc;
    }
    svc_attach(d->svc, d->pool, d->srv);
    if ((rc = daemon_start_verifier(d)))
        return rc;

    d->sig_term = evsignal_new(d->base, SIGTERM, on_signal, d);
    d->sig_int = evsignal_new(d->base, SIGINT, on_signal, d);
    evsignal_add(d->sig_term, NULL);
    evsignal_add(d->sig_int, NULL);
    d->sig_hup = evsignal_new(d->base, SIGHUP, on_sighup, d);
    d->reload_ev = event_new(d->base, -1, 0, on_reload_step, d);
    d->reload_timeout = evtimer_new(d->base, on_reload_step, d);
    d->retire_ev = event_new(d->base, -1, EV_PERSIST, on_retire_tick, d);
    evsignal_add(d->sig_hup, NULL);
    if (d->cfg.test_hooks) {
        d->sig_usr2 = evsignal_new(d->base, SIGUSR2, on_sigusr2, d);
        evsignal_add(d->sig_usr2, NULL);
    }
    daemon_console_start(d);
    if (d->cfg.pid_file[0]) {
        FILE *f = fopen(d->cfg.pid_file, "w");
        if (f) {
            fprintf(f, "%ld\n", (long)getpid());
            fclose(f);
        }
    }
    if ((rc = daemon_ops_start(d)))
        return rc;
    daemon_loop_sched(d);
    log_info("ready: signing on %s%s with %zu credential(s), %u HSM worker(s) (%s)",
             d->cfg.socket, d->listen_fd >= 0 ? " (socket from systemd)" : "", d->creds->n,
             d->cfg.workers, d->cfg.worker_mode == POOL_PROCESS ? "process" : "thread");
    event_base_dispatch(d->base);
    return STI_OK;
}

static void daemon_free(struct daemon *d)
{
    bsp_shutdown();
    if (d->sig_usr2)
        event_free(d->sig_usr2);
    http_free(d->http);
    if (d->ops_timer)
        event_free(d->ops_timer);
    if (d->st_timer)
        event_free(d->st_timer);
    selftest_free(d->selftest);
    systemd_close();
    verifier_free(d->vfy);
    console_stop(d->console);
    admin_free(d->admin);
    if (d->srv)
        rpc_server_free(d->srv);
    if (d->pool)
        pool_free(d->pool);
    svc_free(d->svc);
    if (d->sig_term)
        event_free(d->sig_term);
    if (d->sig_int)
        event_free(d->sig_int);
    if (d->start_timer)
        event_free(d->start_timer);
    if (d->drain)
        event_free(d->drain);
    if (d->new_pool)
        pool_free(d->new_pool);
    if (d->old_pool)
        pool_free(d->old_pool);
    struct cred_table *tables[] = {d->creds, d->new_creds, d->old_creds};
    for (size_t i = 0; i < 3; i++)
        if (tables[i]) {
            cred_free(tables[i]);
            free(tables[i]);
        }
    struct event *evs[] = {d->sig_hup, d->reload_ev, d->retire_ev, d->reload_timeout};
    for (size_t i = 0; i < 4; i++)
        if (evs[i])
            event_free(evs[i]);
    /* Last: the pools and events above still point into the base. */
    if (d->base)
        event_base_free(d->base);
    if (d->cfg.pid_file[0])
        unlink(d->cfg.pid_file);
}

int main(int argc, char **argv)
{
    static struct daemon d;
    const char *cfgpath = NULL, *update = NULL;
    int check_only = 0, update_status = 0;

    /* Secrets live in this process: no core dumps, no ptrace by others. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc == 2 && strcmp(argv[1], "--hsm-worker") == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        /* Before the PIN arrives: nothing it execs could gain privileges.
         * The rest of its confinement waits for its session (worker.c). */
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        signal(SIGPIPE, SIG_IGN);
        return worker_run(3, 1) == STI_OK ? 0 : 1;
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            cfgpath = argv[++i];
        else if (strcmp(argv[i], "--check") == 0)
            check_only = 1;
        else if (strcmp(argv[i], "--update") == 0 && i + 1 < argc)
            update = argv[++i];
        else if (strcmp(argv[i], "--update-status") == 0)
            update_status = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!cfgpath) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();
    cfg_defaults(&d.cfg);
    char err[512];
    d.cfgpath = cfgpath;
    if (cfg_load(cfgpath, &d.cfg, err, sizeof err) != STI_OK) {
        fprintf(stderr, "stisignd: %s\n", err);
        return 1;
    }
    enum log_level lvl = LOG_LVL_INFO;
    log_level_parse(d.cfg.log_level, &lvl);
    log_setup("stisignd", d.cfg.log_syslog, lvl);
    if (update || update_status) { /* exit code: enum bsp_update_rc */
        char msg[512];
        if (daemon_board_init(&d, 0))
            return 1;
        if (update_status) {
            bsp_update_status(msg, sizeof msg);
            printf("%s\n", msg);
            return 0;
        }
        int urc = bsp_update_install(update, msg, sizeof msg);
        fprintf(urc ? stderr : stdout, "stisignd: update: %s\n", msg);
        return urc;
    }
    if (check_only) {
        static struct cred_table t;
        int rc = cred_load(&t, &d.cfg, err, sizeof err);
        if (rc)
            fprintf(stderr, "stisignd: %s\n", err);
        else
            printf("configuration ok: %zu credential(s)\n", t.n);
        cred_free(&t);
        return rc ? 1 : 0;
    }
    d.listen_fd = systemd_listen_fd(); /* before anything could inherit the variables */
    int rc = daemon_run(&d);
    daemon_free(&d);
    return rc == STI_OK ? 0 : 1;
}
