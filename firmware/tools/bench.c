/*
 * bench.c — `stisign bench`: load a running daemon and report throughput
 * and latency. Closed loop by default (each connection keeps --pipeline
 * requests in flight); with --rate R, open loop: requests are issued on a
 * fixed schedule of R per second across the connections and latency is
 * measured from the scheduled time, so a stalled server cannot hide its
 * queueing delay. One thread, epoll, pipelined batches per wake-up.
 */
#define _GNU_SOURCE
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "latency.h"
#include "opts.h"
#include "sti_err.h"
#include "stisign.h"
#include "tools.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))
#define BENCH_RING 65536 /* send times by id, per connection */
#define BENCH_MAX_SAMPLES (8u << 20)
/* Open loop: requests in flight per connection at most, the server's
 * default max_pending_per_connection; a request over it waits on the
 * client side, and its latency still counts from its scheduled time. */
#define BENCH_MAX_OUTSTANDING 256

struct bench_conn {
    struct stisign_client *c;
    uint64_t *sent_ns;  /* by id % BENCH_RING: when the request was due */
    uint32_t *lag_us;  /* how late it was handed to the socket */
    unsigned outstanding;
};

/* CPU time (user + system) this process has used, in microseconds: the
 * bench client shares the machine with the daemon, and its cost says how
 * much of the machine it took from it. */
