/* test_sandbox.c — bsp_sandbox (board/common/sandbox.c): each case confines
 * a forked child and watches how it ends. A call outside the role's list
 * must kill the child with SIGSYS in enforce mode and go through in log
 * mode; the calls the role lives on must still work; ids, groups, root,
 * no-new-privs and dumpable must be what was asked, and must stay so.
 * Cases that change user or root need root (CI runs the suite as root);
 * as another user they say so and check the refusal instead. */
#define _GNU_SOURCE /* getresuid, ptsname_r */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "bsp.h"
#include "check.h"
#include "sti_err.h"

#define TEST_USER "nobody"

static const enum bsp_role all_roles[] = {BSP_ROLE_WORKER, BSP_ROLE_KEYS, BSP_ROLE_FRONT,
                                          BSP_ROLE_VERIFIER, BSP_ROLE_CONSOLE};
#define NROLES (sizeof all_roles / sizeof all_roles[0])

/* ---- the child side: confine, probe, report by exit status ---- */

/* A failed expectation in a child: the line on stderr (write is allowed in
 * every role), exit 100. */
static void child_fail(int line, const char *what)
{
    char msg[256];
    int n = snprintf(msg, sizeof msg, "  child: line %d: %s\n", line, what);
    ssize_t w = write(2, msg, (size_t)n);
    (void)w;
    _exit(100);
}
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond))                                                                               \
            child_fail(__LINE__, #cond);                                                           \
    } while (0)

static void confine(enum bsp_role role, enum bsp_sandbox_mode mode)
{
    struct bsp_sandbox_cfg cfg = {NULL, NULL, 0, mode};
    int rc = bsp_sandbox(role, &cfg);
    EXPECT(rc == STI_OK);
}

typedef void (*probe_fn)(enum bsp_role role, void *arg);

/* Runs probe in a child confined to role (or, with mode < 0, not
 * confined: the probe does it) and returns how the child ended:
 * "exit 0", "exit 100" (an EXPECT failed), "SIGSYS", ... */
static const char *in_child(enum bsp_role role, int mode, probe_fn probe, void *arg, char *out,
                            size_t cap)
{
    int st;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        /* A child stuck on a refused call (a sanitizer waiting for a
         * helper the filter killed) ends, rather than the whole suite. */
        alarm(30);
        if (mode >= 0)
            confine(role, (enum bsp_sandbox_mode)mode);
        probe(role, arg);
        _exit(0); /* not exit(): no atexit handlers, no leak check in a probe */
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        snprintf(out, cap, "no child");
    else if (WIFSIGNALED(st))
        snprintf(out, cap, "%s", WTERMSIG(st) == SIGSYS ? "SIGSYS" : strsignal(WTERMSIG(st)));
    else
        snprintf(out, cap, "exit %d", WEXITSTATUS(st));
    return out;
}

/* "role: how it ended", so a failing role names itself. */
#define CHECK_ENDS(role, mode, probe, arg, want)                                                   \
    do {                                                                                           \
        char got_[96], gotr_[128], wantr_[128];                                                    \
        in_child((role), (mode), (probe), (arg), got_, sizeof got_);                               \
        snprintf(gotr_, sizeof gotr_, "%s: %s", bsp_role_name(role), got_);                        \
        snprintf(wantr_, sizeof wantr_, "%s: %s", bsp_role_name(role), (want));                    \
        CHECK_STR(gotr_, wantr_);                                                                  \
    } while (0)

/* Every role ends with want, except the role `but` (-1: none), which must
 * get through ("exit 0"). */
#define CHECK_ROLES(mode, probe, arg, want, but)                                                   \
    do {                                                                                           \
        for (size_t r_ = 0; r_ < NROLES; r_++)                                                     \
            CHECK_ENDS(all_roles[r_], (mode), (probe), (arg),                                      \
                       (int)all_roles[r_] == (but) ? "exit 0" : (want));                           \
    } while (0)

static int is_root(const char *caseName)
{
    if (geteuid() == 0)
        return 1;
    fprintf(stderr, "  %s: needs root, skipped here (CI runs it as root)\n", caseName);
    return 0;
}

static void make_root_dir(char *out, size_t cap)
{
    const char *base = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    mkdir(base, 0755);
    snprintf(out, cap, "%s/sandbox-XXXXXX", base);
    if (!mkdtemp(out))
        out[0] = 0;
}

