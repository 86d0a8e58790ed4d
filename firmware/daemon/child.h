/*
 * child.h — starting and reaping stisignd's child processes.
 *
 *   child_spawn    fork + exec of exe with argv; the child's fd 3 is fd3,
 *                  nothing else is inherited but stdio (every other
 *                  descriptor of the daemon is close-on-exec); the child
 *                  dies with its parent (PR_SET_PDEATHSIG)
 *   child_wait     waits up to ms for pid to exit (STI_ETIMEOUT)
 *   child_nonblock makes a descriptor non-blocking
 */
#ifndef STI_CHILD_H
#define STI_CHILD_H

#include <sys/types.h>

int child_spawn(const char *exe, char *const argv[], int fd3, pid_t *pid);
int child_wait(pid_t pid, unsigned ms);
void child_nonblock(int fd);

#endif
