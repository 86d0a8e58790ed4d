/*
 * rawbench.c — stisign-rawbench: the ceiling the token itself sets.
 * CKM_ECDSA through hsm_signer_sign in a tight loop, keys and sessions kept
 * open, in N threads of one process or in N processes each with its own
 * C_Initialize and session. No daemon, no socket: what the daemon's figures
 * are divided by.
 *
 *   stisign-rawbench --token T --pin-file F --key LABEL [--module SO]
 *                    (--threads N | --procs N) [--seconds S]
 * prints: raw: mode=threads|procs n=N seconds=S sigs=X sigs_per_s=Y
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hsm.h"
#include "opts.h"
#include "sti_err.h"

#ifndef STI_DEFAULT_MODULE
#define STI_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#define NOPT(t) (sizeof(t) / sizeof((t)[0]))

struct rb_cfg {
    const char *module;
    struct hsm_token_sel tok;
    struct hsm_key_sel key;
    char pin[HSM_PIN_MAX + 1];
    size_t pin_len;
    double seconds;
    struct hsm_module *shared; /* threads share one loaded module */
};

struct rb_thread {
    struct rb_cfg *cfg;
    unsigned long long count;
    int rc;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int rb_loop(struct rb_cfg *c, struct hsm_module *m, unsigned long long *count)
{
    struct hsm_signer *s;
    uint8_t dig[32], sig[HSM_SIG_LEN];
    int rc = hsm_signer_open(m, &c->tok, c->pin, c->pin_len, &c->key, 1, &s);
    if (rc)
        return rc;
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
    hsm_signer_close(s);
    *count = n;
    return rc;
}

static void *rb_thread_main(void *arg)
{
    struct rb_thread *t = arg;
    t->rc = rb_loop(t->cfg, t->cfg->shared, &t->count);
    return NULL;
}

int main(int argc, char **argv)
{
    struct opt o[] = {{"module", 1, 0, {0}, 0},  {"token", 1, 0, {0}, 0},
                      {"pin-file", 1, 0, {0}, 0}, {"key", 1, 0, {0}, 0},
                      {"threads", 1, 0, {0}, 0},  {"procs", 1, 0, {0}, 0},
                      {"seconds", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    long threads, procs, secs;
    static struct rb_cfg c;
    struct hsm_key_sel ignored;
    if (opts_parse(argc - 1, argv + 1, o, NOPT(o), pos, 0, &npos) ||
        opts_long(o, NOPT(o), "threads", 0, 0, 64, &threads) ||
        opts_long(o, NOPT(o), "procs", 0, 0, 64, &procs) ||
        opts_long(o, NOPT(o), "seconds", 5, 1, 600, &secs) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "key") ||
        (threads == 0) == (procs == 0)) {
        fprintf(stderr, "usage: stisign-rawbench --token T --pin-file F --key LABEL "
                        "[--module SO] (--threads N | --procs N) [--seconds S]\n");
        return 2;
    }
    c.module = opts_get(o, NOPT(o), "module") ? opts_get(o, NOPT(o), "module")
                                               : STI_DEFAULT_MODULE;
    c.seconds = (double)secs;
    int rc = hsm_uri_parse(opts_get(o, NOPT(o), "token"), &c.tok, &ignored);
    if (!rc)
        rc = hsm_key_sel_parse(opts_get(o, NOPT(o), "key"), &c.key);
    if (!rc)
        rc = hsm_pin_read(opts_get(o, NOPT(o), "pin-file"), c.pin, sizeof c.pin, &c.pin_len);
    if (rc) {
        fprintf(stderr, "stisign-rawbench: %s\n", sti_strerror(rc));
        return 1;
    }
    unsigned long long total = 0;
    long n = threads ? threads : procs;
    double t0 = now_s();
    if (threads) {
        struct rb_thread th[64];
        pthread_t tid[64];
        if ((rc = hsm_module_load(c.module, &c.shared))) {
            fprintf(stderr, "stisign-rawbench: %s\n", sti_strerror(rc));
            return 1;
        }
        for (long i = 0; i < n; i++) {
            th[i].cfg = &c;
            th[i].count = 0;
            th[i].rc = 0;
            pthread_create(&tid[i], NULL, rb_thread_main, &th[i]);
        }
        for (long i = 0; i < n; i++) {
            pthread_join(tid[i], NULL);
            total += th[i].count;
            if (th[i].rc)
                rc = th[i].rc;
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
                struct hsm_module *m;
                unsigned long long cnt = 0;
                int r = hsm_module_load(c.module, &m);
                if (!r) {
                    r = rb_loop(&c, m, &cnt);
                    hsm_module_unload(m);
                }
                unsigned long long msg[2] = {cnt, (unsigned long long)r};
                if (write(fds[i][1], msg, sizeof msg) != (ssize_t)sizeof msg)
                    _exit(1);
                _exit(0);
            }
            close(fds[i][1]);
        }
        for (long i = 0; i < n; i++) {
            unsigned long long msg[2] = {0, STI_EINTERNAL};
            if (read(fds[i][0], msg, sizeof msg) != (ssize_t)sizeof msg)
                msg[1] = STI_EINTERNAL;
            close(fds[i][0]);
            waitpid(pid[i], NULL, 0);
            total += msg[0];
            if (msg[1])
                rc = (int)msg[1];
        }
    }
    double el = now_s() - t0;
    hsm_wipe(c.pin, sizeof c.pin);
    if (rc) {
        fprintf(stderr, "stisign-rawbench: %s (%s)\n", sti_strerror(rc), sti_errname(rc));
        return 1;
    }
    printf("raw: mode=%s n=%ld seconds=%.2f sigs=%llu sigs_per_s=%.0f\n",
           threads ? "threads" : "procs", n, el, total, (double)total / c.seconds);
    return 0;
}