/* ---- probes: calls outside the lists ---- */

static void probe_execve(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    char *argv[] = {(char *)"stisign-none", NULL};
    /* No such file: without a filter this returns ENOENT. */
    execve("/nonexistent/stisign-none", argv, NULL);
    EXPECT(errno == ENOENT);
}

static void probe_inet_socket(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT(fd >= 0);
    close(fd);
}

static void probe_fork(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(0);
    EXPECT(pid > 0);
    EXPECT(waitpid(pid, NULL, 0) == pid);
}

static void probe_exec_mapping(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    EXPECT(p != MAP_FAILED);
    munmap(p, 4096);
}

static void probe_write_open(enum bsp_role role, void *arg)
{
    (void)role;
    int fd = open((const char *)arg, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    EXPECT(fd >= 0);
    close(fd);
}

static void probe_signal_parent(enum bsp_role role, void *arg)
{
    pid_t parent = *(const pid_t *)arg;
    (void)role;
    /* Signal 0 only checks; outside the list the call itself kills. */
    EXPECT(syscall(SYS_tgkill, parent, parent, 0) == 0);
}

static void probe_ptrace(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    EXPECT(syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0) == 0 || errno == EPERM);
}

/* ---- probes: calls a role lives on ---- */

/* What every role does: clocks, sleeps, the heap, its own pid, a pipe. */
static void probe_basics(enum bsp_role role, void *arg)
{
    int *fds = arg; /* a pipe made before the sandbox */
    struct timespec ts = {0, 1000000};
    (void)role;
    EXPECT(clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
    EXPECT(clock_gettime(CLOCK_REALTIME, &ts) == 0);
    ts.tv_sec = 0;
    ts.tv_nsec = 1000000;
    EXPECT(nanosleep(&ts, NULL) == 0);
    char *big = malloc(8 << 20); /* mmap and munmap, not brk */
    EXPECT(big != NULL);
    memset(big, 1, 8 << 20);
    free(big);
    EXPECT(getpid() > 0);
    EXPECT(write(fds[1], "ok", 2) == 2);
    char buf[2];
    EXPECT(read(fds[0], buf, 2) == 2 && memcmp(buf, "ok", 2) == 0);
    EXPECT(fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK) == 0);
    EXPECT(read(fds[0], buf, 1) == -1 && errno == EAGAIN);
    EXPECT(sched_yield() == 0);
    EXPECT(write(2, "", 0) == 0); /* stderr, where the log goes */
}

/* SOCK_SEQPACKET messages on an inherited channel, descriptors passed. */
static void probe_channel(enum bsp_role role, void *arg)
{
    int *sv = arg;
    char buf[16];
    (void)role;
    EXPECT(send(sv[0], "hello", 5, MSG_NOSIGNAL) == 5);
    EXPECT(recv(sv[1], buf, sizeof buf, 0) == 5);
    struct msghdr mh;
    struct iovec iov = {(void *)"fd", 2};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr h;
    } ctl;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = ctl.buf;
    mh.msg_controllen = sizeof ctl.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &sv[0], sizeof(int));
    EXPECT(sendmsg(sv[0], &mh, MSG_NOSIGNAL) == 2);
    iov.iov_base = buf;
    iov.iov_len = sizeof buf;
    mh.msg_controllen = sizeof ctl.buf;
    EXPECT(recvmsg(sv[1], &mh, MSG_CMSG_CLOEXEC) == 2);
    int got;
    memcpy(&got, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof got);
    EXPECT(got >= 0 && close(got) == 0);
    struct mmsghdr mm;
    memset(&mm, 0, sizeof mm);
    mm.msg_hdr.msg_iov = &iov;
    mm.msg_hdr.msg_iovlen = 1;
    EXPECT(recvmmsg(sv[1], &mm, 1, MSG_DONTWAIT, NULL) == -1 && errno == EAGAIN);
}

/* The worker's token files: SoftHSM2's reads under record locks, its
 * rewrite of token.object, the folder listing; faultp11's flock. */
