/* child.c — fork+exec with one channel on fd 3. */
#include "child.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sti_err.h"

int child_spawn(const char *exe, char *const argv[], int fd3, pid_t *pid)
{
    pid_t p = fork();
    if (p < 0)
        return STI_EINTERNAL;
    if (p == 0) {
        /* dup2 clears close-on-exec on the copy; when fd3 is already 3 it
         * must be cleared by hand. */
        if (fd3 == 3)
            fcntl(3, F_SETFD, 0);
        else if (dup2(fd3, 3) < 0)
            _exit(127);
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        signal(SIGPIPE, SIG_IGN);
        execv(exe, argv);
        _exit(127);
    }
    *pid = p;
    return STI_OK;
}

int child_wait(pid_t pid, unsigned ms)
{
    for (unsigned waited = 0;; waited += 10) {
        pid_t r = waitpid(pid, NULL, WNOHANG);
        if (r == pid || (r < 0 && errno == ECHILD))
            return STI_OK;
        if (waited >= ms)
            return STI_ETIMEOUT;
        struct timespec ts = {0, 10000000L};
        nanosleep(&ts, NULL);
    }
}

void child_nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}
