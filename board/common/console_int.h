/*
 * console_int.h — board-private: the console object shared by the console
 * kinds of board/common and board/<board>. Not part of the contract.
 */
#ifndef STI_BSP_CONSOLE_INT_H
#define STI_BSP_CONSOLE_INT_H

#include "bsp.h"

struct bsp_console {
    enum bsp_console_kind kind;
    int in_fd, out_fd;
    int keep_fd; /* pty: our own open slave, so a detach is no hangup */
    int owns_fds;
    char name[BSP_PATH_MAX];
    char link[BSP_PATH_MAX];
};

/* Each board provides the kinds it has (PTY on sim, TTY on linux). */
int bsp_board_console_open(const struct bsp_console_cfg *cfg, struct bsp_console *c);
/* The board's default storage folder. */
const char *bsp_board_storage_default(void);
/* Common helper: O_NONBLOCK on fd. */
int bsp_fd_nonblock(int fd);

#endif
