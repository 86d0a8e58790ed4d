/*
 * rawbench.c — stisign-rawbench: the ceiling the token itself sets.
 * CKM_ECDSA through hsm_signer_sign in a tight loop, keys and sessions kept
 * open, in N threads of one process or in N processes each with its own
 * C_Initialize and session. No daemon, no socket: what the daemon's figures
 * are divided by.
 *
 *   stisign-rawbench --token T --pin-file F --key LABEL [--module SO]
 *                    (--threads N | --procs N) [--seconds S] [--rate R] [--copy]
 * prints: raw: mode=threads|procs n=N seconds=S sigs=X sigs_per_s=Y cpu_us_per_sig=Z
 * (Z: CPU time the signing loops ran, over the signatures they made: what
 * one signature costs the machine with nothing else in the way).
 * With --rate R the loops sign on a fixed schedule of R per second in all
 * (open loop, like `stisign bench --rate`) and the line also gives latency
 * percentiles measured from the scheduled time: what the token alone,
 * on this machine, does at that load. --copy signs with session-object
 * copies of the key, as the daemon's workers do by default.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsm.h"
#include "latency.h"
#include "opts.h"
#include "sti_err.h"

#ifndef STI_DEFAULT_MODULE
#define STI_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#define NOPT(t) (sizeof(t) / sizeof((t)[0]))
#define RB_MAX_SAMPLES (1u << 21) /* per loop */

struct rb_cfg {
    const char *module;
    struct hsm_token_sel tok;
    struct hsm_key_sel key;
    char pin[HSM_PIN_MAX + 1];
    size_t pin_len;
    double seconds;
    long rate, nloops;         /* 0: as fast as the token goes */
    unsigned open_flags;       /* HSM_OPEN_SESSION_COPY with --copy */
    double start;              /* common schedule origin (open loop) */
    struct hsm_module *shared; /* threads share one loaded module */
};

/* One signing loop's results. */
struct rb_out {
    unsigned long long count;
    unsigned long long cpu_ns; /* the loop's thread, from its first signature */
    uint32_t *lat; /* microseconds, open loop only */
    size_t nlat;
};

struct rb_thread {
    struct rb_cfg *cfg;
    long idx;
    struct rb_out out;
    int rc;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    struct timespec ts = {(time_t)t, (long)((t - (double)(time_t)t) * 1e9)};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
        ;
}

/* Open loop: loop idx of nloops signs the requests idx, idx+nloops, ...
 * of one common schedule of c->rate per second. */
static int rb_paced(struct rb_cfg *c, struct hsm_signer *s, long idx, struct rb_out *o)
{
    uint8_t dig[32], sig[HSM_SIG_LEN];
    int rc = STI_OK;
    memset(dig, 0x5a, sizeof dig);
    o->lat = malloc(RB_MAX_SAMPLES * sizeof *o->lat);
    if (!o->lat)
        return STI_ENOMEM;
    double period = 1.0 / (double)c->rate;
    for (unsigned long long k = (unsigned long long)idx;; k += (unsigned long long)c->nloops) {
        double due = c->start + (double)k * period;
        if (due >= c->start + c->seconds || o->nlat >= RB_MAX_SAMPLES)
            break;
        sleep_until(due);
        dig[0] = (uint8_t)k;
        if ((rc = hsm_signer_sign(s, 0, dig, sig)))
            break;
        o->lat[o->nlat++] = (uint32_t)((now_s() - due) * 1e6);
        o->count++;
    }
    return rc;
}

