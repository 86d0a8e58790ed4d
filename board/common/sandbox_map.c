/*
 * sandbox_map.c — the map: for each process role, the system calls it may
 * make once bsp_sandbox has confined it. Everything else kills the process
 * (mode enforce) or is logged by the kernel (mode log). docs/sandbox.md
 * says how the lists were measured and how to find a missing call.
 *
 * The lists are built from groups; each group says who needs its calls.
 * They were measured with strace -f on the daemon and its HSM workers
 * during the integration, fault and console suites (gcc and ASan builds)
 * and checked by running the suites with the workers in enforce mode.
 * A role that is not yet a process of its own (keys, front, verifier,
 * console) got what the same code makes today inside stisignd, on the
 * thread that runs it, once its files and sockets are open.
 */
#include <fcntl.h>
#include <linux/sched.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include "sandbox_int.h"

/* One entry a line: clang-format would spread the braces over nine. */
/* clang-format off */
#define SC(n) {SCMP_SYS(n), #n, 0, {{0, 0, 0, 0}}}
#define SC_IF(n, a) {SCMP_SYS(n), #n, 1, {a}}
#define SC_IF2(n, a, b) {SCMP_SYS(n), #n, 2, {a, b}}
/* argument i equals v; argument i with mask applied equals v */
#define ARG_EQ(i, v) {(i), SCMP_CMP_EQ, (scmp_datum_t)(v), 0}
#define ARG_MASKED(i, mask, v) {(i), SCMP_CMP_MASKED_EQ, (scmp_datum_t)(mask), (scmp_datum_t)(v)}
/* clang-format on */
/* ioctl requests are 32 bits; the upper half of the register is not ours */
#define IOCTL(req) SC_IF(ioctl, ARG_MASKED(1, 0xffffffffu, req))

/* ---- every role ---- */

/* glibc's process basics: exit, signal return and masks, handlers (libevent
 * installs them while it runs, the sanitizers on a report), its own pid and
 * tid, abort() and raise() (tgkill, to this process only), locks inside
 * glibc, OpenSSL and the token library (futex), clocks and sleeps, yields
 * (the worker's low-water yield), OpenSSL's reseeding (getrandom), and the
 * uid/gid reads of OpenSSL and glibc. */
#define SC_PROCESS                                                                                 \
    SC(exit), SC(exit_group), SC(restart_syscall), SC(rt_sigreturn), SC(rt_sigprocmask),           \
        SC(rt_sigaction), SC(sigaltstack), SC(getpid), SC(gettid),                                 \
        SC_IF(tgkill, ARG_EQ(0, BSP_SC_SELF)), SC(futex), SC(clock_gettime), SC(clock_getres),     \
        SC(gettimeofday), SC(time), SC(nanosleep), SC(clock_nanosleep), SC(sched_yield),           \
        SC(getrandom), SC(getuid), SC(geteuid), SC(getgid), SC(getegid)

/* The heap (glibc malloc, C++ new in SoftHSM2, the ASan allocator and its
 * shadow), but no new executable memory: mmap and mprotect without
 * PROT_EXEC. */
#define SC_MEMORY                                                                                  \
    SC(brk), SC_IF(mmap, ARG_MASKED(2, PROT_EXEC, 0)),                                             \
        SC_IF(mprotect, ARG_MASKED(2, PROT_EXEC, 0)), SC(munmap), SC(mremap), SC(madvise)

/* Descriptors the process already holds: its channel, stderr (the log and
 * sanitizer reports), the console or a connection; their status, the
 * fcntl flags glibc and libevent set (non-blocking, close-on-exec), and
 * isatty() (TCGETS: glibc's stdio buffering, the sanitizers' colours). */
#define SC_DESCRIPTORS                                                                             \
    SC(read), SC(write), SC(readv), SC(writev), SC(close), SC(fstat), SC(newfstatat), SC(lseek),   \
        SC_IF(fcntl, ARG_EQ(1, F_GETFL)), SC_IF(fcntl, ARG_EQ(1, F_SETFL)),                        \
        SC_IF(fcntl, ARG_EQ(1, F_GETFD)), SC_IF(fcntl, ARG_EQ(1, F_SETFD)), IOCTL(TCGETS)

/* Messages on the SOCK_SEQPACKET channel to the parent (ipc.h: sendmsg and
 * recvmsg, descriptors passed with SCM_RIGHTS; the HSM worker's send and
 * recv; the loop's recvmmsg). */
#define SC_CHANNEL SC(sendto), SC(recvfrom), SC(sendmsg), SC(recvmsg), SC(recvmmsg)

