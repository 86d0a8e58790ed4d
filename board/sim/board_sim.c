/*
 * board_sim.c — the sim board's watchdog, LEDs and identity, all kept in
 * the state folder (board_state_dir) where a test or an operator reads them:
 *
 *   STATE/leds        one line per role: "ready on", "fault off", "activity blink"
 *   STATE/watchdog    "timeout_ms T\nkicks N\n", rewritten at every kick
 *   STATE/last-reset  why the board last reset: "watchdog", "shutdown"
 *                     (absent: "power-on")
 *   STATE/serial      the board serial, made up at the first boot
 *
 * The watchdog is a thread: when no kick came within the timeout it writes
 * "watchdog" to STATE/last-reset and "resets" the board: it re-executes
 * the daemon's own binary with the original arguments (same pid, so a
 * supervisor or test still holds it). Every descriptor but 0-2 is closed
 * on exec; every child process (front, workers, verifier) is killed first,
 * and the new image reaps them in bsp_init.
 */
#define _GNU_SOURCE /* close_range */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "board_int.h"
#include "sti_err.h"

/* The sim board's vendor key: a TEST key, its private half is
 * board/sim/vendor-test-key.pem (for stisign-mkimage in the tests). */
static const char sim_vendor_key[] =
    "-----BEGIN PUBLIC KEY-----\n"
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAECwjPn1iUAifj85CcxsLRQMbZlFeq\n"
    "j5JyJbPkFpGlnI+Ss5UK1J/vHNvEod8mxepyXSmgOoF3vGESruBVrmVviw==\n"
    "-----END PUBLIC KEY-----\n";

const char *bsp_board_vendor_key(void)
{
    return sim_vendor_key;
}

static enum bsp_led_mode g_led[3];
static int g_led_written;
static char g_last_reset[64] = "power-on";

static int state_file(char *out, size_t cap, const char *leaf)
{
    if (!bsp_g_cfg.state_dir[0])
        return STI_ECONFIG;
    return snprintf(out, cap, "%s/%s", bsp_g_cfg.state_dir, leaf) >= (int)cap ? STI_ETOOLONG
                                                                              : STI_OK;
}

/* Every child of this process gets sig; with reap, each is waited for. */
static void signal_children(int sig, int reap)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/self/task/%ld/children", (long)getpid());
    if (bsp_file_read(path, buf, sizeof buf) != STI_OK)
        return;
    char *save = NULL;
    for (char *tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
        pid_t pid = (pid_t)atol(tok);
        if (pid > 0) {
            kill(pid, sig);
            while (reap && waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
            }
        }
    }
}

/* After a watchdog reset (re-exec, same pid) the old image's processes are
 * still our children, killed at the reset (wdt_reset) but never reaped.
 * The daemon calls bsp_init before it starts any process, so every child
 * now is such a leftover. */
static void reap_leftovers(void)
{
    signal_children(SIGKILL, 1);
}

int bsp_board_init(const struct bsp_board_cfg *cfg)
{
    reap_leftovers();
    char path[BSP_PATH_MAX + 32];
    (void)cfg;
    snprintf(g_last_reset, sizeof g_last_reset, "power-on");
    if (state_file(path, sizeof path, "last-reset") == STI_OK &&
        bsp_file_read(path, g_last_reset, sizeof g_last_reset) != STI_OK)
        snprintf(g_last_reset, sizeof g_last_reset, "power-on");
    memset(g_led, 0, sizeof g_led);
    g_led_written = 0; /* the daemon's first bsp_led_set writes the file */
    return STI_OK;
}

void bsp_led_set(enum bsp_led led, enum bsp_led_mode mode)
{
    static const char *role[3] = {"ready", "fault", "activity"};
    static const char *how[3] = {"off", "on", "blink"};
    char path[BSP_PATH_MAX + 32], text[96];
    if ((unsigned)led > BSP_LED_ACTIVITY || (unsigned)mode > BSP_LED_BLINK)
        return;
    if (g_led_written && g_led[led] == mode)
        return;
    g_led[led] = mode;
    if (!bsp_g_inited || state_file(path, sizeof path, "leds"))
        return;
    snprintf(text, sizeof text, "%s %s\n%s %s\n%s %s\n", role[0], how[g_led[0]], role[1],
             how[g_led[1]], role[2], how[g_led[2]]);
    if (bsp_file_put(path, text, strlen(text)) == STI_OK)
        g_led_written = 1;
}

int bsp_board_serial(char *out, size_t cap)
{
    char path[BSP_PATH_MAX + 32], buf[64];
    unsigned char rnd[8];
    if (state_file(path, sizeof path, "serial") == STI_OK &&
        bsp_file_read(path, buf, sizeof buf) == STI_OK && buf[0]) {
        snprintf(out, cap, "%s", buf);
        return STI_OK;
    }
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, rnd, sizeof rnd) != (ssize_t)sizeof rnd) {
        if (fd >= 0)
            close(fd);
        return STI_EBOARD;
    }
    close(fd);
    snprintf(buf, sizeof buf, "SIM-%02X%02X%02X%02X%02X%02X%02X%02X\n", rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (state_file(path, sizeof path, "serial") == STI_OK)
        bsp_file_write(path, buf, strlen(buf));
    buf[strlen(buf) - 1] = 0;
    snprintf(out, cap, "%s", buf);
    return STI_OK;
}