static int rb_loop(struct rb_cfg *c, struct hsm_module *m, long idx, struct rb_out *o)
{
    struct hsm_signer *s;
    uint8_t dig[32], sig[HSM_SIG_LEN];
    /* SoftHSM2 can misread its token files for a moment while another
     * process opens them (the daemon's workers start one at a time for
     * this): a few retries, as the daemon's own opens do. */
    int rc;
    for (int attempt = 0;; attempt++) {
        rc = hsm_signer_open_flags(m, &c->tok, c->pin, c->pin_len, &c->key, 1, c->open_flags, &s);
        if ((rc != STI_EHSM_TOKEN && rc != STI_EHSM_SESSION) || attempt == 5)
            break;
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    if (rc)
        return rc;
    if ((c->open_flags & HSM_OPEN_SESSION_COPY) && hsm_signer_copies(s) != 1) {
        hsm_signer_close(s);
        return STI_EHSM_KEY; /* asked for a copy, the token gave none */
    }
    uint64_t cpu0 = lat_thread_cpu_ns();
    if (c->rate) {
        rc = rb_paced(c, s, idx, o);
        o->cpu_ns = lat_thread_cpu_ns() - cpu0;
        hsm_signer_close(s);
        return rc;
    }
    memset(dig, 0x5a, sizeof dig);
    unsigned long long n = 0;
    double end = now_s() + c->seconds;
    while (now_s() < end) {
        for (int i = 0; i < 16; i++) {
            dig[i & 31] = (uint8_t)n;
            if ((rc = hsm_signer_sign(s, 0, dig, sig)))
                break;
            n++;
        }
        if (rc)
            break;
    }
    o->cpu_ns = lat_thread_cpu_ns() - cpu0;
    hsm_signer_close(s);
    o->count = n;
    return rc;
}

static void *rb_thread_main(void *arg)
{
    struct rb_thread *t = arg;
    t->rc = rb_loop(t->cfg, t->cfg->shared, t->idx, &t->out);
    return NULL;
}

static int full_write(int fd, const void *p, size_t n)
{
    const uint8_t *b = p;
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        b += w;
        n -= (size_t)w;
    }
    return 0;
}

static int full_read(int fd, void *p, size_t n)
{
    uint8_t *b = p;
    while (n) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        b += r;
        n -= (size_t)r;
    }
    return 0;
}

/* A child's report on its pipe: count, rc, number of samples, CPU ns,
 * samples. */
