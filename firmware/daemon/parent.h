/*
 * parent.h — the parent process (parent.c): configuration, PIN source,
 * store, board, console; starts and restarts the front, the HSM workers
 * and the verifier (docs/architecture.md).
 */
#ifndef STI_PARENT_H
#define STI_PARENT_H

#include "config.h"

/* cfg: already loaded from cfgpath (main checked it); listen_fd: the
 * socket systemd passed, or -1. The board is initialised. Returns the
 * process exit code. */
int parent_main(const char *cfgpath, const struct cfg *cfg, int listen_fd);

/* The console's commits take effect through the SIGHUP path. */
void daemon_request_reload(void);

#endif
