/*
 * parent.c — the parent process: `stisignd -c FILE` as the operator starts
 * it (docs/architecture.md). It reads the configuration and the PIN
 * source, owns the store, the board (watchdog, LEDs, update slots) and the
 * console, binds the listening sockets and starts every other process:
 * the front (which serves them), the HSM workers the front asks for (each
 * configured here, PIN included, before the front gets its channel) and
 * the verifier. A child that dies is started again after a backoff. The
 * parent parses no byte that came from the network: only the front's
 * control messages (ctlproto.h), each through its bounded decoder.
 */
#define _GNU_SOURCE /* CPU_SET, SCHED_OTHER */
#include "parent.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "admin.h"
#include "bsp.h"
#include "child.h"
#include "cred.h"
#include "ctlproto.h"
#include "http.h"
#include "ipc.h"
#include "log.h"
#include "server.h"
#include "sti_err.h"
#include "systemd.h"
#include "wire.h"
#include "workproto.h"

#define BACKOFF_MIN_MS 50
#define BACKOFF_MAX_MS 2000
#define STOP_WAIT_MS 8000 /* the front's drain (5 s) and some */
#define MAX_WORKER_PIDS 1024
#define GENS_KEPT 3 /* configurations whose keys a worker may still be asked for */

/* What a worker of one configuration generation loads. */
struct gen_keys {
    uint32_t gen;
    struct hsm_key_sel keys[HSM_MAX_KEYS];
    uint16_t nkeys;
};

struct parent {
    struct cfg cfg;
    char cfgpath[CFG_PATH_MAX];
    char exe[CFG_PATH_MAX];
    struct event_base *base;
    int rpc_fd, http_fd, rpc_bound; /* listeners, kept for a restarted front */
    char rpc_staged[128];           /* bound, published at the first READY */
    /* the front */
    pid_t front_pid;
    int ctl;
    struct event *ctl_ev, *front_respawn;
    unsigned front_backoff_ms;
    int front_served; /* it has said READY once: a later death is restarted */
    uint8_t *rx;
    uint32_t gen;
    struct gen_keys kg[GENS_KEPT];
    struct cred_table *creds; /* of gen: what the console shows */
    /* the verifier */
    pid_t vfy_pid;
    struct event *vfy_respawn;
    unsigned vfy_backoff_ms;
    /* the HSM workers started for the front */
    pid_t worker[MAX_WORKER_PIDS];
    uint64_t worker_slot[MAX_WORKER_PIDS]; /* (pool << 8) | index it was started for */
    unsigned nworker;
    /* the front's health, for the watchdog, systemd, LEDs and the console */
    struct ctl_health health;
    int have_health;
    struct timespec health_at; /* when it came (CLOCK_MONOTONIC) */
    struct event *ops_timer;
    uint64_t board_signed;
    int board_confirmed, ops_state;
    char ops_reason[CTL_REASON_MAX];
    uint64_t watchdog_usec;
    int ready_notified;
    /* the console */
    struct admin *admin;
    struct console_io *console;
    /* signals and stopping */
    struct event *sig_term, *sig_int, *sig_hup, *sig_chld, *sig_usr2, *stop_timer;
    int stopping;
    int exit_code;
};

static void parent_start_front(struct parent *p);
static void parent_start_verifier(struct parent *p);

/* ---- configuration generations ---- */

static void parent_keys_record(struct parent *p, uint32_t gen, const struct cred_table *t)
{
    struct gen_keys *k = &p->kg[gen % GENS_KEPT];
    memset(k, 0, sizeof *k);
    k->gen = gen;
    cred_key_sels(t, k->keys, &k->nkeys);
}

static const struct gen_keys *parent_keys(const struct parent *p, uint32_t gen)
{
    const struct gen_keys *k = &p->kg[gen % GENS_KEPT];
    return k->gen == gen && gen ? k : NULL;
}

/* Loads and checks the configuration the way the front will read it; the
 * bytes of every file it reads go into fs. */
