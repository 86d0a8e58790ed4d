/* console.c — the board-independent half of the console: dispatch on the
 * kind, non-blocking read/write, close; and the storage accessor. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "console_int.h"
#include "sti_err.h"

int bsp_console_stdio_open(struct bsp_console *c);

int bsp_console_kind_parse(const char *s, enum bsp_console_kind *out)
{
    static const struct {
        const char *name;
        enum bsp_console_kind kind;
    } kinds[] = {{"none", BSP_CONSOLE_NONE},
                 {"pty", BSP_CONSOLE_PTY},
                 {"tty", BSP_CONSOLE_TTY},
                 {"stdio", BSP_CONSOLE_STDIO}};
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(s, kinds[i].name) == 0) {
            *out = kinds[i].kind;
            return STI_OK;
        }
    return STI_ECONFIG;
}

int bsp_fd_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return STI_EBOARD;
    return STI_OK;
}

int bsp_console_open(const struct bsp_console_cfg *cfg, struct bsp_console **out)
{
    int rc;
    struct bsp_console *c;
    if (!cfg || !out || cfg->kind == BSP_CONSOLE_NONE)
        return STI_EINVAL;
    c = calloc(1, sizeof *c);
    if (!c)
        return STI_ENOMEM;
    c->kind = cfg->kind;
    c->in_fd = c->out_fd = c->keep_fd = -1;
    if (cfg->kind == BSP_CONSOLE_STDIO)
        rc = bsp_console_stdio_open(c);
    else
        rc = bsp_board_console_open(cfg, c);
    if (rc) {
        bsp_console_close(c);
        return rc;
    }
    *out = c;
    return STI_OK;
}

int bsp_console_fd(const struct bsp_console *c)
{
    return c ? c->in_fd : -1;
}

int bsp_console_read(struct bsp_console *c, void *buf, size_t cap, size_t *got)
{
    *got = 0;
    for (;;) {
        ssize_t n = read(c->in_fd, buf, cap);
        if (n > 0) {
            *got = (size_t)n;
            return STI_OK;
        }
        if (n == 0)
            return c->kind == BSP_CONSOLE_PTY ? STI_OK : STI_ECLOSED;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return STI_OK;
        /* A pty master reads EIO while no terminal holds the slave. */
        if (errno == EIO && c->kind == BSP_CONSOLE_PTY)
            return STI_OK;
        return STI_EBOARD;
    }
}

int bsp_console_write(struct bsp_console *c, const void *buf, size_t n, size_t *put)
{
    *put = 0;
    while (*put < n) {
        ssize_t w = write(c->out_fd, (const char *)buf + *put, n - *put);
        if (w > 0) {
            *put += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return STI_OK;
        if (c->kind == BSP_CONSOLE_PTY) { /* nobody attached: drop */
            *put = n;
            return STI_OK;
        }
        return STI_EBOARD;
    }
    return STI_OK;
}

const char *bsp_console_name(const struct bsp_console *c)
{
    return c ? c->name : "";
}

void bsp_console_close(struct bsp_console *c)
{
    if (!c)
        return;
    if (c->owns_fds) {
        if (c->in_fd >= 0)
            close(c->in_fd);
        if (c->out_fd >= 0 && c->out_fd != c->in_fd)
            close(c->out_fd);
    }
    if (c->keep_fd >= 0)
        close(c->keep_fd);
    if (c->link[0])
        unlink(c->link);
    free(c);
}

int bsp_storage_dir(const char *configured, char *out, size_t cap)
{
    const char *d = configured && *configured ? configured : bsp_board_storage_default();
    if (snprintf(out, cap, "%s", d) >= (int)cap)
        return STI_ETOOLONG;
    return STI_OK;
}
