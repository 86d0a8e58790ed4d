/*
 * storefault.c — libstorefault.so, an LD_PRELOAD shim that makes the
 * store's I/O fail on command, to prove that a failed commit leaves the old
 * state and is reported (issue 6, "Store faults").
 *
 *   STOREFAULT=write    write()/pwrite() fail with EIO
 *   STOREFAULT=enospc   write()/pwrite() fail with ENOSPC (disk full)
 *   STOREFAULT=short    disk full as it really happens: the first faulted
 *                       write stores half its bytes and returns that count,
 *                       later ones fail with ENOSPC
 *   STOREFAULT=fsync    fsync()/fdatasync() fail with EIO
 *   STOREFAULT=rename   rename()/renameat() fail with EIO
 *   STOREFAULT_PATH=DIR only files under DIR (or DIR itself: the folder
 *                       fsync of a commit) are affected; an fd's path comes
 *                       from readlink /proc/self/fd/N
 *   STOREFAULT_AFTER=N  the first N matching calls succeed (default 0)
 *
 * The environment is read at each call, so a driver can setenv/unsetenv
 * between steps. storefault_reset() (found with dlsym) zeroes the matching
 * call counter and returns how many faults were injected since the last
 * reset; a driver uses it to know the shim is loaded and that a scenario
 * injected something. Everything else goes to the real libc (RTLD_NEXT).
 * Counters are atomics; the shim keeps no other state.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define SF_EXPORT __attribute__((visibility("default")))

enum sf_kind { SF_WRITE, SF_FSYNC, SF_RENAME };

static atomic_ulong sf_matched, sf_injected;
static atomic_int sf_short_done;

SF_EXPORT unsigned long storefault_reset(void);
SF_EXPORT unsigned long storefault_reset(void)
{
    atomic_store(&sf_matched, 0);
    atomic_store(&sf_short_done, 0);
    return atomic_exchange(&sf_injected, 0);
}

/* The real libc function; a race on first use stores the same pointer. */
#define REAL(name)                                                                                 \
    static __typeof__(&name) real_##name;                                                          \
    if (!real_##name) {                                                                            \
        void *sym = dlsym(RTLD_NEXT, #name);                                                       \
        if (!sym) {                                                                                \
            errno = ENOSYS;                                                                        \
            return -1;                                                                             \
        }                                                                                          \
        memcpy(&real_##name, &sym, sizeof sym);                                                    \
    }

static int sf_under(const char *path)
{
    const char *p = getenv("STOREFAULT_PATH");
    char pre[PATH_MAX];
    if (!p || !*p || !path)
        return 0;
    if (!realpath(p, pre) && snprintf(pre, sizeof pre, "%s", p) >= (int)sizeof pre)
        return 0;
    size_t n = strlen(pre);
    while (n > 1 && pre[n - 1] == '/')
        pre[--n] = '\0';
    if (strncmp(path, pre, n) != 0)
        return 0;
    return path[n] == '\0' || path[n] == '/' || (n == 1 && pre[0] == '/');
}

static int sf_fd_path(int fd, char *out, size_t cap)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, out, cap - 1);
    if (n < 0)
        return -1;
    out[n] = '\0';
    return 0;
}

/* A path as the kernel sees it from here: relative ones joined to dirfd
 * (AT_FDCWD: the working folder). Not canonicalised beyond that. */
static int sf_abs(int dirfd, const char *path, char *out, size_t cap)
{
    char base[PATH_MAX];
    if (!path)
        return -1;
    if (path[0] == '/')
        return snprintf(out, cap, "%s", path) < (int)cap ? 0 : -1;
    if (dirfd == AT_FDCWD) {
        if (!getcwd(base, sizeof base))
            return -1;
    } else if (sf_fd_path(dirfd, base, sizeof base) != 0) {
        return -1;
    }
    return snprintf(out, cap, "%s/%s", base, path) < (int)cap ? 0 : -1;
}

/* 0: pass through; else the errno to fail with. path NULL: no match. */
static int sf_fault(enum sf_kind k, const char *path)
{
    const char *m = getenv("STOREFAULT");
    int e;
    if (!m || !path)
        return 0;
    if (k == SF_WRITE && strcmp(m, "write") == 0)
        e = EIO;
    else if (k == SF_WRITE && (strcmp(m, "enospc") == 0 || strcmp(m, "short") == 0))
        e = ENOSPC;
    else if (k == SF_FSYNC && strcmp(m, "fsync") == 0)
        e = EIO;
    else if (k == SF_RENAME && strcmp(m, "rename") == 0)
        e = EIO;
    else
        return 0;
    if (!sf_under(path))
        return 0;
    const char *a = getenv("STOREFAULT_AFTER");
    unsigned long after = a ? strtoul(a, NULL, 10) : 0;
    if (atomic_fetch_add(&sf_matched, 1) < after)
        return 0;
    atomic_fetch_add(&sf_injected, 1);
    return e;
}

static int sf_fd_fault(enum sf_kind k, int fd)
{
    char path[PATH_MAX];
    const char *m = getenv("STOREFAULT");
    if (!m || !getenv("STOREFAULT_PATH")) /* the common case: no readlink */
        return 0;
    return sf_fault(k, sf_fd_path(fd, path, sizeof path) == 0 ? path : NULL);
}

static int sf_short(void)
{
    const char *m = getenv("STOREFAULT");
    return m && strcmp(m, "short") == 0 && atomic_exchange(&sf_short_done, 1) == 0;
}

SF_EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
    REAL(write);
    int e = sf_fd_fault(SF_WRITE, fd);
    if (e && sf_short() && count > 1)
        return real_write(fd, buf, count / 2);
    if (e) {
        errno = e;
        return -1;
    }
    return real_write(fd, buf, count);
}

SF_EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
    REAL(pwrite);
    int e = sf_fd_fault(SF_WRITE, fd);
    if (e && sf_short() && count > 1)
        return real_pwrite(fd, buf, count / 2, off);
    if (e) {
        errno = e;
        return -1;
    }
    return real_pwrite(fd, buf, count, off);
}

SF_EXPORT int fsync(int fd)
{
    REAL(fsync);
    int e = sf_fd_fault(SF_FSYNC, fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fsync(fd);
}

SF_EXPORT int fdatasync(int fd)
{
    REAL(fdatasync);
    int e = sf_fd_fault(SF_FSYNC, fd);
    if (e) {
        errno = e;
        return -1;
    }
    return real_fdatasync(fd);
}

static int sf_rename_fault(int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    char a[PATH_MAX], b[PATH_MAX];
    const char *m = getenv("STOREFAULT");
    if (!m || strcmp(m, "rename") != 0)
        return 0;
    int ua = sf_abs(olddirfd, oldp, a, sizeof a) == 0 && sf_under(a);
    int ub = sf_abs(newdirfd, newp, b, sizeof b) == 0 && sf_under(b);
    return sf_fault(SF_RENAME, ua ? a : ub ? b : NULL);
}

SF_EXPORT int rename(const char *oldp, const char *newp)
{
    REAL(rename);
    int e = sf_rename_fault(AT_FDCWD, oldp, AT_FDCWD, newp);
    if (e) {
        errno = e;
        return -1;
    }
    return real_rename(oldp, newp);
}

SF_EXPORT int renameat(int olddirfd, const char *oldp, int newdirfd, const char *newp)
{
    REAL(renameat);
    int e = sf_rename_fault(olddirfd, oldp, newdirfd, newp);
    if (e) {
        errno = e;
        return -1;
    }
    return real_renameat(olddirfd, oldp, newdirfd, newp);
}