static int parent_load(struct parent *p, struct cfg *c, struct cfg_files *fs, uint32_t gen)
{
    char err[512];
    struct cred_table *t = calloc(1, sizeof *t);
    int rc = t ? STI_OK : STI_ENOMEM;
    cfg_defaults(c);
    if (rc == STI_OK && (rc = cfg_load(p->cfgpath, c, err, sizeof err)) != STI_OK)
        log_error("%s", err);
    if (rc == STI_OK && (rc = cfg_files_collect(p->cfgpath, c, fs, err, sizeof err)) != STI_OK)
        log_error("%s", err);
    if (rc == STI_OK && (rc = cred_load_files(t, c, fs, err, sizeof err)) != STI_OK)
        log_error("%s", err);
    if (rc == STI_OK) {
        parent_keys_record(p, gen, t);
        /* The table the console shows, from the configuration sent last. */
        struct cred_table *old = p->creds;
        p->creds = t;
        t = old;
    }
    if (t) {
        cred_free(t);
        free(t);
    }
    return rc;
}

/* ---- talking to the front ---- */

static int parent_send(struct parent *p, const uint8_t *msg, size_t n, int fd)
{
    if (p->ctl < 0)
        return STI_ECLOSED;
    return ipc_send(p->ctl, msg, n, fd);
}

static int parent_send_files(struct parent *p, const struct cfg_files *fs, uint32_t gen)
{
    size_t n;
    int rc = STI_OK;
    for (unsigned i = 0; rc == STI_OK && i < fs->n; i++) {
        rc = ctl_file_encode(fs->f[i].path, fs->f[i].data, fs->f[i].len, p->rx, CTL_MSG_MAX, &n);
        if (rc == STI_OK)
            rc = parent_send(p, p->rx, n, -1);
    }
    struct ctl_files_end end = {gen, (uint16_t)fs->n};
    if (rc == STI_OK && (rc = ctl_files_end_encode(&end, p->rx, CTL_MSG_MAX, &n)) == STI_OK)
        rc = parent_send(p, p->rx, n, -1);
    return rc;
}

static int parent_worker_known(struct parent *p, pid_t pid, int remove)
{
    for (unsigned i = 0; i < p->nworker; i++)
        if (p->worker[i] == pid) {
            if (remove) {
                p->nworker--;
                p->worker[i] = p->worker[p->nworker];
                p->worker_slot[i] = p->worker_slot[p->nworker];
            }
            return 1;
        }
    return 0;
}

/* A worker: its channel, its process (bound to cpu, SCHED_OTHER when
 * asked), its CONFIG with the PIN written into the channel here; then the
 * front gets the channel. The PIN lives in this process only while this
 * function runs. */
static int parent_worker(struct parent *p, const struct ctl_spawn *sp, int *fd, pid_t *pid)
{
    static struct wp_config wc;
    static uint8_t msg[WP_CONFIG_MAX];
    const struct gen_keys *k = parent_keys(p, sp->gen);
    int sv[2] = {-1, -1}, rc;
    size_t len = 0;
    if (!k)
        return STI_ECONFIG; /* a configuration this parent no longer has */
    if (p->nworker == MAX_WORKER_PIDS)
        return STI_EBUSY;
    /* One process per slot: a front asks again only once the slot's worker
     * is gone, and one that asks more cannot make the parent fork without
     * end; the earlier one is ended. */
    uint64_t slot = ((uint64_t)sp->pool << 8) | sp->index;
    for (unsigned i = 0; i < p->nworker; i++)
        if (p->worker_slot[i] == slot)
            kill(p->worker[i], SIGKILL);
    memset(&wc, 0, sizeof wc);
    snprintf(wc.module, sizeof wc.module, "%s", p->cfg.module);
    struct hsm_key_sel dummy;
    STI_TRY(hsm_uri_parse(p->cfg.token, &wc.token, &dummy));
    memcpy(wc.keys, k->keys, sizeof k->keys);
    wc.nkeys = k->nkeys;
    wc.verify_sample = p->cfg.verify_sample;
    wc.flags = p->cfg.key_session_copy ? WP_KEY_COPY : 0;
    wc.sandbox = (uint8_t)p->cfg.sandbox;
    STI_TRY(hsm_pin_read(p->cfg.pin_file, wc.pin, sizeof wc.pin, &wc.pin_len));
    STI_TRY(wp_config_encode(&wc, msg, sizeof msg, &len));
    STI_TRY(ipc_pair(sv));
    pid_t child = fork();
    STI_CHECK(child >= 0, STI_EINTERNAL);
    if (child == 0) {
        cpu_set_t one;
        struct sched_param other = {0};
        CPU_ZERO(&one);
        if (sp->cpu >= 0) {
            CPU_SET(sp->cpu, &one);
            (void)sched_setaffinity(0, sizeof one, &one); /* best effort */
        }
        if (sp->sched_other)
            (void)sched_setscheduler(0, SCHED_OTHER, &other);
        if (dup2(sv[1], 3) < 0)
            _exit(127);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        char *argv[] = {(char *)"stisignd", (char *)"--hsm-worker", NULL};
        execv(p->exe, argv);
        _exit(127);
    }
    p->worker[p->nworker] = child;
    p->worker_slot[p->nworker++] = slot;
    close(sv[1]);
    sv[1] = -1;
    /* The worker reads it first thing; the front never sees it. */
    STI_TRY(ipc_send(sv[0], msg, len, -1));
    *fd = sv[0];
    sv[0] = -1;
    *pid = child;
    rc = STI_OK;
out:
    hsm_wipe(&wc, sizeof wc);
    hsm_wipe(msg, sizeof msg);
    if (sv[0] >= 0)
        close(sv[0]);
    if (sv[1] >= 0)
        close(sv[1]);
    return rc;
}