static uint64_t cpu_used_us(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

int tool_bench(int argc, char **argv)
{
    struct opt o[] = {
        {"socket", 1, 0, {0}, 0},  {"connections", 1, 0, {0}, 0}, {"pipeline", 1, 0, {0}, 0},
        {"seconds", 1, 0, {0}, 0}, {"rate", 1, 0, {0}, 0},        {"orig", 1, 0, {0}, 0},
        {"dest", 1, 0, {0}, 0},    {"warmup", 1, 0, {0}, 0},      {"trace", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    long nconn, depth, secs, rate, warm;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) != 0 ||
        opts_long(o, NOPT(o), "connections", 1, 1, 4000, &nconn) ||
        opts_long(o, NOPT(o), "pipeline", 1, 1, 4096, &depth) ||
        opts_long(o, NOPT(o), "seconds", 5, 1, 3600, &secs) ||
        opts_long(o, NOPT(o), "rate", 0, 0, 10000000, &rate) ||
        opts_long(o, NOPT(o), "warmup", 1, 0, 60, &warm) || !opts_get(o, NOPT(o), "socket")) {
        fprintf(stderr, "usage: stisign bench --socket PATH --connections N --pipeline D "
                        "--seconds S [--rate R] [--warmup S] [--orig TN] [--dest TN] "
                        "[--trace FILE]\n");
        return 2;
    }
    const char *orig = opts_get(o, NOPT(o), "orig") ? opts_get(o, NOPT(o), "orig") : "12025550100";
    const char *dest1 = opts_get(o, NOPT(o), "dest") ? opts_get(o, NOPT(o), "dest") : "12025550199";
    const char *dests[1] = {dest1};
    struct stisign_sign_args a = {orig, dests, 1, 'A', NULL, 0};

    /* Open loop: wake on the schedule, not up to 50 us after it (the
     * default timer slack). */
    if (rate)
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
    struct bench_conn *bc = calloc((size_t)nconn, sizeof *bc);
    /* epoll: a wake-up costs the connections that answered, not all. */
    struct epoll_event *evs = calloc((size_t)nconn, sizeof *evs);
    char *want_out = calloc((size_t)nconn, 1); /* EPOLLOUT asked for */
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    uint32_t *lat = malloc(BENCH_MAX_SAMPLES * sizeof *lat);
    uint32_t *lag = malloc(BENCH_MAX_SAMPLES * sizeof *lag);
    char *dirty = calloc((size_t)nconn, 1); /* requests queued since the last flush */
    static struct stisign_result r;
    int rc = STI_OK, ret = 1;
    FILE *trace = NULL;
    const char *trace_path = opts_get(o, NOPT(o), "trace");
    if (trace_path && !(trace = fopen(trace_path, "w"))) {
        perror(trace_path);
        goto out;
    }
    if (!bc || !evs || !want_out || epfd < 0 || !lat || !lag || !dirty) {
        tool_error(STI_ENOMEM, NULL);
        goto out;
    }
    for (long i = 0; i < nconn; i++) {
        bc[i].sent_ns = calloc(BENCH_RING, sizeof(uint64_t));
        bc[i].lag_us = calloc(BENCH_RING, sizeof(uint32_t));
        if (!bc[i].sent_ns || !bc[i].lag_us ||
            (rc = stisign_connect(opts_get(o, NOPT(o), "socket"), &bc[i].c)) ||
            (rc = stisign_set_nonblocking(bc[i].c))) {
            tool_error(rc ? rc : STI_ENOMEM, "connect");
            goto out;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)i};
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, stisign_fd(bc[i].c), &ev) != 0) {
            tool_error(STI_EIO, "epoll");
            goto out;
        }
    }

    uint64_t ok = 0, errors = 0, issued = 0, nlat = 0, ok_at_meas = 0, ok_at_end = 0;
    unsigned outstanding = 0;
    int first_error = 0, measuring = warm == 0, stopped = 0;
    uint64_t cpu0 = cpu_used_us();
    uint64_t t0 = lat_now_ns();
    uint64_t t_meas = t0 + (uint64_t)warm * 1000000000u;
    uint64_t t_end = t_meas + (uint64_t)secs * 1000000000u;
    uint64_t t_drain = t_end + 10000000000u; /* answers still owed after 10 s are lost */
    long rr = 0;
    int all_full = 0; /* open loop: every connection at BENCH_MAX_OUTSTANDING */
    for (;;) {
        uint64_t t = lat_now_ns();
        if (!measuring && t >= t_meas) {
            measuring = 1;
            ok_at_meas = ok;
        }
        if (!stopped && t >= t_end) {
            stopped = 1;
            ok_at_end = ok;
        }
        if (stopped && (outstanding == 0 || t >= t_drain))
            break;
        if (!stopped && rate == 0) {
            for (long i = 0; i < nconn; i++) {
                while (bc[i].outstanding < (unsigned)depth) {
                    uint32_t id;
                    if ((rc = stisign_submit_sign(bc[i].c, &a, &id)))
                        break;
                    bc[i].sent_ns[id % BENCH_RING] = t; /* lag_us stays 0 */
                    bc[i].outstanding++;
                    outstanding++;
                    issued++;
                    dirty[i] = 1;
                }
            }
        } else if (!stopped) {
            /* Requests whose scheduled time has come: request k is due at
             * t0 + k / rate, the first at t0 itself. */
            uint64_t due = (t - t0) * (uint64_t)rate / 1000000000u + 1;
            all_full = 0;
            while (issued < due) {
                long i = rr++ % nconn;
                uint32_t id;
                if (bc[i].outstanding >= BENCH_MAX_OUTSTANDING) {
                    /* every connection full: wait for answers */
                    long full = 1;
                    for (long k = 0; k < nconn && full; k++)
                        full = bc[k].outstanding >= BENCH_MAX_OUTSTANDING;
                    if (full) {
                        all_full = 1; /* poll for answers, not the clock */
                        break;
                    }
                    continue;
                }
                if ((rc = stisign_submit_sign(bc[i].c, &a, &id)))
                    break;
                bc[i].sent_ns[id % BENCH_RING] = t0 + issued * 1000000000u / (uint64_t)rate;
                bc[i].lag_us[id % BENCH_RING] = (uint32_t)((t - bc[i].sent_ns[id % BENCH_RING]) / 1000u);
                bc[i].outstanding++;
                outstanding++;
                issued++;
                dirty[i] = 1;
            }
        }
        for (long i = 0; i < nconn; i++) {
            if ((dirty[i] || stisign_unsent(bc[i].c)) && (rc = stisign_flush(bc[i].c))) {
                tool_error(rc, "send");
                goto out;
            }
            dirty[i] = 0;
            char want = stisign_unsent(bc[i].c) != 0;
            if (want != want_out[i]) {
                struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0),
                                         .data.u64 = (uint64_t)i};
                epoll_ctl(epfd, EPOLL_CTL_MOD, stisign_fd(bc[i].c), &ev);
                want_out[i] = want;
            }
        }
        struct timespec to = {0, 100000000};
        if (rate && !stopped && !all_full) {
            uint64_t next = t0 + issued * 1000000000u / (uint64_t)rate, t2 = lat_now_ns();
            to.tv_nsec = next > t2 ? (long)(next - t2) : 0;
            if (to.tv_nsec > 100000000)
                to.tv_nsec = 100000000;
        }
        int np = epoll_pwait2(epfd, evs, (int)nconn, &to, NULL);
        if (np <= 0)
            continue;
        uint64_t tr = lat_now_ns();
        for (int e = 0; e < np; e++) {
            long i = (long)evs[e].data.u64;
            if ((rc = stisign_read(bc[i].c))) {
                tool_error(rc, "connection lost");
                goto out;
            }
            for (;;) {
                int got;
                if ((rc = stisign_take(bc[i].c, &r, &got))) {
                    tool_error(rc, "bad answer");
                    goto out;
                }
                if (!got)
                    break;
                uint64_t sent = bc[i].sent_ns[r.id % BENCH_RING];
                bc[i].outstanding--;
                outstanding--;
                if (r.status) {
                    errors++;
                    if (!first_error)
                        first_error = r.status;
                } else {
                    ok++;
                }
                /* Every request issued in the measured window, answered
                 * before or after its end. */
                if (sent >= t_meas && nlat < BENCH_MAX_SAMPLES) {
                    lat[nlat] = (uint32_t)((tr - sent) / 1000u);
                    lag[nlat++] = bc[i].lag_us[r.id % BENCH_RING];
                    if (trace)
                        fprintf(trace, "%llu %u %u %ld\n",
                                (unsigned long long)((sent - t0) / 1000u), lag[nlat - 1],
                                lat[nlat - 1], i);
                }
            }
        }
    }
    lat_sort(lat, nlat);
    lat_sort(lag, nlat);
    double rate_ok = (double)(ok_at_end - ok_at_meas) / (double)secs;
    printf("bench: connections=%ld pipeline=%ld rate=%ld seconds=%ld signed=%llu errors=%llu "
           "lost=%u sigs_per_s=%.0f p50_us=%u p90_us=%u p99_us=%u p999_us=%u max_us=%u "
           "client_lag_p99_us=%u client_cpu_us=%llu\n",
           nconn, rate ? 0 : depth, rate, secs, (unsigned long long)ok, (unsigned long long)errors,
           outstanding, rate_ok, lat_pct(lat, nlat, 0.50), lat_pct(lat, nlat, 0.90),
           lat_pct(lat, nlat, 0.99), lat_pct(lat, nlat, 0.999), nlat ? lat[nlat - 1] : 0,
           lat_pct(lag, nlat, 0.99), (unsigned long long)(cpu_used_us() - cpu0));
    if (first_error)
        fprintf(stderr, "first error: %d (%s) %s\n", first_error, sti_errname(first_error),
                sti_strerror(first_error));
    ret = errors || outstanding ? 1 : 0;
out:
    if (trace)
        fclose(trace);
    for (long i = 0; bc && i < nconn; i++) {
        stisign_close(bc[i].c);
        free(bc[i].sent_ns);
        free(bc[i].lag_us);
    }
    free(bc);
    free(evs);
    free(want_out);
    if (epfd >= 0)
        close(epfd);
    free(lat);
    free(lag);
    free(dirty);
    return ret;
}
