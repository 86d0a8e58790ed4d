/*
 * board_linux.c — the linux board's watchdog (/dev/watchdog), status LEDs
 * (sysfs, /sys/class/leds/NAME) and identity. No vendor key is compiled in:
 * a real appliance is provisioned with update_vendor_key.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/watchdog.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "board_int.h"
#include "sti_err.h"

static int wdt_fd = -1;
static char g_last_reset[64] = "power-on";

const char *bsp_board_vendor_key(void)
{
    return NULL;
}

static void sysfs_write(const char *name, const char *leaf, const char *value)
{
    char path[BSP_PATH_MAX + 96];
    if (!name[0] || snprintf(path, sizeof path, "/sys/class/leds/%s/%s", name, leaf) >=
                        (int)sizeof path)
        return;
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t w = write(fd, value, strlen(value));
    (void)w; /* an LED that cannot be set is no reason to stop */
    close(fd);
}

void bsp_led_set(enum bsp_led led, enum bsp_led_mode mode)
{
    if (!bsp_g_inited || (unsigned)led > BSP_LED_ACTIVITY)
        return;
    const char *name = bsp_g_cfg.led_name[led];
    if (mode == BSP_LED_BLINK) {
        sysfs_write(name, "trigger", "timer");
        return;
    }
    sysfs_write(name, "trigger", "none");
    sysfs_write(name, "brightness", mode == BSP_LED_ON ? "1" : "0");
}

int bsp_board_init(const struct bsp_board_cfg *cfg)
{
    (void)cfg; /* LEDs are left alone until the daemon sets them */
    return STI_OK;
}

int bsp_wdt_start(unsigned timeout_ms)
{
    const char *dev = bsp_g_cfg.wdt_device[0] ? bsp_g_cfg.wdt_device : "/dev/watchdog";
    int flags = 0, secs = (int)((timeout_ms + 999) / 1000);
    if (wdt_fd >= 0)
        return STI_OK;
    if (timeout_ms == 0)
        return STI_ECONFIG;
    wdt_fd = open(dev, O_WRONLY | O_CLOEXEC);
    if (wdt_fd < 0)
        return STI_EBOARD;
    if (ioctl(wdt_fd, WDIOC_GETBOOTSTATUS, &flags) == 0 && (flags & WDIOF_CARDRESET))
        snprintf(g_last_reset, sizeof g_last_reset, "watchdog");
    if (ioctl(wdt_fd, WDIOC_SETTIMEOUT, &secs) != 0) {
        /* Some devices have a fixed timeout: keep theirs. */
    }
    bsp_wdt_kick();
    return STI_OK;
}

void bsp_wdt_kick(void)
{
    int dummy = 0;
    if (wdt_fd >= 0)
        ioctl(wdt_fd, WDIOC_KEEPALIVE, &dummy);
}

void bsp_wdt_last_reset(char *why, size_t cap)
{
    snprintf(why, cap, "%s", g_last_reset);
}

int bsp_board_serial(char *out, size_t cap)
{
    static const char *src[] = {"/sys/firmware/devicetree/base/serial-number", "/etc/machine-id"};
    char buf[128];
    for (size_t i = 0; i < 2; i++)
        if (bsp_file_read(src[i], buf, sizeof buf) == STI_OK && buf[0]) {
            snprintf(out, cap, "%s", buf);
            return STI_OK;
        }
    return STI_EBOARD;
}

void bsp_shutdown(void)
{
    if (wdt_fd >= 0) {
        /* The magic close: an orderly stop is no starvation. */
        ssize_t w = write(wdt_fd, "V", 1);
        (void)w;
        close(wdt_fd);
        wdt_fd = -1;
    }
    if (!bsp_g_inited)
        return;
    for (int i = 0; i < 3; i++)
        bsp_led_set((enum bsp_led)i, BSP_LED_OFF);
    bsp_g_inited = 0;
}