static void parent_on_spawn(struct parent *p, const uint8_t *m, size_t n)
{
    struct ctl_spawn sp;
    struct ctl_worker w = {0, 0, 0, STI_EPROTO_FRAME};
    int fd = -1;
    pid_t pid = 0;
    if (ctl_spawn_decode(m, n, &sp) == STI_OK) {
        w.pool = sp.pool;
        w.index = sp.index;
        int rc = sp.index < p->cfg.workers ? parent_worker(p, &sp, &fd, &pid) : STI_EINVAL;
        w.status = (uint16_t)rc;
        w.pid = rc ? 0 : (uint32_t)pid;
        if (rc)
            log_error("HSM worker %u: not started: %s", sp.index, sti_strerror(rc));
    }
    uint8_t msg[32];
    size_t len;
    if (ctl_worker_encode(&w, msg, sizeof msg, &len) == STI_OK)
        parent_send(p, msg, len, fd);
    if (fd >= 0)
        close(fd); /* the front has its own copy now */
}

/* The board's part of a health report: LEDs follow the state; the
 * activity LED blinks while signatures go out; a trial boot of an update
 * confirms itself once the self-test passed and the front serves. */
static void parent_board(struct parent *p, const struct ctl_health *h)
{
    char status[256];
    int state = h->state;
    bsp_led_set(BSP_LED_READY, state != WIRE_STATE_DOWN ? BSP_LED_ON : BSP_LED_OFF);
    bsp_led_set(BSP_LED_FAULT, state == WIRE_STATE_DOWN       ? BSP_LED_ON
                               : state == WIRE_STATE_DEGRADED ? BSP_LED_BLINK
                                                              : BSP_LED_OFF);
    bsp_led_set(BSP_LED_ACTIVITY, h->signed_ok != p->board_signed ? BSP_LED_BLINK : BSP_LED_OFF);
    p->board_signed = h->signed_ok;
    if (!p->board_confirmed && state == WIRE_STATE_READY && h->selftest == 1) {
        p->board_confirmed = 1;
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

static void parent_on_health(struct parent *p, const uint8_t *m, size_t n)
{
    static struct ctl_health h;
    char msg[256];
    if (ctl_health_decode(m, n, &h) != STI_OK) {
        log_error("front: malformed HEALTH message");
        return;
    }
    p->health = h;
    p->have_health = 1;
    clock_gettime(CLOCK_MONOTONIC, &p->health_at);
    parent_board(p, &h);
    if (h.state != p->ops_state || strcmp(h.reason, p->ops_reason) != 0) {
        p->ops_state = h.state;
        snprintf(p->ops_reason, sizeof p->ops_reason, "%s", h.reason);
        snprintf(msg, sizeof msg, "STATUS=%s%s%s",
                 h.state == WIRE_STATE_READY      ? "ready"
                 : h.state == WIRE_STATE_DEGRADED ? "degraded"
                                                  : "down",
                 h.reason[0] ? ": " : "", h.reason);
        systemd_notify(msg);
    }
}

static void parent_on_ready(struct parent *p, const uint8_t *m, size_t n)
{
    struct ctl_ready r;
    if (ctl_ready_decode(m, n, &r) != STI_OK)
        return;
    if (r.status) {
        log_error("front: %s (%s)", r.gen > 1 ? "reload failed" : "could not start",
                  sti_errname(r.status));
        if (!p->front_served) {
            p->exit_code = 1;
            event_base_loopbreak(p->base);
        }
        return;
    }
    p->front_served = 1;
    p->front_backoff_ms = BACKOFF_MIN_MS;
    if (!p->ready_notified) {
        p->ready_notified = 1;
        /* The path appears once it is served: a client that sees it can
         * connect. A restarted front serves the same socket. */
        if (p->rpc_bound && rpc_server_publish(p->rpc_staged, p->cfg.socket) != STI_OK)
            log_error("socket %s: cannot be put in place", p->cfg.socket);
        p->rpc_staged[0] = '\0';
        /* The board's watchdog from now on: the front reports every tick. */
        if (p->cfg.watchdog_ms) {
            if (bsp_wdt_start(p->cfg.watchdog_ms) != STI_OK)
                log_error("board: watchdog not started");
            else
                log_info("board: watchdog armed, %u ms, kicked while healthy", p->cfg.watchdog_ms);
        }
        systemd_notify("READY=1");
        if (p->cfg.pid_file[0]) {
            FILE *f = fopen(p->cfg.pid_file, "w");
            if (f) {
                fprintf(f, "%ld\n", (long)getpid());
                fclose(f);
            }
        }
    }
}

static void parent_on_ctl(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)what;
    for (int k = 0; k < 64 && p->ctl >= 0; k++) {
        size_t n;
        uint8_t type;
        uint32_t pid;
        int rc = ipc_recv(fd, p->rx, CTL_MSG_MAX + 1, &n, NULL);
        if (rc == STI_EBUSY)
            return;
        if (rc != STI_OK || ctl_type_of(p->rx, n, &type) != STI_OK) {
            /* A front that closed or broke its channel is ended and
             * restarted (on SIGCHLD). */
            event_free(p->ctl_ev);
            p->ctl_ev = NULL;
            close(p->ctl);
            p->ctl = -1;
            if (p->front_pid > 0)
                kill(p->front_pid, SIGKILL);
            return;
        }
        switch (type) {
        case CTL_SPAWN:
            parent_on_spawn(p, p->rx, n);
            break;
        case CTL_KILL:
            /* SIGTERM: enough for a worker stuck in a call, and it lets a
             * profiler (valgrind) write what it gathered. */
            if (ctl_kill_decode(p->rx, n, &pid) == STI_OK && parent_worker_known(p, (pid_t)pid, 0))
                kill((pid_t)pid, SIGTERM);
            break;
        case CTL_HEALTH:
            parent_on_health(p, p->rx, n);
            break;
        case CTL_READY:
            parent_on_ready(p, p->rx, n);
            break;
        default:
            log_error("front: unexpected control message %u", type);
        }
    }
}

/* The watchdogs (the board's and systemd's) are kicked only while the
 * front reports, recently, that it can sign: a wedged or dead front, or a
 * wedged parent, lets them fire. */
#define HEALTH_FRESH_MS 1000

static void on_ops_tick(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    struct timespec now;
    (void)fd;
    (void)what;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long age_ms = (long)(now.tv_sec - p->health_at.tv_sec) * 1000 +
                  (now.tv_nsec - p->health_at.tv_nsec) / 1000000;
    if (!p->have_health || age_ms > HEALTH_FRESH_MS || p->health.state == WIRE_STATE_DOWN)
        return;
    if (p->cfg.watchdog_ms)
        bsp_wdt_kick();
    if (p->watchdog_usec)
        systemd_notify("WATCHDOG=1");
}

static int parent_ops_start(struct parent *p)
{
    /* Half the systemd interval, as sd_watchdog_enabled(3) advises; the
     * board's watchdog gets three kicks per timeout; at most a second. */
    uint64_t us = p->watchdog_usec ? p->watchdog_usec / 2 : 1000000;
    if (p->cfg.watchdog_ms && us > (uint64_t)p->cfg.watchdog_ms * 1000 / 3)
        us = (uint64_t)p->cfg.watchdog_ms * 1000 / 3;
    if (us > 1000000)
        us = 1000000;
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    p->ops_timer = event_new(p->base, -1, EV_PERSIST, on_ops_tick, p);
    if (!p->ops_timer)
        return STI_ENOMEM;
    return event_add(p->ops_timer, &tv) == 0 ? STI_OK : STI_ENOMEM;
}

/* ---- children ---- */

static void parent_front_gone(struct parent *p, int status)
{
    p->front_pid = 0;
    if (p->ctl_ev) {
        event_free(p->ctl_ev);
        p->ctl_ev = NULL;
    }
    if (p->ctl >= 0) {
        close(p->ctl);
        p->ctl = -1;
    }
    p->have_health = 0;
    if (p->stopping) {
        event_base_loopbreak(p->base);
        return;
    }
    if (!p->front_served) {
        log_error("front: exited before it served (status %d); stopping", status);
        p->exit_code = 1;
        event_base_loopbreak(p->base);
        return;
    }
    log_error("front: died (status %d); restarting in %u ms", status, p->front_backoff_ms);
    struct timeval tv = {p->front_backoff_ms / 1000, (p->front_backoff_ms % 1000) * 1000};
    evtimer_add(p->front_respawn, &tv);
    p->front_backoff_ms =
        p->front_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->front_backoff_ms * 2;
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    struct parent *p = arg;
    int status;
    pid_t pid;
    (void)sig;
    (void)what;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == p->front_pid) {
            parent_front_gone(p, status);
        } else if (pid == p->vfy_pid) {
            p->vfy_pid = 0;
            if (!p->stopping && p->front_pid > 0) {
                log_warn("verifier: exited (status %d); restarting in %u ms", status,
                         p->vfy_backoff_ms);
                struct timeval tv = {p->vfy_backoff_ms / 1000, (p->vfy_backoff_ms % 1000) * 1000};
                evtimer_add(p->vfy_respawn, &tv);
                p->vfy_backoff_ms =
                    p->vfy_backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : p->vfy_backoff_ms * 2;
            }
        } else {
            parent_worker_known(p, pid, 1);
        }
    }
}

