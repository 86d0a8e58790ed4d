/* systemd.c — socket activation and sd_notify, implemented from the
 * protocol descriptions (sd_listen_fds(3), sd_notify(3)). */
#include "systemd.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SYSTEMD_FD_START 3

static int systemd_fd = -1;

static int systemd_env_ulong(const char *name, unsigned long long *out)
{
    const char *v = getenv(name);
    char *end;
    if (!v || !*v)
        return -1;
    errno = 0;
    *out = strtoull(v, &end, 10);
    return errno || *end ? -1 : 0;
}

int systemd_listen_fd(void)
{
    unsigned long long pid, n;
    struct stat st;
    int ok = systemd_env_ulong("LISTEN_PID", &pid) == 0 && pid == (unsigned long long)getpid() &&
             systemd_env_ulong("LISTEN_FDS", &n) == 0 && n >= 1;
    unsetenv("LISTEN_PID");
    unsetenv("LISTEN_FDS");
    unsetenv("LISTEN_FDNAMES");
    if (!ok || fstat(SYSTEMD_FD_START, &st) != 0 || !S_ISSOCK(st.st_mode))
        return -1;
    /* Only the first socket is used; the workers inherit none of them. */
    for (unsigned long long i = 0; i < n; i++)
        fcntl(SYSTEMD_FD_START + (int)i, F_SETFD, FD_CLOEXEC);
    return SYSTEMD_FD_START;
}

void systemd_notify(const char *msg)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa;
    size_t n;
    if (!path || (path[0] != '/' && path[0] != '@') || (n = strlen(path)) >= sizeof sa.sun_path)
        return;
    if (systemd_fd < 0)
        systemd_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (systemd_fd < 0)
        return;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    (void)sendto(systemd_fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
}

uint64_t systemd_watchdog_usec(void)
{
    unsigned long long usec, pid;
    if (systemd_env_ulong("WATCHDOG_USEC", &usec) != 0 || usec == 0)
        return 0;
    if (systemd_env_ulong("WATCHDOG_PID", &pid) == 0 && pid != (unsigned long long)getpid())
        return 0;
    return usec;
}

void systemd_close(void)
{
    if (systemd_fd >= 0)
        close(systemd_fd);
    systemd_fd = -1;
}
