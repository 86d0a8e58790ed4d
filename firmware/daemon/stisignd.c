/*
 * stisignd.c — the daemon's entry: one binary, one role per process
 * (docs/architecture.md).
 *
 *   stisignd -c FILE [--check]     run (the parent; or only check the
 *                                  configuration)
 *   stisignd -c FILE --update IMG  verify a signed update image and install
 *                                  it in the other slot (docs/update-image.md)
 *   stisignd -c FILE --update-status  the update slots
 *   stisignd --front -c FILE       internal: the front, control channel on fd 3
 *   stisignd --verifier -c FILE    internal: the verifier, its channel on fd 3
 *   stisignd --hsm-worker          internal: an HSM worker on fd 3
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "bsp.h"
#include "config.h"
#include "cred.h"
#include "front.h"
#include "log.h"
#include "parent.h"
#include "sti_err.h"
#include "systemd.h"
#include "verifier.h"
#include "workproto.h"

static void usage(void)
{
    fprintf(stderr, "usage: stisignd -c CONFIG [--check | --update IMAGE | --update-status]\n");
}

/* The board from the configuration; boot: the daemon's start (update
 * slot check, reset reason), else only for --update. */
static int board_init(const struct cfg *c, int boot)
{
    struct bsp_board_cfg bc;
    char why[64], status[256];
    memset(&bc, 0, sizeof bc);
    if (snprintf(bc.state_dir, sizeof bc.state_dir, "%s", c->board_state_dir) >=
            (int)sizeof bc.state_dir ||
        snprintf(bc.wdt_device, sizeof bc.wdt_device, "%s", c->watchdog_device) >=
            (int)sizeof bc.wdt_device ||
        snprintf(bc.vendor_key, sizeof bc.vendor_key, "%s", c->update_vendor_key) >=
            (int)sizeof bc.vendor_key) {
        log_error("board: a board path is longer than %d bytes", BSP_PATH_MAX - 1);
        return STI_ETOOLONG;
    }
    for (int i = 0; i < 3; i++)
        snprintf(bc.led_name[i], sizeof bc.led_name[i], "%s", c->led_name[i]);
    int rc = bsp_init(&bc);
    if (rc) {
        log_error("board: %s", sti_strerror(rc));
        return rc;
    }
    if (!boot)
        return STI_OK;
    bsp_boot();
    bsp_wdt_last_reset(why, sizeof why);
    bsp_update_status(status, sizeof status);
    log_info("board: last reset: %s; firmware %s", why, status);
    if (!bsp_clock_ok((time_t)STI_BUILD_EPOCH))
        log_warn("board: the clock is before the firmware build date");
    for (int i = 0; i < 3; i++) /* until the first health report */
        bsp_led_set((enum bsp_led)i, BSP_LED_OFF);
    return STI_OK;
}

int main(int argc, char **argv)
{
    static struct cfg cfg;
    const char *cfgpath = NULL, *update = NULL;
    int check_only = 0, update_status = 0;

    /* Secrets live in these processes: no core dumps, no ptrace by others. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (argc == 2 && strcmp(argv[1], "--hsm-worker") == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
        signal(SIGPIPE, SIG_IGN);
        /* Before the PIN arrives: nothing it execs could gain privileges.
         * The rest of its confinement waits for its session (worker.c). */
        prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
        return worker_run(3, 1) == STI_OK ? 0 : 1;
    }
    if (argc == 4 && strcmp(argv[2], "-c") == 0) {
        if (strcmp(argv[1], "--verifier") == 0)
            return verifier_main(argv[3], 3);
        if (strcmp(argv[1], "--front") == 0)
            return front_main(argv[3], 3);
    }
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc)
            cfgpath = argv[++i];
        else if (strcmp(argv[i], "--check") == 0)
            check_only = 1;
        else if (strcmp(argv[i], "--update") == 0 && i + 1 < argc)
            update = argv[++i];
        else if (strcmp(argv[i], "--update-status") == 0)
            update_status = 1;
        else {
            usage();
            return 2;
        }
    }
    if (!cfgpath) {
        usage();
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    cfg_defaults(&cfg);
    char err[512];
    if (cfg_load(cfgpath, &cfg, err, sizeof err) != STI_OK) {
        fprintf(stderr, "stisignd: %s\n", err);
        return 1;
    }
    enum log_level lvl = LOG_LVL_INFO;
    log_level_parse(cfg.log_level, &lvl);
    log_setup("stisignd", cfg.log_syslog, lvl);
    if (update || update_status) { /* exit code: enum bsp_update_rc */
        char msg[512];
        if (board_init(&cfg, 0))
            return 1;
        if (update_status) {
            bsp_update_status(msg, sizeof msg);
            printf("%s\n", msg);
            return 0;
        }
        int urc = bsp_update_install(update, msg, sizeof msg);
        fprintf(urc ? stderr : stdout, "stisignd: update: %s\n", msg);
        return urc;
    }
    if (check_only) {
        static struct cred_table t;
        int rc = cred_load(&t, &cfg, err, sizeof err);
        if (rc)
            fprintf(stderr, "stisignd: %s\n", err);
        else
            printf("configuration ok: %zu credential(s)\n", t.n);
        cred_free(&t);
        return rc ? 1 : 0;
    }
    int listen_fd = systemd_listen_fd(); /* before anything could inherit the variables */
    if (board_init(&cfg, 1))
        return 1;
    return parent_main(cfgpath, &cfg, listen_fd);
}