static void probe_token_files(enum bsp_role role, void *arg)
{
    const char *dir = arg;
    char path[600];
    struct flock lk = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
    (void)role;
    snprintf(path, sizeof path, "%s/token.object", dir);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    EXPECT(fd >= 0);
    EXPECT(fcntl(fd, F_SETLKW, &lk) == 0);
    EXPECT(pwrite(fd, "gen", 3, 0) == 3);
    EXPECT(ftruncate(fd, 3) == 0);
    EXPECT(lseek(fd, 0, SEEK_SET) == 0);
    char buf[4];
    EXPECT(read(fd, buf, 3) == 3);
    struct stat st;
    EXPECT(fstat(fd, &st) == 0 && st.st_size == 3);
    EXPECT(flock(fd, LOCK_EX) == 0 && flock(fd, LOCK_UN) == 0);
    lk.l_type = F_UNLCK;
    EXPECT(fcntl(fd, F_SETLK, &lk) == 0);
    EXPECT(close(fd) == 0);
    DIR *d = opendir(dir);
    EXPECT(d != NULL);
    int seen = 0;
    for (struct dirent *e; (e = readdir(d));)
        seen += strcmp(e->d_name, "token.object") == 0;
    closedir(d);
    EXPECT(seen == 1);
    EXPECT(mlock(buf, sizeof buf) == 0 && munlock(buf, sizeof buf) == 0);
}

/* keys: a module loaded per operation, the token changed. */
static void probe_keys(enum bsp_role role, void *arg)
{
    const char *dir = arg;
    char path[600];
    (void)role;
    const char *module = getenv("STI_TEST_MODULE");
    void *h = dlopen(module ? module : "/usr/lib/softhsm/libsofthsm2.so", RTLD_NOW | RTLD_LOCAL);
    EXPECT(h != NULL);
    EXPECT(dlsym(h, "C_GetFunctionList") != NULL);
    dlclose(h);
    snprintf(path, sizeof path, "%s/new-token", dir);
    EXPECT(mkdir(path, 0700) == 0);
    snprintf(path, sizeof path, "%s/new-token/key.object", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    EXPECT(fd >= 0 && write(fd, "k", 1) == 1 && fsync(fd) == 0 && close(fd) == 0);
    EXPECT(unlink(path) == 0);
}

/* front: libevent's loop (made before the sandbox) over an accepted
 * connection, the peer check. */
struct front_arg {
    struct event_base *base;
    int listen_fd, client_fd;
};

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg += 1;
}

static void probe_front(enum bsp_role role, void *arg)
{
    struct front_arg *fa = arg;
    int fired = 0;
    (void)role;
    int c = accept4(fa->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    EXPECT(c >= 0);
    struct ucred cred;
    socklen_t len = sizeof cred;
    EXPECT(getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && cred.pid == getpid());
    EXPECT(write(fa->client_fd, "x", 1) == 1);
    struct event *ev = event_new(fa->base, c, EV_READ, on_readable, &fired);
    struct timeval tv = {0, 1000};
    struct event *tick = evtimer_new(fa->base, on_readable, &fired);
    EXPECT(ev && tick && event_add(ev, NULL) == 0 && evtimer_add(tick, &tv) == 0);
    while (fired < 2)
        EXPECT(event_base_loop(fa->base, EVLOOP_ONCE) == 0);
    char buf[2];
    EXPECT(recv(c, buf, sizeof buf, 0) == 1);
    EXPECT(shutdown(c, SHUT_WR) == 0);
    event_free(ev);
    event_free(tick);
    close(c);
    int r = open("/dev/null", O_RDONLY | O_CLOEXEC); /* read-only opens are allowed */
    EXPECT(r >= 0);
    close(r);
}

/* verifier: its own TCP connection (non-blocking connect, SO_ERROR) and
 * a UDP exchange as evdns makes it. */
struct verifier_arg {
    struct sockaddr_in tcp, udp;
};

static void probe_verifier(enum bsp_role role, void *arg)
{
    struct verifier_arg *va = arg;
    (void)role;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    EXPECT(s >= 0);
    int rc = connect(s, (struct sockaddr *)&va->tcp, sizeof va->tcp);
    EXPECT(rc == 0 || errno == EINPROGRESS);
    struct pollfd pfd = {s, POLLOUT, 0};
    EXPECT(poll(&pfd, 1, 5000) == 1);
    int err = -1;
    socklen_t len = sizeof err;
    EXPECT(getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0);
    int one = 1;
    EXPECT(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0);
    close(s);
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT(u >= 0);
    EXPECT(connect(u, (struct sockaddr *)&va->udp, sizeof va->udp) == 0);
    EXPECT(send(u, "q", 1, 0) == 1);
    close(u);
}

/* console: the terminal's attributes, I/O and flush on a pty. */
struct console_arg {
    int master, slave;
};

static void probe_console(enum bsp_role role, void *arg)
{
    struct console_arg *ca = arg;
    struct termios t;
    (void)role;
    EXPECT(tcgetattr(ca->slave, &t) == 0);
    cfmakeraw(&t);
    EXPECT(tcsetattr(ca->slave, TCSANOW, &t) == 0);
    EXPECT(write(ca->master, "a", 1) == 1);
    char c;
    EXPECT(read(ca->slave, &c, 1) == 1 && c == 'a');
    EXPECT(tcflush(ca->slave, TCIOFLUSH) == 0);
    int n = -1;
    EXPECT(ioctl(ca->slave, FIONREAD, &n) == 0 && n == 0);
}

static void probe_console_tiocsti(enum bsp_role role, void *arg)
{
    struct console_arg *ca = arg;
    (void)role;
    char c = 'x';
    /* Pushing input into the terminal: no console command needs it. */
    EXPECT(ioctl(ca->slave, TIOCSTI, &c) == 0 || errno == EPERM || errno == EIO);
}

/* ------------------------------------------------------------------ cases */

TEST(every_role_is_killed_by_execve_in_enforce)
{
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_execve, NULL, "SIGSYS", -1);
}

