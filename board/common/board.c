/*
 * board.c — what every board shares for the board state: bsp_init, the
 * clock sanity check and small file helpers for the state folder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "board_int.h"
#include "sti_err.h"

struct bsp_board_cfg bsp_g_cfg;
int bsp_g_inited;

int bsp_init(const struct bsp_board_cfg *cfg)
{
    bsp_g_cfg = *cfg;
    bsp_g_inited = 1;
    if (bsp_g_cfg.state_dir[0] && mkdir(bsp_g_cfg.state_dir, 0700) != 0 && errno != EEXIST)
        return STI_EBOARD;
    int rc = bsp_board_init(&bsp_g_cfg);
    bsp_slots_boot(0);
    return rc;
}

int bsp_clock_ok(time_t build_time)
{
    return time(NULL) >= build_time;
}

static int file_write(const char *path, const void *data, size_t n, int sync)
{
    char tmp[BSP_PATH_MAX + 8];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp)
        return STI_ETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return STI_EIO;
    const char *p = data;
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            close(fd);
            unlink(tmp);
            return STI_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    if ((sync && fsync(fd) != 0) || close(fd) != 0 || rename(tmp, path) != 0) {
        unlink(tmp);
        return STI_EIO;
    }
    return STI_OK;
}

int bsp_file_write(const char *path, const void *data, size_t n)
{
    return file_write(path, data, n, 1);
}

int bsp_file_put(const char *path, const void *data, size_t n)
{
    return file_write(path, data, n, 0);
}

int bsp_file_read(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return STI_ENOTFOUND;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = 0;
    return STI_OK;
}
