/*
 * console_tty.c — the linux board's console: a real serial device
 * (default /dev/ttyS0), 115200 baud, 8N1, raw, no flow control.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "console_int.h"
#include "sti_err.h"

int bsp_board_console_open(const struct bsp_console_cfg *cfg, struct bsp_console *c)
{
    struct termios t;
    const char *dev = cfg->path[0] ? cfg->path : "/dev/ttyS0";
    if (cfg->kind != BSP_CONSOLE_TTY)
        return STI_ECONFIG; /* no pty console on the target */
    c->owns_fds = 1;
    if (snprintf(c->name, sizeof c->name, "%s", dev) >= (int)sizeof c->name)
        return STI_ETOOLONG;
    c->in_fd = open(dev, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (c->in_fd < 0)
        return STI_EBOARD;
    c->out_fd = c->in_fd;
    if (tcgetattr(c->in_fd, &t) != 0)
        return STI_EBOARD;
    cfmakeraw(&t);
    t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB | CSTOPB | CRTSCTS);
    t.c_cflag |= CS8 | CLOCAL | CREAD;
    t.c_iflag &= ~(tcflag_t)(IXON | IXOFF | IXANY);
    t.c_cc[VMIN] = 1;
    t.c_cc[VTIME] = 0;
    if (cfsetispeed(&t, B115200) != 0 || cfsetospeed(&t, B115200) != 0 ||
        tcsetattr(c->in_fd, TCSANOW, &t) != 0)
        return STI_EBOARD;
    tcflush(c->in_fd, TCIOFLUSH);
    return STI_OK;
}

const char *bsp_board_storage_default(void)
{
    return "/var/lib/stisign";
}