TEST(log_mode_lets_the_same_calls_through)
{
    CHECK_ROLES(BSP_SANDBOX_LOG, probe_execve, NULL, "exit 0", -1);
    CHECK_ROLES(BSP_SANDBOX_LOG, probe_inet_socket, NULL, "exit 0", -1);
    CHECK_ROLES(BSP_SANDBOX_LOG, probe_fork, NULL, "exit 0", -1);
}

TEST(off_mode_installs_no_filter)
{
    CHECK_ROLES(BSP_SANDBOX_OFF, probe_execve, NULL, "exit 0", -1);
}

TEST(only_the_verifier_opens_an_internet_socket)
{
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_inet_socket, NULL, "SIGSYS", BSP_ROLE_VERIFIER);
}

TEST(no_role_forks)
{
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_fork, NULL, "SIGSYS", -1);
}

TEST(only_keys_maps_new_code)
{
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_exec_mapping, NULL, "SIGSYS", BSP_ROLE_KEYS);
}

TEST(network_roles_open_files_read_only)
{
    char dir[512], path[600];
    make_root_dir(dir, sizeof dir);
    CHECK(dir[0]);
    snprintf(path, sizeof path, "%s/written", dir);
    CHECK_ENDS(BSP_ROLE_FRONT, BSP_SANDBOX_ENFORCE, probe_write_open, path, "SIGSYS");
    CHECK_ENDS(BSP_ROLE_VERIFIER, BSP_SANDBOX_ENFORCE, probe_write_open, path, "SIGSYS");
    CHECK_ENDS(BSP_ROLE_CONSOLE, BSP_SANDBOX_ENFORCE, probe_write_open, path, "SIGSYS");
    CHECK(access(path, F_OK) != 0);
    CHECK_ENDS(BSP_ROLE_WORKER, BSP_SANDBOX_ENFORCE, probe_write_open, path, "exit 0");
    unlink(path);
    rmdir(dir);
}

TEST(signals_go_to_the_process_itself_only)
{
    pid_t self = getpid(); /* the child's parent */
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_signal_parent, &self, "SIGSYS", -1);
}

TEST(no_role_traces_outside_sanitizer_builds)
{
#ifdef BSP_SANITIZER_RUNTIME
    const char *want = "exit 0"; /* LeakSanitizer's exit-time check ptraces */
#else
    const char *want = "SIGSYS";
#endif
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_ptrace, NULL, want, -1);
}

void *sandbox_kept; /* reachable from a global: no leak to report */

static void probe_exit(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    sandbox_kept = malloc(64);
    exit(0); /* atexit handlers and, in sanitizer builds, the leak check */
}

#ifdef BSP_SANITIZER_RUNTIME
static volatile int sink;
static void probe_asan_report(enum bsp_role role, void *arg)
{
    (void)role;
    (void)arg;
    volatile char *p = malloc(8);
    sink = p[8]; /* heap-buffer-overflow: ASan reports and ends the process */
}