/* syslog(3), with log_syslog = yes and for the token library's own
 * messages (SoftHSM2 reports token file errors there): glibc opens a
 * socket to /dev/log at the first message and again after syslogd
 * restarts. Unix-domain only; in an empty root /dev/log is not there, and
 * the message is dropped rather than the process killed. */
#define SC_SYSLOG                                                                                  \
    SC_IF2(socket, ARG_EQ(0, AF_UNIX), ARG_EQ(1, SOCK_DGRAM | SOCK_CLOEXEC)),                      \
        SC_IF2(socket, ARG_EQ(0, AF_UNIX), ARG_EQ(1, SOCK_STREAM | SOCK_CLOEXEC)), SC(connect)

#ifdef BSP_SANITIZER_RUNTIME
/* Sanitizer builds only (-DSTI_SANITIZE=ON; docs/sandbox.md). At exit,
 * LeakSanitizer clones a tracer (CLONE_VM: a thread-like clone, never a
 * fork) that ptrace-attaches to every thread it finds in /proc/self/task,
 * waits for them and makes the process dumpable for that time (prctl);
 * ASan reads /proc/self/maps and the executable's path on a report, and
 * asks its stack limits. */
#define SC_SANITIZER                                                                               \
    SC_IF(clone, ARG_MASKED(0, CLONE_VM, CLONE_VM)), SC(ptrace), SC(wait4), SC(prctl),             \
        SC(getppid), SC(readlink), SC(getdents), SC(getdents64), SC(sched_getaffinity),            \
        SC(prlimit64), SC(getrlimit),                                                              \
        SC_IF(openat, ARG_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),                     \
        SC_IF(open, ARG_MASKED(1, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY))
#else
#define SC_SANITIZER
#endif

/* ---- roles that hold a token session ---- */

/* Secrets in locked pages: the PIN copies, SoftHSM2's secure allocator. */
#define SC_LOCKED SC(mlock), SC(munlock)

/* The token library's files. SoftHSM2 re-reads its token folder whenever
 * it looks at objects (signing with a token object: key_session_copy =
 * no; lists after another process changed the token: getdents64), under
 * fcntl record locks, and rewrites token.object (and token.lock) when a
 * session is reopened and logged in again after a token error. libfaultp11
 * in the fault suites keeps its counters in a file under flock. */
#define SC_TOKEN_FILES                                                                             \
    SC(openat), SC(open), SC(pread64), SC(pwrite64), SC(ftruncate), SC(flock), SC(getdents64),     \
        SC_IF(fcntl, ARG_EQ(1, F_SETLK)), SC_IF(fcntl, ARG_EQ(1, F_SETLKW)),                       \
        SC_IF(fcntl, ARG_EQ(1, F_GETLK))

/* keys: token administration (C_InitToken makes the token's folder,
 * C_DestroyObject removes object files, key generation writes and syncs
 * new ones) and a module or OpenSSL provider loaded per operation (dlopen:
 * the library's path resolved, mapped executable). */
#define SC_TOKEN_ADMIN                                                                             \
    SC(mkdir), SC(mkdirat), SC(unlink), SC(unlinkat), SC(rmdir), SC(fsync), SC(fdatasync),         \
        SC(fchmod), SC(umask)
#define SC_LOAD_CODE                                                                               \
    SC(brk), SC(mmap), SC(mprotect), SC(munmap), SC(mremap), SC(madvise), SC(access),              \
        SC(faccessat), SC(faccessat2), SC(readlink), SC(readlinkat)

/* ---- roles that run a libevent loop ---- */

/* The event loop (epoll: epoll_wait on x86_64, epoll_pwait where there is
 * none; epoll_ctl as events come and go) and its FIONREAD on sockets. */
#define SC_LOOP SC(epoll_wait), SC(epoll_pwait), SC(epoll_ctl), IOCTL(FIONREAD)

/* Files read-only, never created or written (OpenSSL's late reads; in the
 * empty root there is nothing else to read). */
#define SC_READ_ONLY                                                                               \
    SC_IF(openat, ARG_MASKED(2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY)),                         \
        SC_IF(open, ARG_MASKED(1, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY))

/* front: the I/O loop's own scheduling (loop_sched_batch: SCHED_BATCH for
 * itself only, pid 0) and the CPUs it may bind workers to. */
#define SC_SCHED                                                                                   \
    SC(sched_getscheduler), SC_IF(sched_setscheduler, ARG_EQ(0, 0)), SC(sched_getaffinity)

