/* console_io.c — the provisioning console on the event loop: the board's
 * console device in, the CLI, the device out. See admin.h. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "admin.h"
#include "bsp.h"
#include "cli.h"
#include "log.h"
#include "sti_err.h"

#define OUT_MAX (1024 * 1024) /* output nobody reads is dropped beyond this */

struct console_io {
    struct bsp_console *con;
    struct cli *cli;
    struct evbuffer *out;
    struct event *rd, *wr, *tick;
    int dropped;
};

static uint64_t mono_ms(void *arg)
{
    struct timespec ts;
    (void)arg;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void flush(struct console_io *io)
{
    while (evbuffer_get_length(io->out) > 0) {
        size_t n = evbuffer_get_contiguous_space(io->out), put = 0;
        const unsigned char *p = evbuffer_pullup(io->out, (ssize_t)n);
        int rc = bsp_console_write(io->con, p, n, &put);
        evbuffer_drain(io->out, put);
        if (rc) {
            log_warn("console: write: %s", sti_strerror(rc));
            evbuffer_drain(io->out, evbuffer_get_length(io->out));
            break;
        }
        if (put < n)
            break;
    }
    if (evbuffer_get_length(io->out) > 0)
        event_add(io->wr, NULL);
    else
        event_del(io->wr);
}

static void on_cli_write(void *arg, const char *s, size_t n)
{
    struct console_io *io = arg;
    if (evbuffer_get_length(io->out) + n > OUT_MAX) {
        if (!io->dropped)
            log_warn("console: nobody reads the console; output dropped");
        io->dropped = 1;
        return;
    }
    io->dropped = 0;
    evbuffer_add(io->out, s, n);
    flush(io);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct console_io *io = arg;
    unsigned char buf[4096];
    (void)fd;
    (void)what;
    for (int i = 0; i < 16; i++) { /* bounded: other clients get their turn */
        size_t got = 0;
        int rc = bsp_console_read(io->con, buf, sizeof buf, &got);
        if (rc) {
            log_info("console: %s closed (%s); console stopped", bsp_console_name(io->con),
                     sti_strerror(rc));
            event_del(io->rd);
            return;
        }
        if (got == 0)
            return;
        cli_input(io->cli, buf, got);
        cli_wipe(buf, got);
    }
}

static void on_writable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct console_io *io = arg;
    (void)fd;
    (void)what;
    cli_tick(io->cli);
}

int console_start(struct event_base *base, const struct cfg *cfg, struct admin *a,
                  struct console_io **out)
{
    struct bsp_console_cfg bc;
    struct cli_cfg cc;
    struct cli_ops ops;
    int rc;
    memset(&bc, 0, sizeof bc);
    if ((rc = bsp_console_kind_parse(cfg->console, &bc.kind))) {
        log_error("console = %s: expected pty, tty, stdio or none", cfg->console);
        return rc;
    }
    if (bc.kind == BSP_CONSOLE_NONE) {
        *out = NULL;
        return STI_OK;
    }
    if (snprintf(bc.path, sizeof bc.path, "%s", cfg->console_path) >= (int)sizeof bc.path)
        return STI_ETOOLONG;
    struct console_io *io = calloc(1, sizeof *io);
    if (!io)
        return STI_ENOMEM;
    if ((rc = bsp_console_open(&bc, &io->con))) {
        log_error("console %s %s: %s", cfg->console, cfg->console_path, sti_strerror(rc));
        free(io);
        return rc;
    }
    memset(&cc, 0, sizeof cc);
    cc.write = on_cli_write;
    cc.write_arg = io;
    cc.now_ms = mono_ms;
    cc.idle_ms = cfg->console_idle_s * 1000u;
    admin_cli_ops(a, &ops);
    io->out = evbuffer_new();
    int fd = bsp_console_fd(io->con);
    io->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_read, io);
    io->wr = event_new(base, fd, EV_WRITE, on_writable, io);
    io->tick = event_new(base, -1, EV_PERSIST, on_tick, io);
    struct timeval sec = {1, 0};
    if (!io->out || !io->rd || !io->wr || !io->tick || (rc = cli_new(&cc, &ops, &io->cli)) ||
        event_add(io->rd, NULL) || event_add(io->tick, &sec)) {
        console_stop(io);
        return rc ? rc : STI_ENOMEM;
    }
    if (bc.kind == BSP_CONSOLE_PTY && bc.path[0])
        log_info("console: pty %s (linked at %s)", bsp_console_name(io->con), bc.path);
    else
        log_info("console: %s", bsp_console_name(io->con));
    cli_start(io->cli);
    *out = io;
    return STI_OK;
}

void console_stop(struct console_io *io)
{
    if (!io)
        return;
    if (io->out && io->wr && io->con)
        flush(io); /* a last goodbye, as far as the line takes it now */
    if (io->rd)
        event_free(io->rd);
    if (io->wr)
        event_free(io->wr);
    if (io->tick)
        event_free(io->tick);
    if (io->out)
        evbuffer_free(io->out);
    cli_free(io->cli);
    bsp_console_close(io->con);
    free(io);
}