static void probe_ubsan_report(enum bsp_role role, void *arg)
{
    volatile int big = 0x7fffffff;
    (void)role;
    (void)arg;
    sink = big + 1; /* signed overflow: UBSan reports and ends the process */
}
#endif

TEST(sanitizer_reports_and_exit_checks_run_under_the_filter)
{
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_exit, NULL, "exit 0", -1);
#ifdef BSP_SANITIZER_RUNTIME
    /* A report must be printed and end the process its own way (abort
     * with abort_on_error=1, exit 1 otherwise), never by SIGSYS halfway. */
    const char *want =
        strstr(getenv("ASAN_OPTIONS") ? getenv("ASAN_OPTIONS") : "", "abort_on_error=1") ? "Aborted"
                                                                                         : "exit 1";
    CHECK_ROLES(BSP_SANDBOX_ENFORCE, probe_asan_report, NULL, want, -1);
    for (size_t i = 0; i < NROLES; i++) {
        char got[96];
        in_child(all_roles[i], BSP_SANDBOX_ENFORCE, probe_ubsan_report, NULL, got, sizeof got);
        CHECK(strcmp(got, "Aborted") == 0 || strcmp(got, "exit 1") == 0);
    }
#endif
}

TEST(every_role_keeps_its_basics)
{
    for (size_t i = 0; i < NROLES; i++) {
        int fds[2];
        CHECK(pipe(fds) == 0);
        CHECK_ENDS(all_roles[i], BSP_SANDBOX_ENFORCE, probe_basics, fds, "exit 0");
        close(fds[0]);
        close(fds[1]);
        int sv[2];
        CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
        CHECK_ENDS(all_roles[i], BSP_SANDBOX_ENFORCE, probe_channel, sv, "exit 0");
        close(sv[0]);
        close(sv[1]);
    }
}

