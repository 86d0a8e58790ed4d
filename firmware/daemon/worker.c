/* worker.c — the HSM worker: the one place of the daemon that holds a token
 * session. Reads fixed-layout messages from its socketpair only. As a
 * process of its own it confines itself (bsp_sandbox) before it serves. */
#include "workproto.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bsp.h"
#include "selftest.h"
#include "sti_err.h"

static ssize_t worker_recv(int fd, uint8_t *buf, size_t cap, int flags)
{
    for (;;) {
        ssize_t n = recv(fd, buf, cap, flags);
        if (n < 0 && errno == EINTR)
            continue;
        return n;
    }
}

/* Answers per message: small enough that the first of a batch is not held
 * long (8 signatures, ~0.6 ms on SoftHSM2), large enough that the loop is
 * not woken once per signature at full load. */
#define WORKER_REPLY_GROUP 8

/* Jobs read ahead of the signing, so the worker knows how much it holds:
 * room for four full batches from the loop. */
#define WORKER_QUEUE (4 * WP_BATCH)

/* With this few jobs left after sending answers, the worker yields the CPU
 * once. The I/O loop thread runs SCHED_BATCH by default (loop_sched_batch),
 * so waking it does not preempt a worker: without the yield it mostly got
 * a CPU only when a worker ran dry, and that worker then idled while the
 * loop answered and fetched the next requests (1 x 32 pipeline: 0.60 ->
 * 0.79 of the raw ceiling, 16 x 16: 0.90 -> 0.94, 16 interleaved rounds on
 * the 2-core bench machine). With nothing else to run the yield is one
 * syscall. */
#define WORKER_LOW_WATER WORKER_REPLY_GROUP

/* Per-worker storage, allocated once: threads of one process each have
 * their own, and the sign loop itself never allocates. */
struct worker_mem {
    uint8_t in[WP_CONFIG_MAX + 64];
    uint8_t out[WP_RESULT_MAX];
    struct wp_config cfg;
    struct wp_ready ready;
    struct wp_job batch[WP_BATCH];
    struct wp_job queue[WORKER_QUEUE]; /* a ring: q_len jobs from q_head on */
    uint8_t q_last[WORKER_QUEUE];      /* 1: the last job of its message */
    size_t q_head, q_len;
    struct wp_result res[WORKER_REPLY_GROUP];
    uint32_t verify_sample; /* 0 off, N: one signature in N checked */
    uint32_t until_verify;  /* signatures left before the next check */
    uint64_t withheld;      /* signatures that failed the check */
};

/* Reads one SIGN message from the loop into the queue, which has room for
 * a whole batch. With MSG_DONTWAIT, *took is 0 when nothing was waiting.
 * STI_ECLOSED when the socket is closed or fails; the decoder's code for a
 * malformed message, which leaves the queue as it was. */
static int worker_fetch(int fd, struct worker_mem *wm, int flags, int *took)
{
    size_t n;
    ssize_t got = worker_recv(fd, wm->in, sizeof wm->in, flags);
    *took = 0;
    if (got < 0 && (flags & MSG_DONTWAIT) && (errno == EAGAIN || errno == EWOULDBLOCK))
        return STI_OK;
    if (got <= 0)
        return STI_ECLOSED;
    int rc = wp_sign_decode(wm->in, (size_t)got, wm->batch, &n);
    if (rc != STI_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        size_t at = (wm->q_head + wm->q_len + i) % WORKER_QUEUE;
        wm->queue[at] = wm->batch[i];
        wm->q_last[at] = i + 1 == n;
    }
    wm->q_len += n;
    *took = 1;
    return STI_OK;
}

