/* console_stdio.c — the console on stdin/stdout, for scripting and tests.
 * Every board has it. The descriptors stay open after close (not ours). */
#include <stdio.h>
#include <unistd.h>

#include "console_int.h"
#include "sti_err.h"

int bsp_console_stdio_open(struct bsp_console *c);

int bsp_console_stdio_open(struct bsp_console *c)
{
    c->in_fd = STDIN_FILENO;
    c->out_fd = STDOUT_FILENO;
    c->owns_fds = 0;
    snprintf(c->name, sizeof c->name, "stdio");
    /* Output stays blocking (a script reads it); input must not block. */
    return bsp_fd_nonblock(c->in_fd);
}