/* A verifier, its channel handed to the front (the old one, if any, is
 * retired by the front and leaves when the front closes it). */
static void parent_start_verifier(struct parent *p)
{
    int sv[2];
    uint8_t msg[16];
    size_t n;
    if (!p->cfg.verify_trust_anchor[0] || p->ctl < 0)
        return;
    char *argv[] = {(char *)"stisignd", (char *)"--verifier", (char *)"-c", p->cfgpath, NULL};
    if (ipc_pair(sv) != STI_OK)
        return;
    pid_t pid;
    if (child_spawn(p->exe, argv, sv[1], &pid) != STI_OK) {
        close(sv[0]);
        close(sv[1]);
        return;
    }
    close(sv[1]);
    /* After a reload the previous one finishes what it holds and leaves
     * when the front closes its channel. */
    p->vfy_pid = pid;
    if (ctl_verifier_encode((uint32_t)pid, msg, sizeof msg, &n) == STI_OK)
        parent_send(p, msg, n, sv[0]);
    close(sv[0]);
}

static void on_vfy_respawn(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)fd;
    (void)what;
    parent_start_verifier(p);
}

static void parent_start_front(struct parent *p)
{
    int sv[2];
    uint8_t msg[16];
    size_t n;
    struct cfg_files fs;
    char *argv[] = {(char *)"stisignd", (char *)"--front", (char *)"-c", p->cfgpath, NULL};
    memset(&fs, 0, sizeof fs);
    struct cfg c;
    if (parent_load(p, &c, &fs, p->gen) != STI_OK || ipc_pair(sv) != STI_OK) {
        cfg_files_free(&fs);
        log_error("front: cannot be started; stopping");
        p->exit_code = 1;
        event_base_loopbreak(p->base);
        return;
    }
    /* Its configuration files can be large: room for the biggest. */
    int big = CTL_MSG_MAX * 2;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (child_spawn(p->exe, argv, sv[1], &p->front_pid) != STI_OK) {
        close(sv[0]);
        close(sv[1]);
        cfg_files_free(&fs);
        p->exit_code = 1;
        event_base_loopbreak(p->base);
        return;
    }
    close(sv[1]);
    p->ctl = sv[0];
    int rc = STI_OK;
    if (ctl_listener_encode(CTL_LISTEN_RPC, msg, sizeof msg, &n) == STI_OK)
        rc = parent_send(p, msg, n, p->rpc_fd);
    if (rc == STI_OK && p->http_fd >= 0 &&
        ctl_listener_encode(CTL_LISTEN_HTTP, msg, sizeof msg, &n) == STI_OK)
        rc = parent_send(p, msg, n, p->http_fd);
    if (rc == STI_OK)
        rc = parent_send_files(p, &fs, p->gen);
    cfg_files_free(&fs);
    child_nonblock(p->ctl);
    p->ctl_ev = event_new(p->base, p->ctl, EV_READ | EV_PERSIST, parent_on_ctl, p);
    if (p->ctl_ev)
        event_add(p->ctl_ev, NULL);
    if (rc)
        log_error("front: start messages not sent: %s", sti_strerror(rc));
    /* A new front gets a new verifier: the old one's channel died with
     * the old front. */
    if (p->vfy_pid > 0)
        kill(p->vfy_pid, SIGTERM);
    p->vfy_pid = 0;
    p->vfy_backoff_ms = BACKOFF_MIN_MS;
    parent_start_verifier(p);
}