static int worker_send(int fd, const uint8_t *buf, size_t n)
{
    for (;;) {
        ssize_t w = send(fd, buf, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        return w == (ssize_t)n ? STI_OK : STI_EIO;
    }
}

static int worker_open(struct wp_config *cfg, struct hsm_module **m, struct hsm_signer **s,
                       struct wp_ready *ready)
{
    int rc;
    memset(ready, 0, sizeof *ready);
    ready->nkeys = cfg->nkeys;
    STI_TRY(hsm_module_load(cfg->module, m));
    /* A missing key is reported per key, so the daemon can name the
     * credential; the others still sign. */
    STI_TRY(hsm_signer_open_flags(*m, &cfg->token, cfg->pin, cfg->pin_len, cfg->keys, cfg->nkeys,
                                  HSM_OPEN_ALLOW_MISSING |
                                      (cfg->flags & WP_KEY_COPY ? HSM_OPEN_SESSION_COPY : 0),
                                  s));
    for (size_t k = 0; k < cfg->nkeys; k++)
        ready->key_status[k] = (uint16_t)hsm_signer_pubkey(*s, k, ready->point[k]);
out:
    ready->status = (uint16_t)rc;
    return rc;
}

/* A worker process, once its session is open and its keys are found:
 * from here on it only signs and answers. It keeps its uid (the token's
 * files are its owner's) and its root (SoftHSM2 re-reads them). */
static int worker_confine(enum bsp_sandbox_mode mode)
{
    struct bsp_sandbox_cfg sb = {NULL, NULL, 1, mode};
    return bsp_sandbox(BSP_ROLE_WORKER, &sb);
}

int worker_run(int fd, int own_process)
{
    struct worker_mem *wm = calloc(1, sizeof *wm);
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    size_t len;
    int rc, took;

    ssize_t got = -1;
    if (!wm) {
        close(fd);
        return STI_ENOMEM;
    }
    uint8_t *in = wm->in, *out = wm->out;
    struct wp_result *res = wm->res;
    got = worker_recv(fd, in, sizeof wm->in, 0);
    STI_CHECK(got > 0, STI_ECLOSED);
    rc = wp_config_decode(in, (size_t)got, &wm->cfg);
    hsm_wipe(in, sizeof wm->in);
    STI_TRY(rc);
    worker_open(&wm->cfg, &m, &s, &wm->ready);
    if (own_process && wm->ready.status == STI_OK)
        wm->ready.status = (uint16_t)worker_confine((enum bsp_sandbox_mode)wm->cfg.sandbox);
    wm->verify_sample = wm->until_verify = wm->cfg.verify_sample;
    hsm_wipe(&wm->cfg, sizeof wm->cfg); /* the signer keeps its own locked copy */
    STI_TRY(wp_ready_encode(&wm->ready, out, sizeof wm->out, &len));
    STI_TRY(worker_send(fd, out, len));
    STI_CHECK(wm->ready.status == STI_OK, wm->ready.status);

    /* Set once fetching must stop: STI_ECLOSED (nobody is left to answer),
     * or a malformed message, which ends the worker once every job that
     * came before it is answered. */
    int stop = STI_OK;
    for (;;) {
        if (wm->q_len == 0 && stop == STI_OK)
            stop = worker_fetch(fd, wm, 0, &took); /* nothing to sign: wait */
        /* Take whatever else the loop has sent, without waiting. */
        while (stop == STI_OK && WORKER_QUEUE - wm->q_len >= WP_BATCH &&
               (stop = worker_fetch(fd, wm, MSG_DONTWAIT, &took)) == STI_OK && took)
            ;
        if (stop == STI_ECLOSED || wm->q_len == 0)
            break;
        /* Answers leave in groups of up to WORKER_REPLY_GROUP, never
         * spanning two of the loop's messages: the first job of a big batch
         * does not wait for the last, and the loop is not woken once per
         * signature. Once no more than WORKER_LOW_WATER jobs are left, each
         * answer leaves as soon as it is signed: below full load the queue
         * is that short, and a job need not wait for the ones after it
         * (open loop at half load, 24 alternating runs: p99 medians 1.0 ->
         * 0.8 ms, p50 0.27 -> 0.25 ms; closed loop unchanged or better). */
        size_t g = 0;
        int last = 0, shallow = 0;
        while (!last && !shallow && g < WORKER_REPLY_GROUP) {
            const struct wp_job *job = &wm->queue[wm->q_head];
            last = wm->q_last[wm->q_head];
            wm->q_head = (wm->q_head + 1) % WORKER_QUEUE;
            wm->q_len--;
            shallow = wm->q_len <= WORKER_LOW_WATER;
            struct wp_result *rs = &res[g++];
            rs->tag = job->tag;
            rs->status = (uint16_t)hsm_signer_sign(s, job->key, job->digest, rs->sig);
            /* Sampled verify-after-sign with the second implementation:
             * a signature that fails is never returned. */
            if (rs->status == STI_OK && wm->verify_sample && --wm->until_verify == 0) {
                wm->until_verify = wm->verify_sample;
                if (job->key >= wm->ready.nkeys || wm->ready.key_status[job->key] ||
                    selftest_verify_p256(wm->ready.point[job->key], job->digest, rs->sig) !=
                        STI_OK) {
                    rs->status = STI_EHSM_SELFTEST;
                    wm->withheld++;
                }
            }
            if (rs->status)
                memset(rs->sig, 0, sizeof rs->sig);
        }
        STI_TRY(wp_result_encode(res, g, out, sizeof wm->out, &len));
        STI_TRY(worker_send(fd, out, len));
        if (wm->q_len > 0 && wm->q_len <= WORKER_LOW_WATER)
            sched_yield();
    }
    rc = stop == STI_ECLOSED ? STI_OK : stop; /* closed by the loop: orderly end */
out:
    if (s)
        hsm_signer_close(s);
    if (m)
        hsm_module_unload(m);
    close(fd);
    if (wm) {
        hsm_wipe(wm, sizeof *wm);
        free(wm);
    }
    return rc;
}
