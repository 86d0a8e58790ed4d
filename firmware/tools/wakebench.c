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
 * answering process spent per round (woken, read, write, back to sleep).
 * The two-CPU cases need two CPUs in the affinity mask; with one they are
 * left out.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "opts.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))
#define WB_MAX_SECONDS 10 /* each case stops after this long, rounds or not */

static uint64_t wb_now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int wb_pin(int cpu)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

static int wb_io(int fd, int write_it, char *b)
{
    for (;;) {
        ssize_t n = write_it ? write(fd, b, 1) : read(fd, b, 1);
        if (n == 1)
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        return -1;
    }
}

/* One case: the requester on cpu_a, the answering child on cpu_b. Returns
 * 0 and fills the averages, or -1 when a process could not be started,
 * pinned or talked to. */
static int wb_case(int cpu_a, int cpu_b, long rounds, long gap_us, long *done, double *rt_us,
                   double *wake_cpu_us)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return -1;
    }
    if (pid == 0) {
        char b;
        close(sv[0]);
        if (wb_pin(cpu_b) != 0)
            _exit(2);
        while (wb_io(sv[1], 0, &b) == 0) /* until the requester closes */
            if (wb_io(sv[1], 1, &b) != 0)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    int rc = wb_pin(cpu_a);
    struct rusage r0, r1;
    getrusage(RUSAGE_CHILDREN, &r0);
    struct timespec gap = {gap_us / 1000000, (gap_us % 1000000) * 1000};
    uint64_t wait_ns = 0, t_end = wb_now_ns() + (uint64_t)WB_MAX_SECONDS * 1000000000u;
    long n = 0;
    char b = 'w';
    for (; rc == 0 && n < rounds; n++) {
        uint64_t t = wb_now_ns();
        if (t >= t_end)
            break;
        if (wb_io(sv[0], 1, &b) != 0 || wb_io(sv[0], 0, &b) != 0) {
            rc = -1;
            break;
        }
        wait_ns += wb_now_ns() - t;
        if (gap_us)
            nanosleep(&gap, NULL);
    }
    close(sv[0]); /* the child reads EOF and exits */
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    getrusage(RUSAGE_CHILDREN, &r1);
    if (rc != 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0 || n == 0)
        return -1;
    double cpu_us = (double)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1e6 +
                    (double)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) +
                    (double)(r1.ru_stime.tv_sec - r0.ru_stime.tv_sec) * 1e6 +
                    (double)(r1.ru_stime.tv_usec - r0.ru_stime.tv_usec);
    *done = n;
    *rt_us = (double)wait_ns / 1000.0 / (double)n;
    *wake_cpu_us = cpu_us / (double)n;
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
    int cpus[2], ncpu = 0;
    if (sched_getaffinity(0, sizeof mask, &mask) != 0) {
        perror("sched_getaffinity");
        return 1;
    }
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
        if (cases[i].two && ncpu < 2)
            continue;
        if (wb_case(cpus[0], cpus[cases[i].two ? 1 : 0], rounds, cases[i].gap, &done, &rt, &cpu) !=
            0) {
            fprintf(stderr, "stisign-wakebench: case %s failed\n", cases[i].name);
            return 1;
        }
        printf("wake: case=%s rounds=%ld round_trip_us=%.1f wake_cpu_us=%.1f\n", cases[i].name,
               done, rt, cpu);
    }
    return 0;
}