TEST(worker_and_keys_use_the_token_files)
{
    char dir[512];
    make_root_dir(dir, sizeof dir);
    CHECK(dir[0]);
    CHECK_ENDS(BSP_ROLE_WORKER, BSP_SANDBOX_ENFORCE, probe_token_files, dir, "exit 0");
    CHECK_ENDS(BSP_ROLE_KEYS, BSP_SANDBOX_ENFORCE, probe_token_files, dir, "exit 0");
    CHECK_ENDS(BSP_ROLE_KEYS, BSP_SANDBOX_ENFORCE, probe_keys, dir, "exit 0");
    /* The worker changes no token: no folder, no unlink. */
    CHECK_ENDS(BSP_ROLE_WORKER, BSP_SANDBOX_ENFORCE, probe_keys, dir, "SIGSYS");
    char path[600];
    snprintf(path, sizeof path, "%s/token.object", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/new-token", dir);
    rmdir(path);
    rmdir(dir);
}

static void front_setup_and_probe(enum bsp_role role, void *arg)
{
    struct front_arg fa;
    int sv[2];
    (void)arg;
    /* Everything the front holds is made before it is confined. */
    EXPECT(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
    fa.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    /* An abstract name: nothing to clean up. */
    snprintf(a.sun_path + 1, sizeof a.sun_path - 1, "stisign-sandbox-%d", (int)getpid());
    socklen_t alen =
        (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(a.sun_path + 1));
    EXPECT(bind(fa.listen_fd, (struct sockaddr *)&a, alen) == 0 && listen(fa.listen_fd, 4) == 0);
    fa.client_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT(connect(fa.client_fd, (struct sockaddr *)&a, alen) == 0);
    fa.base = event_base_new();
    EXPECT(fa.base != NULL);
    confine(role, BSP_SANDBOX_ENFORCE);
    probe_front(role, &fa);
}

TEST(front_serves_from_its_loop)
{
    CHECK_ENDS(BSP_ROLE_FRONT, -1, front_setup_and_probe, NULL, "exit 0");
}

static void verifier_setup_and_probe(enum bsp_role role, void *arg)
{
    struct verifier_arg va;
    socklen_t len = sizeof va.tcp;
    (void)arg;
    memset(&va, 0, sizeof va);
    va.tcp.sin_family = va.udp.sin_family = AF_INET;
    va.tcp.sin_addr.s_addr = va.udp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT(l >= 0 && bind(l, (struct sockaddr *)&va.tcp, sizeof va.tcp) == 0 && listen(l, 4) == 0);
    EXPECT(getsockname(l, (struct sockaddr *)&va.tcp, &len) == 0);
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    len = sizeof va.udp;
    EXPECT(u >= 0 && bind(u, (struct sockaddr *)&va.udp, sizeof va.udp) == 0);
    EXPECT(getsockname(u, (struct sockaddr *)&va.udp, &len) == 0);
    confine(role, BSP_SANDBOX_ENFORCE);
    probe_verifier(role, &va);
    char q;
    EXPECT(recv(u, &q, 1, 0) == 1 && q == 'q');
}

TEST(verifier_connects_out)
{
    CHECK_ENDS(BSP_ROLE_VERIFIER, -1, verifier_setup_and_probe, NULL, "exit 0");
}

static int open_console(struct console_arg *ca)
{
    char name[128];
    ca->master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (ca->master < 0 || grantpt(ca->master) || unlockpt(ca->master) ||
        ptsname_r(ca->master, name, sizeof name))
        return -1;
    ca->slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    return ca->slave < 0 ? -1 : 0;
}

static void console_setup_and_probe(enum bsp_role role, void *arg)
{
    struct console_arg ca;
    EXPECT(open_console(&ca) == 0);
    confine(role, BSP_SANDBOX_ENFORCE);
    if (arg)
        probe_console_tiocsti(role, &ca);
    else
        probe_console(role, &ca);
}

TEST(console_drives_its_terminal_and_nothing_more)
{
    CHECK_ENDS(BSP_ROLE_CONSOLE, -1, console_setup_and_probe, NULL, "exit 0");
    CHECK_ENDS(BSP_ROLE_CONSOLE, -1, console_setup_and_probe, (void *)1, "SIGSYS");
}

/* A thread started before the sandbox is filtered as well (TSYNC): it
 * tries execve once the main thread has confined the process. */
static pthread_mutex_t th_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t th_cv = PTHREAD_COND_INITIALIZER;
static int th_go;

static void *thread_execs(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&th_mu);
    while (!th_go)
        pthread_cond_wait(&th_cv, &th_mu);
    pthread_mutex_unlock(&th_mu);
    probe_execve(BSP_ROLE_FRONT, NULL);
    return NULL;
}

static void threads_setup_and_probe(enum bsp_role role, void *arg)
{
    pthread_t t;
    (void)arg;
    EXPECT(pthread_create(&t, NULL, thread_execs, NULL) == 0);
    confine(role, BSP_SANDBOX_ENFORCE);
    pthread_mutex_lock(&th_mu);
    th_go = 1;
    pthread_cond_signal(&th_cv);
    pthread_mutex_unlock(&th_mu);
    EXPECT(pthread_join(t, NULL) == 0);
}

TEST(threads_started_before_are_filtered_too)
{
    CHECK_ENDS(BSP_ROLE_FRONT, -1, threads_setup_and_probe, NULL, "SIGSYS");
}

/* ---- ids, root, flags ---- */

struct drop_arg {
    const char *root;
    int holds_secret;
    uid_t uid;
    gid_t gid;
    struct stat root_st;
};

static void probe_dropped(enum bsp_role role, void *arg)
{
    struct drop_arg *da = arg;
    /* off: no filter, so setuid below fails by the kernel's rule (EPERM),
     * not by the filter's. */
    struct bsp_sandbox_cfg cfg = {TEST_USER, da->root, da->holds_secret, BSP_SANDBOX_OFF};
    gid_t extra[2] = {0, 4}; /* supplementary groups that must go */
    EXPECT(setgroups(2, extra) == 0 && getgroups(0, NULL) == 2);
    EXPECT(bsp_sandbox(role, &cfg) == STI_OK);
    uid_t r, e, s;
    gid_t rg, eg, sg;
    EXPECT(getresuid(&r, &e, &s) == 0 && r == da->uid && e == da->uid && s == da->uid);
    EXPECT(getresgid(&rg, &eg, &sg) == 0 && rg == da->gid && eg == da->gid && sg == da->gid);
    EXPECT(getgroups(0, NULL) == 0);
    EXPECT(setuid(0) == -1 && errno == EPERM);
    EXPECT(setgid(0) == -1 && errno == EPERM);
    gid_t root_group = 0;
    EXPECT(setgroups(1, &root_group) == -1 && errno == EPERM);
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    /* Without a secret the kernel's own rule applies (a uid change makes
     * a process fs.suid_dumpable); with one it is never dumpable. */
    if (da->holds_secret)
        EXPECT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0);
    EXPECT(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
    struct stat st;
    char cwd[64];
    EXPECT(stat("/", &st) == 0 && st.st_ino == da->root_st.st_ino &&
           st.st_dev == da->root_st.st_dev);
    EXPECT(getcwd(cwd, sizeof cwd) && strcmp(cwd, "/") == 0);
    EXPECT(access("/etc/passwd", F_OK) != 0);
}

/* The whole of it, as a front or a verifier will run: user, root, secret,
 * filter; the basics still work. */
static void probe_fully_confined(enum bsp_role role, void *arg)
{
    struct drop_arg *da = arg;
    struct bsp_sandbox_cfg cfg = {TEST_USER, da->root, 1, BSP_SANDBOX_ENFORCE};
    int fds[2];
    EXPECT(pipe(fds) == 0);
    EXPECT(bsp_sandbox(role, &cfg) == STI_OK);
    EXPECT(geteuid() == da->uid);
    probe_basics(role, fds);
}

TEST(drops_to_the_user_without_groups_inside_the_empty_root)
{
    struct drop_arg da;
    char dir[512];
    if (!is_root(__func__))
        return;
    struct passwd *pw = getpwnam(TEST_USER);
    CHECK(pw != NULL);
    make_root_dir(dir, sizeof dir);
    CHECK(dir[0] && stat(dir, &da.root_st) == 0);
    da.root = dir;
    da.uid = pw->pw_uid;
    da.gid = pw->pw_gid;
    for (size_t i = 0; i < NROLES; i++) {
        da.holds_secret = all_roles[i] == BSP_ROLE_WORKER || all_roles[i] == BSP_ROLE_KEYS;
        CHECK_ENDS(all_roles[i], -1, probe_dropped, &da, "exit 0");
        CHECK_ENDS(all_roles[i], -1, probe_fully_confined, &da, "exit 0");
    }
    rmdir(dir);
}

static void probe_kept(enum bsp_role role, void *arg)
{
    const int *holds_secret = arg;
    uid_t r0 = getuid(), e0 = geteuid();
    struct bsp_sandbox_cfg cfg = {"", NULL, *holds_secret, BSP_SANDBOX_OFF};
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    EXPECT(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) == 0);
    EXPECT(bsp_sandbox(role, &cfg) == STI_OK);
    EXPECT(getuid() == r0 && geteuid() == e0);
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    EXPECT(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == (*holds_secret ? 0 : 1));
}