/* ---- watchdog ---- */

static pthread_mutex_t wdt_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wdt_cv;
static pthread_t wdt_thread;
static int wdt_running, wdt_stop;
static unsigned wdt_timeout_ms;
static struct timespec wdt_last;
static unsigned long wdt_kicks;
static char wdt_exe[PATH_MAX];
static char *wdt_argv[64];
static char wdt_cmdline[8192];

static long ms_since(const struct timespec *t)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)((now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000);
}

static void wdt_record(void)
{
    char path[BSP_PATH_MAX + 32], text[96];
    if (state_file(path, sizeof path, "watchdog"))
        return;
    snprintf(text, sizeof text, "timeout_ms %u\nkicks %lu\n", wdt_timeout_ms, wdt_kicks);
    bsp_file_put(path, text, strlen(text));
}

static void wdt_reset(long starved_ms)
{
    char path[BSP_PATH_MAX + 32];
    sigset_t none;
    if (state_file(path, sizeof path, "last-reset") == STI_OK)
        bsp_file_write(path, "watchdog\n", 9);
    fprintf(stderr, "board: watchdog starved (no kick for %ld ms, timeout %u ms): reset\n",
            starved_ms, wdt_timeout_ms);
    fflush(stderr);
    /* A reset stops the whole board at once: no process of the old image
     * (the front, a worker) may answer a client after it. */
    signal_children(SIGKILL, 0);
    close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    sigemptyset(&none);
    pthread_sigmask(SIG_SETMASK, &none, NULL);
    execv(wdt_exe, wdt_argv);
    _exit(70); /* a reset that failed: a supervisor restarts us */
}

static void *wdt_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wdt_mu);
    while (!wdt_stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += 50 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wdt_cv, &wdt_mu, &until);
        long starved = ms_since(&wdt_last);
        if (!wdt_stop && starved > (long)wdt_timeout_ms)
            wdt_reset(starved); /* no return */
    }
    pthread_mutex_unlock(&wdt_mu);
    return NULL;
}

/* The arguments this process was started with, for the reset. */
static int wdt_save_argv(void)
{
    ssize_t n = readlink("/proc/self/exe", wdt_exe, sizeof wdt_exe - 1);
    if (n <= 0)
        return STI_EBOARD;
    wdt_exe[n] = 0;
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return STI_EBOARD;
    ssize_t len = read(fd, wdt_cmdline, sizeof wdt_cmdline - 1);
    close(fd);
    if (len <= 0)
        return STI_EBOARD;
    wdt_cmdline[len] = 0;
    size_t argc = 0;
    for (ssize_t i = 0; i < len && argc < 63; i += (ssize_t)strlen(wdt_cmdline + i) + 1)
        wdt_argv[argc++] = wdt_cmdline + i;
    wdt_argv[argc] = NULL;
    return STI_OK;
}

int bsp_wdt_start(unsigned timeout_ms)
{
    pthread_condattr_t ca;
    sigset_t all, old;
    if (wdt_running || timeout_ms == 0)
        return wdt_running ? STI_OK : STI_ECONFIG;
    if (wdt_save_argv())
        return STI_EBOARD;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&wdt_cv, &ca);
    pthread_condattr_destroy(&ca);
    wdt_timeout_ms = timeout_ms;
    wdt_kicks = 0;
    wdt_stop = 0;
    clock_gettime(CLOCK_MONOTONIC, &wdt_last);
    wdt_record();
    /* Signals stay with the daemon's threads. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&wdt_thread, NULL, wdt_main, NULL);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc)
        return STI_EBOARD;
    wdt_running = 1;
    return STI_OK;
}

void bsp_wdt_kick(void)
{
    if (!wdt_running)
        return;
    pthread_mutex_lock(&wdt_mu);
    clock_gettime(CLOCK_MONOTONIC, &wdt_last);
    wdt_kicks++;
    pthread_mutex_unlock(&wdt_mu);
    wdt_record();
}

void bsp_wdt_last_reset(char *why, size_t cap)
{
    snprintf(why, cap, "%s", g_last_reset);
}

void bsp_shutdown(void)
{
    char path[BSP_PATH_MAX + 32];
    if (wdt_running) {
        pthread_mutex_lock(&wdt_mu);
        wdt_stop = 1;
        pthread_cond_signal(&wdt_cv);
        pthread_mutex_unlock(&wdt_mu);
        pthread_join(wdt_thread, NULL);
        pthread_cond_destroy(&wdt_cv);
        wdt_running = 0;
    }
    if (!bsp_g_inited)
        return;
    for (int i = 0; i < 3; i++)
        bsp_led_set((enum bsp_led)i, BSP_LED_OFF);
    if (state_file(path, sizeof path, "last-reset") == STI_OK)
        bsp_file_write(path, "shutdown\n", 9);
    bsp_g_inited = 0;
}
