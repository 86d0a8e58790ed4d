/*
 * bsp.h — the board porting contract: what the firmware above needs from a
 * board. This part covers the console (the serial line the provisioning CLI
 * runs on) and the storage (where the appliance's store lives). Watchdog and
 * LEDs will join here; see board/PORTING.md.
 *
 * Conventions: a struct bsp_console is owned by whoever opened it and is
 * used from one thread (the daemon's event loop). The descriptor returned by
 * bsp_console_fd is for readiness polling only; all I/O goes through
 * bsp_console_read/bsp_console_write, which never block (the board puts the
 * line in non-blocking raw mode: no echo, no line editing, no signals — the
 * CLI does its own line discipline). Codes are STI_E* (sti_err.h).
 * Board choice is made by CMake (-DBOARD=sim|linux); nothing above board/
 * tests which board it runs on.
 */
#ifndef STI_BSP_H
#define STI_BSP_H

#include <stddef.h>

#define BSP_PATH_MAX 256

enum bsp_console_kind {
    BSP_CONSOLE_NONE = 0,
    BSP_CONSOLE_PTY,   /* a pseudo-terminal; its slave is the "serial port" (sim board) */
    BSP_CONSOLE_TTY,   /* a real serial device, 115200 8N1 raw (linux board) */
    BSP_CONSOLE_STDIO, /* stdin/stdout, for scripting (every board) */
};

struct bsp_console_cfg {
    enum bsp_console_kind kind;
    /* TTY: the device (default /dev/ttyS0). PTY: where to symlink the
     * slave so that screen/picocom/tmux find it (empty: no link). */
    char path[BSP_PATH_MAX];
};

struct bsp_console;

/* Parses "pty", "tty", "stdio" or "none". STI_ECONFIG otherwise. */
int bsp_console_kind_parse(const char *s, enum bsp_console_kind *out);
/* Opens the console. STI_ECONFIG when this board has no such console
 * kind, STI_EBOARD when the device cannot be opened or configured. */
int bsp_console_open(const struct bsp_console_cfg *cfg, struct bsp_console **out);
/* The descriptor to watch for readability (event loop only). */
int bsp_console_fd(const struct bsp_console *c);
/* Non-blocking read: *got = 0 when nothing is waiting. STI_ECLOSED when
 * the other end went away for good (stdin at EOF); a pty whose terminal
 * detached is not closed: it waits for the next attach. */
int bsp_console_read(struct bsp_console *c, void *buf, size_t cap, size_t *got);
/* Writes what the line takes now; *put may be short (the caller keeps the
 * rest). Output to a pty nobody is attached to is discarded, not queued. */
int bsp_console_write(struct bsp_console *c, const void *buf, size_t n, size_t *put);
/* What an operator attaches to: the pty slave path, the tty device, or
 * "stdio". */
const char *bsp_console_name(const struct bsp_console *c);
/* Closes the console and removes the pty link it made. NULL is allowed. */
void bsp_console_close(struct bsp_console *c);

/* ---- storage ---- */

/* The folder the store lives in: configured (non-empty) wins, else the
 * board's default. STI_ETOOLONG if it does not fit in cap. */
int bsp_storage_dir(const char *configured, char *out, size_t cap);

#endif