TEST(without_user_or_root_only_the_flags_change)
{
    int secret = 1, none = 0;
    CHECK_ENDS(BSP_ROLE_WORKER, -1, probe_kept, &secret, "exit 0");
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_kept, &none, "exit 0");
}

static void probe_refused(enum bsp_role role, void *arg)
{
    const struct bsp_sandbox_cfg *cfg = arg;
    if (geteuid() == 0) { /* become someone else first */
        struct passwd *pw = getpwnam(TEST_USER);
        EXPECT(pw && setgroups(0, NULL) == 0 &&
               setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == 0 &&
               setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == 0);
    }
    EXPECT(bsp_sandbox(role, cfg) == STI_ESANDBOX_PRIV);
    /* Refused before anything changed. */
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    EXPECT(prctl(PR_GET_SECCOMP, 0, 0, 0, 0) == 0);
}

TEST(user_or_root_dir_without_root_is_refused)
{
    struct bsp_sandbox_cfg user = {TEST_USER, NULL, 0, BSP_SANDBOX_ENFORCE};
    struct bsp_sandbox_cfg root = {NULL, "/", 0, BSP_SANDBOX_ENFORCE};
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_refused, &user, "exit 0");
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_refused, &root, "exit 0");
}

static void probe_rc(enum bsp_role role, void *arg)
{
    const struct bsp_sandbox_cfg *cfg = arg;
    char cwd[512], after[512];
    EXPECT(getcwd(cwd, sizeof cwd) != NULL);
    int rc = bsp_sandbox(role, cfg);
    /* Refused with nothing changed: no flag, same folder. */
    EXPECT(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    EXPECT(getcwd(after, sizeof after) && strcmp(cwd, after) == 0);
    /* The code as an exit status: 7 STI_ESANDBOX_USER, 1 STI_ECONFIG. */
    _exit(rc == STI_ESANDBOX_USER ? 7 : rc == STI_ECONFIG ? 1 : rc == STI_OK ? 0 : 99);
}

TEST(unknown_user_is_refused_before_anything_changes)
{
    struct bsp_sandbox_cfg cfg = {"stisign-no-such-user", "/", 1, BSP_SANDBOX_ENFORCE};
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_rc, &cfg, "exit 7"); /* STI_ESANDBOX_USER */
}