static void rb_child(struct rb_cfg *c, long idx, int fd)
{
    struct hsm_module *m;
    struct rb_out o = {0, 0, NULL, 0};
    /* Not all at once into C_Initialize (see rb_loop). */
    struct timespec ts = {(time_t)(20 * idx / 1000), (20 * idx % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    int r = hsm_module_load(c->module, &m);
    if (!r) {
        r = rb_loop(c, m, idx, &o);
        hsm_module_unload(m);
    }
    unsigned long long msg[4] = {o.count, (unsigned long long)r, o.nlat, o.cpu_ns};
    if (full_write(fd, msg, sizeof msg) || full_write(fd, o.lat, o.nlat * sizeof *o.lat))
        _exit(1);
    _exit(0);
}

int main(int argc, char **argv)
{
    struct opt o[] = {
        {"module", 1, 0, {0}, 0},  {"token", 1, 0, {0}, 0},   {"pin-file", 1, 0, {0}, 0},
        {"key", 1, 0, {0}, 0},     {"threads", 1, 0, {0}, 0}, {"procs", 1, 0, {0}, 0},
        {"seconds", 1, 0, {0}, 0}, {"rate", 1, 0, {0}, 0},    {"copy", 0, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    long threads, procs, secs, rate;
    static struct rb_cfg c;
    struct hsm_key_sel ignored;
    if (opts_parse(argc - 1, argv + 1, o, NOPT(o), pos, 0, &npos) ||
        opts_long(o, NOPT(o), "threads", 0, 0, 64, &threads) ||
        opts_long(o, NOPT(o), "procs", 0, 0, 64, &procs) ||
        opts_long(o, NOPT(o), "seconds", 5, 1, 600, &secs) ||
        opts_long(o, NOPT(o), "rate", 0, 0, 1000000, &rate) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "key") ||
        (threads == 0) == (procs == 0)) {
        fprintf(stderr, "usage: stisign-rawbench --token T --pin-file F --key LABEL "
                        "[--module SO] (--threads N | --procs N) [--seconds S] [--rate R] "
                        "[--copy]\n");
        return 2;
    }
    c.module = opts_get(o, NOPT(o), "module") ? opts_get(o, NOPT(o), "module") : STI_DEFAULT_MODULE;
    c.seconds = (double)secs;
    c.rate = rate;
    c.open_flags = opts_get(o, NOPT(o), "copy") ? HSM_OPEN_SESSION_COPY : 0;
    int rc = hsm_uri_parse(opts_get(o, NOPT(o), "token"), &c.tok, &ignored);
    if (!rc)
        rc = hsm_key_sel_parse(opts_get(o, NOPT(o), "key"), &c.key);
    if (!rc)
        rc = hsm_pin_read(opts_get(o, NOPT(o), "pin-file"), c.pin, sizeof c.pin, &c.pin_len);
    if (rc) {
        fprintf(stderr, "stisign-rawbench: %s\n", sti_strerror(rc));
        return 1;
    }
    unsigned long long total = 0, cpu_ns = 0;
    long n = threads ? threads : procs;
    c.nloops = n;
    uint32_t *lat = NULL;
    size_t nlat = 0;
    if (rate) {
        /* Wake on the schedule, not up to 50 us after it (the default
         * timer slack); stisign bench --rate does the same. */
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        lat = malloc((size_t)n * RB_MAX_SAMPLES * sizeof *lat);
        if (!lat) {
            fprintf(stderr, "stisign-rawbench: %s\n", sti_strerror(STI_ENOMEM));
            return 1;
        }
    }
    double t0 = now_s();
    /* Open loop: give every loop a second to open its session first. */
    c.start = t0 + 1.0;
    if (threads) {
        struct rb_thread th[64];
        pthread_t tid[64];
        if ((rc = hsm_module_load(c.module, &c.shared))) {
            fprintf(stderr, "stisign-rawbench: %s\n", sti_strerror(rc));
            return 1;
        }
        for (long i = 0; i < n; i++) {
            memset(&th[i], 0, sizeof th[i]);
            th[i].cfg = &c;
            th[i].idx = i;
            pthread_create(&tid[i], NULL, rb_thread_main, &th[i]);
        }
        for (long i = 0; i < n; i++) {
            pthread_join(tid[i], NULL);
            total += th[i].out.count;
            cpu_ns += th[i].out.cpu_ns;
            if (th[i].rc)
                rc = th[i].rc;
            if (th[i].out.nlat)
                memcpy(lat + nlat, th[i].out.lat, th[i].out.nlat * sizeof *lat);
            nlat += th[i].out.nlat;
            free(th[i].out.lat);
        }
        hsm_module_unload(c.shared);
    } else {
        /* Each process loads the module itself after fork: PKCS#11 does not
         * carry an initialised module across fork. */
        int fds[64][2];
        pid_t pid[64];
        for (long i = 0; i < n; i++) {
            if (pipe(fds[i]) != 0)
                return 1;
            pid[i] = fork();
            if (pid[i] == 0) {
                close(fds[i][0]);
                rb_child(&c, i, fds[i][1]);
            }
            close(fds[i][1]);
        }
        for (long i = 0; i < n; i++) {
            unsigned long long msg[4] = {0, STI_EINTERNAL, 0, 0};
            if (full_read(fds[i][0], msg, sizeof msg) || msg[2] > RB_MAX_SAMPLES ||
                (msg[2] && (!lat || full_read(fds[i][0], lat + nlat, msg[2] * sizeof *lat))))
                msg[1] = STI_EINTERNAL;
            else
                nlat += msg[2];
            close(fds[i][0]);
            waitpid(pid[i], NULL, 0);
            total += msg[0];
            cpu_ns += msg[3];
            if (msg[1])
                rc = (int)msg[1];
        }
    }
    double el = now_s() - t0;
    hsm_wipe(c.pin, sizeof c.pin);
    if (rc) {
        fprintf(stderr, "stisign-rawbench: %s (%s)\n", sti_strerror(rc), sti_errname(rc));
        free(lat);
        return 1;
    }
    printf("raw: mode=%s n=%ld key=%s seconds=%.2f sigs=%llu sigs_per_s=%.0f cpu_us_per_sig=%.1f",
           threads ? "threads" : "procs", n, c.open_flags ? "copy" : "token", el, total,
           (double)total / c.seconds, total ? (double)cpu_ns / 1000.0 / (double)total : 0.0);
    if (rate) {
        lat_sort(lat, nlat);
        printf(" rate=%ld p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u", rate,
               lat_pct(lat, nlat, 0.5), lat_pct(lat, nlat, 0.9), lat_pct(lat, nlat, 0.99),
               lat_pct(lat, nlat, 0.999), nlat ? lat[nlat - 1] : 0);
    }
    printf("\n");
    free(lat);
    return 0;
}