static void on_front_respawn(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)fd;
    (void)what;
    parent_start_front(p);
}

/* ---- signals ---- */

static void on_sighup(evutil_socket_t sig, short what, void *arg)
{
    struct parent *p = arg;
    struct cfg_files fs;
    static struct cfg nc;
    (void)sig;
    (void)what;
    if (p->stopping || p->ctl < 0)
        return;
    memset(&fs, 0, sizeof fs);
    if (parent_load(p, &nc, &fs, p->gen + 1) != STI_OK) {
        log_error("reload: keeping the running credentials and configuration");
        cfg_files_free(&fs);
        return;
    }
    p->gen++;
    /* What the workers of the new configuration are given. */
    memcpy(p->cfg.token, nc.token, sizeof nc.token);
    memcpy(p->cfg.pin_file, nc.pin_file, sizeof nc.pin_file);
    p->cfg.verify_sample = nc.verify_sample;
    p->cfg.key_session_copy = nc.key_session_copy;
    p->cfg.sandbox = nc.sandbox; /* the new workers': log can be had without a restart */
    memcpy(p->cfg.cred, nc.cred, sizeof nc.cred);
    p->cfg.ncred = nc.ncred;
    int rc = parent_send_files(p, &fs, p->gen);
    cfg_files_free(&fs);
    if (rc)
        log_error("reload: the front could not be told: %s", sti_strerror(rc));
    else
        log_info("reload: configuration %u sent to the front", p->gen);
    if (p->cfg.verify_trust_anchor[0] || nc.verify_trust_anchor[0]) {
        memcpy(p->cfg.verify_trust_anchor, nc.verify_trust_anchor, sizeof nc.verify_trust_anchor);
        parent_start_verifier(p); /* pins, anchors and limits as now configured */
    }
}