TEST(root_dir_others_may_write_is_refused)
{
    char dir[512];
    if (!is_root(__func__))
        return;
    make_root_dir(dir, sizeof dir);
    CHECK(dir[0] && chmod(dir, 0777) == 0);
    struct bsp_sandbox_cfg cfg = {NULL, dir, 0, BSP_SANDBOX_ENFORCE};
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_rc, &cfg, "exit 1"); /* STI_ECONFIG */
    struct bsp_sandbox_cfg missing = {NULL, "/nonexistent/stisign-root", 0, BSP_SANDBOX_ENFORCE};
    CHECK_ENDS(BSP_ROLE_FRONT, -1, probe_rc, &missing, "exit 1");
    rmdir(dir);
}

TEST(unknown_role_or_mode_is_refused)
{
    struct bsp_sandbox_cfg cfg = {NULL, NULL, 0, BSP_SANDBOX_ENFORCE};
    CHECK_ENDS((enum bsp_role)BSP_ROLE_COUNT, -1, probe_rc, &cfg, "exit 1");
    cfg.mode = (enum bsp_sandbox_mode)3;
    CHECK_ENDS(BSP_ROLE_WORKER, -1, probe_rc, &cfg, "exit 1");
}

TEST(mode_names_parse_exactly)
{
    enum bsp_sandbox_mode m = BSP_SANDBOX_OFF;
    CHECK_RC(bsp_sandbox_mode_parse("enforce", &m), STI_OK);
    CHECK_INT(m, BSP_SANDBOX_ENFORCE);
    CHECK_RC(bsp_sandbox_mode_parse("log", &m), STI_OK);
    CHECK_INT(m, BSP_SANDBOX_LOG);
    CHECK_RC(bsp_sandbox_mode_parse("off", &m), STI_OK);
    CHECK_INT(m, BSP_SANDBOX_OFF);
    CHECK_RC(bsp_sandbox_mode_parse("Enforce", &m), STI_ECONFIG);
    CHECK_RC(bsp_sandbox_mode_parse("", &m), STI_ECONFIG);
    CHECK_RC(bsp_sandbox_mode_parse("off ", &m), STI_ECONFIG);
    CHECK_STR(bsp_sandbox_mode_name(BSP_SANDBOX_LOG), "log");
    CHECK_STR(bsp_role_name(BSP_ROLE_VERIFIER), "verifier");
    CHECK_STR(bsp_role_name((enum bsp_role)BSP_ROLE_COUNT), "?");
}

CHECK_MAIN(CASE(every_role_is_killed_by_execve_in_enforce),
           CASE(log_mode_lets_the_same_calls_through), CASE(off_mode_installs_no_filter),
           CASE(only_the_verifier_opens_an_internet_socket), CASE(no_role_forks),
           CASE(only_keys_maps_new_code), CASE(network_roles_open_files_read_only),
           CASE(signals_go_to_the_process_itself_only),
           CASE(no_role_traces_outside_sanitizer_builds),
           CASE(sanitizer_reports_and_exit_checks_run_under_the_filter),
           CASE(every_role_keeps_its_basics), CASE(worker_and_keys_use_the_token_files),
           CASE(front_serves_from_its_loop), CASE(verifier_connects_out),
           CASE(console_drives_its_terminal_and_nothing_more),
           CASE(threads_started_before_are_filtered_too),
           CASE(drops_to_the_user_without_groups_inside_the_empty_root),
           CASE(without_user_or_root_only_the_flags_change),
           CASE(user_or_root_dir_without_root_is_refused),
           CASE(unknown_user_is_refused_before_anything_changes),
           CASE(root_dir_others_may_write_is_refused), CASE(unknown_role_or_mode_is_refused),
           CASE(mode_names_parse_exactly))
