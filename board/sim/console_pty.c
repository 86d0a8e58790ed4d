/*
 * console_pty.c — the sim board's console: a pseudo-terminal. The daemon
 * keeps the master; the slave plays the serial port an operator attaches
 * to (screen, picocom, tmux, or a test). Its path is logged and, when
 * configured, symlinked at a stable place.
 */
#define _XOPEN_SOURCE 700 /* posix_openpt, grantpt, unlockpt, ptsname */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console_int.h"
#include "sti_err.h"

int bsp_board_console_open(const struct bsp_console_cfg *cfg, struct bsp_console *c)
{
    struct termios t;
    const char *slave;
    if (cfg->kind != BSP_CONSOLE_PTY)
        return STI_ECONFIG; /* the sim board has no serial device */
    c->owns_fds = 1;
    c->in_fd = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c->in_fd < 0)
        return STI_EBOARD;
    c->out_fd = c->in_fd;
    if (grantpt(c->in_fd) != 0 || unlockpt(c->in_fd) != 0 || !(slave = ptsname(c->in_fd)))
        return STI_EBOARD;
    if (snprintf(c->name, sizeof c->name, "%s", slave) >= (int)sizeof c->name)
        return STI_EBOARD;
    /* Holding the slave open ourselves means a terminal that detaches is
     * not a hangup (no EIO storm on the master), and lets us set raw mode
     * once: without it the slave's line discipline would echo our own
     * output back to us and buffer input by lines. */
    c->keep_fd = open(c->name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (c->keep_fd < 0 || tcgetattr(c->keep_fd, &t) != 0)
        return STI_EBOARD;
    cfmakeraw(&t);
    if (tcsetattr(c->keep_fd, TCSANOW, &t) != 0)
        return STI_EBOARD;
    if (bsp_fd_nonblock(c->in_fd))
        return STI_EBOARD;
    if (cfg->path[0]) {
        unlink(cfg->path); /* a stale link of an earlier run */
        if (symlink(c->name, cfg->path) != 0)
            return STI_EBOARD;
        snprintf(c->link, sizeof c->link, "%s", cfg->path);
    }
    return STI_OK;
}

const char *bsp_board_storage_default(void)
{
    return "./stisign-store";
}