/* front: a client's groups come from the user database at accept
 * (getgrouplist): glibc asks nscd, and systemd's module asks
 * systemd-userdb, each over a non-blocking Unix socket, after resolving
 * the links of its drop-in folders (readlinkat); the modules themselves
 * are loaded before the filter goes on. */
#define SC_USERDB                                                                                  \
    SC_IF2(socket, ARG_EQ(0, AF_UNIX), ARG_EQ(1, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK)),     \
        SC(readlinkat)

/* front: connections on the listening sockets the parent bound (it
 * listens on the RPC socket once it can serve), the peer check
 * (SO_PEERCRED), socket options of accepted connections, evhttp's
 * half-close. No socket(): the front makes no connection of its own. */
#define SC_ACCEPT                                                                                  \
    SC(accept4), SC(accept), SC(listen), SC(getsockopt), SC(setsockopt), SC(getsockname),          \
        SC(getpeername), SC(shutdown)

/* verifier: its own connections, IPv4 or IPv6 only: TCP to x5u and CRL
 * servers (non-blocking connect, then SO_ERROR) and UDP or TCP to DNS
 * servers (evdns; glibc's resolver sends A and AAAA together with sendmmsg
 * and waits with poll). */
#define SC_CONNECT                                                                                 \
    SC_IF(socket, ARG_EQ(0, AF_INET)), SC_IF(socket, ARG_EQ(0, AF_INET6)), SC(getsockopt),         \
        SC(setsockopt), SC(getsockname), SC(getpeername), SC(shutdown), SC(sendmmsg), SC(poll),    \
        SC(ppoll)

/* console: the terminal's attributes (tcgetattr, tcsetattr), flushing and
 * size; no other ioctl. */
#define SC_TTY                                                                                     \
    IOCTL(TCGETS), IOCTL(TCSETS), IOCTL(TCSETSW), IOCTL(TCSETSF), IOCTL(TCFLSH), IOCTL(TIOCGWINSZ)

/* ---- the map ---- */

/* The HSM worker: signs on its logged-in session, answers on its channel.
 * No socket but syslog's, no exec, no fork, no ptrace. */
static const struct bsp_sc sc_worker[] = {SC_PROCESS, SC_MEMORY, SC_DESCRIPTORS, SC_CHANNEL,
                                          SC_SYSLOG,  SC_LOCKED, SC_TOKEN_FILES, SC_SANITIZER};

/* keys/CA: the worker's calls, token administration and code loading. */
static const struct bsp_sc sc_keys[] = {SC_PROCESS,     SC_LOAD_CODE,   SC_DESCRIPTORS,
                                        SC_CHANNEL,     SC_SYSLOG,      SC_LOCKED,
                                        SC_TOKEN_FILES, SC_TOKEN_ADMIN, SC_SANITIZER};

/* front: a loop over its listening sockets, accepted connections and TLS. */
static const struct bsp_sc sc_front[] = {SC_PROCESS, SC_MEMORY, SC_DESCRIPTORS, SC_CHANNEL,
                                         SC_SYSLOG,  SC_LOOP,   SC_SCHED,       SC_READ_ONLY,
                                         SC_ACCEPT,  SC_USERDB, SC_SANITIZER};

/* verifier: a loop over its own HTTPS and DNS connections. */
static const struct bsp_sc sc_verifier[] = {SC_PROCESS,   SC_MEMORY,  SC_DESCRIPTORS,
                                            SC_CHANNEL,   SC_SYSLOG,  SC_LOOP,
                                            SC_READ_ONLY, SC_CONNECT, SC_SANITIZER};

/* console: a loop over the terminal and its channel. */
static const struct bsp_sc sc_console[] = {SC_PROCESS,   SC_MEMORY, SC_DESCRIPTORS,
                                           SC_CHANNEL,   SC_SYSLOG, SC_LOOP,
                                           SC_READ_ONLY, SC_TTY,    SC_SANITIZER};

/* clang-format off */
#define LIST(a) {(a), sizeof(a) / sizeof((a)[0])}
/* clang-format on */
const struct bsp_sc_list bsp_sc_map[BSP_ROLE_COUNT] = {
    [BSP_ROLE_WORKER] = LIST(sc_worker),   [BSP_ROLE_KEYS] = LIST(sc_keys),
    [BSP_ROLE_FRONT] = LIST(sc_front),     [BSP_ROLE_VERIFIER] = LIST(sc_verifier),
    [BSP_ROLE_CONSOLE] = LIST(sc_console),
};
