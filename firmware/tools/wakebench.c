/*
 * wakebench.c — stisign-wakebench: what one wake-up costs on this machine.
 * A request to the daemon crosses four sleeping tasks (bench client, I/O
 * loop, HSM worker, I/O loop, client); below full load each of them was
 * asleep when its message came. This measures that cost alone: two
 * processes bounce one byte over a SOCK_SEQPACKET socketpair (the loop's
 * link to its workers).
 *
 *   stisign-wakebench [--rounds N] [--gap-us G]
 * prints one line per case:
 *   wake: case=C rounds=N round_trip_us=X wake_cpu_us=Y
 * C: same_cpu (both pinned to one CPU, back to back: a hand-over without
 * an idle CPU), two_cpus (one on each, back to back: the other CPU spins
 * briefly in the kernel or halts), two_cpus_idle (one on each, the
 * requester sleeping G us between rounds, so both CPUs go idle: the open
 * loop below full load). X: wall time from send to answer; Y: CPU time the
 * answering process spent per round (woken, read, write, back to sleep),
 * by its own thread CPU clock, sent back at the end. The requester's timer
 * slack is 1 ns, so the idle gap is G us, not G plus the default 50 us.
 * The two-CPU cases need two CPUs in the affinity mask; with one they are
 * left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "latency.h"
#include "opts.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))
#define WB_MAX_SECONDS 10  /* each case stops after this long, rounds or not */
#define WB_REPLY_SECONDS 2 /* an answer later than this: the case fails */
#define WB_STR_(x) #x
#define WB_STR(x) WB_STR_(x)

static int wb_pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

/* One message of n bytes each way; 0, or -1 with errno (EAGAIN: timed
 * out; 0 with *eof set when the peer closed). */
static int wb_send(int fd, const void *b, size_t n)
{
    for (;;) {
        ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
        if (w == (ssize_t)n)
            return 0;
        if (w < 0 && errno == EINTR)
            continue;
        if (w >= 0)
            errno = EIO;
        return -1;
    }
}

static int wb_recv(int fd, void *b, size_t n, int *eof)
{
    for (;;) {
        ssize_t r = recv(fd, b, n, 0);
        *eof = r == 0;
        if (r == (ssize_t)n || r == 0)
            return 0;
        if (r < 0 && errno == EINTR)
            continue;
        if (r > 0)
            errno = EIO;
        return -1;
    }
}

/* The answering side: echoes each byte until the requester shuts its end,
 * then sends the CPU time it spent meanwhile. */
static void wb_child(int fd, int cpu)
{
    char b;
    int eof = 0;
    if (wb_pin(cpu) != 0)
        _exit(2);
    uint64_t c0 = lat_thread_cpu_ns();
    while (wb_recv(fd, &b, 1, &eof) == 0 && !eof)
        if (wb_send(fd, &b, 1) != 0)
            _exit(1);
    uint64_t used = lat_thread_cpu_ns() - c0;
    _exit(eof && wb_send(fd, &used, sizeof used) == 0 ? 0 : 1);
}

/* One case: the requester on cpu_a, the answering child on cpu_b. Returns
 * 0 and fills the averages, or -1 with *why set. */
static int wb_case(int cpu_a, int cpu_b, long rounds, long gap_us, long *done, double *rt_us,
                   double *wake_cpu_us, const char **why)
{
    int sv[2], eof = 0;
    *why = "socketpair";
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        return -1;
    struct timeval to = {WB_REPLY_SECONDS, 0};
    pid_t pid = -1;
    *why = "SO_RCVTIMEO";
    if (setsockopt(sv[0], SOL_SOCKET, SO_RCVTIMEO, &to, sizeof to) == 0) {
        *why = "fork";
        pid = fork();
    }
    if (pid == 0) {
        close(sv[0]);
        wb_child(sv[1], cpu_b);
    }
    close(sv[1]);
    if (pid < 0) {
        close(sv[0]);
        return -1;
    }
    *why = "pinning the requester";
    int rc = wb_pin(cpu_a);
    struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
    uint64_t wait_ns = 0, t_end = lat_now_ns() + (uint64_t)WB_MAX_SECONDS * 1000000000u;
    uint64_t used = 0;
    long n = 0;
    char b = 'w';
    if (rc == 0)
        *why = "the echo";
    for (; rc == 0 && n < rounds; n++) {
        uint64_t t = lat_now_ns();
        if (t >= t_end)
            break;
        if (wb_send(sv[0], &b, 1) != 0 || wb_recv(sv[0], &b, 1, &eof) != 0 || eof) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                *why = "no answer within " WB_STR(WB_REPLY_SECONDS) " s";
            rc = -1;
            break;
        }
        wait_ns += lat_now_ns() - t;
        if (gap_us)
            nanosleep(&gap, NULL);
    }
    /* The child reads EOF and answers with its CPU time. */
    if (rc == 0 &&
        (shutdown(sv[0], SHUT_WR) != 0 || wb_recv(sv[0], &used, sizeof used, &eof) != 0 || eof)) {
        *why = "the answerer's CPU time";
        rc = -1;
    }
    close(sv[0]);
    int st = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (rc == 0 && (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)) {
        *why = "the answering process failed";
        rc = -1;
    }
    if (rc == 0 && n == 0) {
        *why = "no round in time";
        rc = -1;
    }
    if (rc != 0)
        return -1;
    *done = n;
    *rt_us = (double)wait_ns / 1000.0 / (double)n;
    *wake_cpu_us = (double)used / 1000.0 / (double)n;
    return 0;
}

int main(int argc, char **argv)
{
    struct opt o[] = {{"rounds", 1, 0, {0}, 0}, {"gap-us", 1, 0, {0}, 0}};
    long rounds, gap;
    size_t npos;
    if (opts_parse(argc - 1, argv + 1, o, NOPT(o), NULL, 0, &npos) != 0 ||
        opts_long(o, NOPT(o), "rounds", 20000, 1000, 10000000, &rounds) ||
        opts_long(o, NOPT(o), "gap-us", 100, 1, 1000000, &gap)) {
        fprintf(stderr, "usage: stisign-wakebench [--rounds N] [--gap-us G]\n");
        return 2;
    }
    cpu_set_t mask;
    int cpus[2] = {0, 0}, ncpu = 0;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
        perror("sched_getaffinity");
        return 1;
    }
    (void)prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    for (int c = 0; c < CPU_SETSIZE && ncpu < 2; c++)
        if (CPU_ISSET(c, &mask))
            cpus[ncpu++] = c;
    struct {
        const char *name;
        int two;
        long gap;
    } cases[] = {{"same_cpu", 0, 0}, {"two_cpus", 1, 0}, {"two_cpus_idle", 1, gap}};
    for (size_t i = 0; i < NOPT(cases); i++) {
        long done;
        double rt, cpu;
        const char *why = "";
        if (cases[i].two && ncpu < 2)
            continue;
        errno = 0;
        if (wb_case(cpus[0], cpus[cases[i].two ? 1 : 0], rounds, cases[i].gap, &done, &rt, &cpu,
                    &why) != 0) {
            fprintf(stderr, "stisign-wakebench: case %s failed: %s%s%s\n", cases[i].name, why,
                    errno ? ": " : "", errno ? strerror(errno) : "");
            return 1;
        }
        printf("wake: case=%s rounds=%ld round_trip_us=%.1f wake_cpu_us=%.1f\n", cases[i].name,
               done, rt, cpu);
    }
    return 0;
}