static void on_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)fd;
    (void)what;
    log_warn("shutdown: the front did not finish within %d ms", STOP_WAIT_MS);
    event_base_loopbreak(p->base);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct parent *p = arg;
    uint8_t msg[4];
    size_t n;
    (void)what;
    if (p->stopping) {
        event_base_loopbreak(p->base); /* a second signal: leave now */
        return;
    }
    p->stopping = 1;
    log_info("signal %d: stopping", (int)sig);
    systemd_notify("STOPPING=1");
    evtimer_del(p->front_respawn);
    if (p->front_pid <= 0) {
        event_base_loopbreak(p->base);
        return;
    }
    if (ctl_stop_encode(msg, sizeof msg, &n) != STI_OK || parent_send(p, msg, n, -1) != STI_OK)
        kill(p->front_pid, SIGTERM);
    struct timeval tv = {STOP_WAIT_MS / 1000, (STOP_WAIT_MS % 1000) * 1000};
    p->stop_timer = evtimer_new(p->base, on_stop_timeout, p);
    if (p->stop_timer)
        evtimer_add(p->stop_timer, &tv);
}

/* Test hook (test_hooks = yes): SIGUSR2 wedges the parent's loop for three
 * watchdog timeouts, so a test can starve the watchdog. */
static void on_sigusr2(evutil_socket_t sig, short what, void *arg)
{
    struct parent *p = arg;
    unsigned ms = p->cfg.watchdog_ms ? 3 * p->cfg.watchdog_ms : 3000;
    (void)sig;
    (void)what;
    log_warn("test hook: SIGUSR2: the event loop blocks for %u ms", ms);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- the console ---- */

static void parent_view(void *arg, struct admin_view *v)
{
    struct parent *p = arg;
    v->creds = p->creds;
    v->gen = p->gen;
    v->health = p->have_health ? &p->health : NULL;
}

static void parent_console_start(struct parent *p)
{
    struct admin_env env = {p->base, &p->cfg, parent_view, p, daemon_request_reload};
    int rc;
    if (strcmp(p->cfg.console, "none") == 0)
        return;
    if (!p->cfg.store_dir[0]) {
        log_error("console: needs store_dir (where provisioning is kept); console not started");
        return;
    }
    if ((rc = admin_new(&env, &p->admin)) == STI_OK &&
        (rc = console_start(p->base, &p->cfg, p->admin, &p->console)) != STI_OK) {
        admin_free(p->admin);
        p->admin = NULL;
    }
    if (rc)
        log_error("console not started: %s (%s)", sti_strerror(rc), sti_errname(rc));
}

/* The console's commits take effect through the SIGHUP path. */
void daemon_request_reload(void)
{
    raise(SIGHUP);
}

/* ---- start and stop ---- */

static int parent_listeners(struct parent *p, int listen_fd)
{
    int rc;
    if (listen_fd >= 0) {
        fcntl(listen_fd, F_SETFD, FD_CLOEXEC);
        p->rpc_fd = listen_fd;
        log_info("signing socket %s: the socket from systemd", p->cfg.socket);
    } else {
        struct rpc_server_cfg sc;
        rpc_server_cfg_defaults(&sc);
        sc.path = p->cfg.socket;
        sc.mode = p->cfg.socket_mode;
        if (p->cfg.socket_group[0]) {
            struct group *g = getgrnam(p->cfg.socket_group);
            if (!g) {
                log_error("socket_group %s: no such group", p->cfg.socket_group);
                return STI_ECONFIG;
            }
            sc.gid = g->gr_gid;
        }
        if ((rc = rpc_server_bind_staged(&sc, &p->rpc_fd, p->rpc_staged, sizeof p->rpc_staged))) {
            log_error("socket %s: %s", p->cfg.socket, sti_strerror(rc));
            return rc;
        }
        p->rpc_bound = 1;
    }
    if (p->cfg.http_listen[0] && (rc = http_bind(p->cfg.http_listen, &p->http_fd)))
        return rc;
    return STI_OK;
}

static int parent_run(struct parent *p, int listen_fd)
{
    int rc;
    struct cfg_files fs;
    memset(&fs, 0, sizeof fs);
    p->gen = 1;
    /* Fail fast on what the operator can fix, before anything starts. */
    rc = parent_load(p, &p->cfg, &fs, p->gen);
    cfg_files_free(&fs);
    if (rc)
        return rc;
    if ((rc = parent_listeners(p, listen_fd)))
        return rc;
    p->base = event_base_new();
    p->rx = malloc(CTL_MSG_MAX + 1);
    if (!p->base || !p->rx)
        return STI_ENOMEM;
    p->front_respawn = evtimer_new(p->base, on_front_respawn, p);
    p->vfy_respawn = evtimer_new(p->base, on_vfy_respawn, p);
    p->sig_term = evsignal_new(p->base, SIGTERM, on_signal, p);
    p->sig_int = evsignal_new(p->base, SIGINT, on_signal, p);
    p->sig_hup = evsignal_new(p->base, SIGHUP, on_sighup, p);
    p->sig_chld = evsignal_new(p->base, SIGCHLD, on_sigchld, p);
    if (!p->front_respawn || !p->vfy_respawn || !p->sig_term || !p->sig_int || !p->sig_hup ||
        !p->sig_chld)
        return STI_ENOMEM;
    evsignal_add(p->sig_term, NULL);
    evsignal_add(p->sig_int, NULL);
    evsignal_add(p->sig_hup, NULL);
    evsignal_add(p->sig_chld, NULL);
    if (p->cfg.test_hooks) {
        p->sig_usr2 = evsignal_new(p->base, SIGUSR2, on_sigusr2, p);
        if (p->sig_usr2)
            evsignal_add(p->sig_usr2, NULL);
    }
    p->watchdog_usec = systemd_watchdog_usec();
    p->ops_state = -1;
    p->front_backoff_ms = p->vfy_backoff_ms = BACKOFF_MIN_MS;
    if ((rc = parent_ops_start(p)))
        return rc;
    parent_start_front(p);
    parent_console_start(p);
    event_base_dispatch(p->base);
    return p->exit_code ? STI_EINTERNAL : STI_OK;
}

static void parent_free(struct parent *p)
{
    console_stop(p->console);
    admin_free(p->admin);
    if (p->ctl >= 0)
        close(p->ctl);
    pid_t kids[] = {p->front_pid, p->vfy_pid};
    for (int i = 0; i < 2; i++)
        if (kids[i] > 0) {
            kill(kids[i], SIGTERM);
            if (child_wait(kids[i], 2000) != STI_OK) {
                kill(kids[i], SIGKILL);
                waitpid(kids[i], NULL, 0);
            }
        }
    for (unsigned i = 0; i < p->nworker; i++) {
        kill(p->worker[i], SIGTERM);
        if (child_wait(p->worker[i], 2000) != STI_OK) {
            kill(p->worker[i], SIGKILL);
            waitpid(p->worker[i], NULL, 0);
        }
    }
    struct event *evs[] = {p->ctl_ev,     p->front_respawn, p->vfy_respawn, p->sig_term,
                           p->sig_int,    p->sig_hup,       p->sig_chld,    p->sig_usr2,
                           p->stop_timer, p->ops_timer};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (p->base)
        event_base_free(p->base);
    systemd_close();
    if (p->rpc_fd >= 0)
        close(p->rpc_fd);
    if (p->rpc_bound && p->rpc_staged[0])
        rpc_server_unstage(p->rpc_staged);
    else if (p->rpc_bound)
        unlink(p->cfg.socket);
    if (p->http_fd >= 0)
        close(p->http_fd);
    if (p->cfg.pid_file[0] && p->ready_notified)
        unlink(p->cfg.pid_file);
    free(p->rx);
    if (p->creds) {
        cred_free(p->creds);
        free(p->creds);
    }
}

int parent_main(const char *cfgpath, const struct cfg *cfg, int listen_fd)
{
    static struct parent p;
    p.cfg = *cfg;
    p.ctl = p.rpc_fd = p.http_fd = -1;
    ssize_t n = readlink("/proc/self/exe", p.exe, sizeof p.exe - 1);
    if (n <= 0 || !realpath(cfgpath, p.cfgpath)) {
        log_error("cannot resolve %s or this program's path", cfgpath);
        return 1;
    }
    p.exe[n] = '\0';
    int rc = parent_run(&p, listen_fd);
    parent_free(&p);
    bsp_shutdown();
    return rc == STI_OK ? 0 : 1;
}
