/* privsep.c — each process's confinement, by role (privsep.h). */
#include "privsep.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bsp.h"
#include "log.h"
#include "sti_err.h"

const char *privsep_role_name(enum privsep_role role)
{
    static const char *const names[] = {"worker", "keys", "front", "verifier", "console"};
    return (unsigned)role < sizeof names / sizeof names[0] ? names[role] : "?";
}

/* The empty root: made if missing; refused if it holds anything or could
 * be written by anyone but root (a file put there would be visible to a
 * confined process). */
static int privsep_root(const char *dir)
{
    struct stat st;
    char up[CFG_PATH_MAX];
    /* Its parents too (/run/stisign is a tmpfs folder that a reboot empties). */
    snprintf(up, sizeof up, "%s", dir);
    for (char *s = strchr(up + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (mkdir(up, 0755) != 0 && errno != EEXIST)
            break;
        *s = '/';
    }
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        log_error("%s: cannot make the empty root: %s", dir, strerror(errno));
        return STI_ECONFIG;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        (st.st_mode & (S_IWGRP | S_IWOTH)) || st.st_nlink != 2) {
        log_error("%s: the empty root must be an empty directory owned by root, writable by "
                  "root only",
                  dir);
        return STI_ECONFIG;
    }
    return STI_OK;
}

int privsep_confine(enum privsep_role role, const struct cfg *c)
{
    static const enum bsp_role bsp[] = {BSP_ROLE_WORKER, BSP_ROLE_KEYS, BSP_ROLE_FRONT,
                                        BSP_ROLE_VERIFIER, BSP_ROLE_CONSOLE};
    struct bsp_sandbox_cfg sc;
    int unpriv = role == PRIVSEP_FRONT || role == PRIVSEP_VERIFIER || role == PRIVSEP_CONSOLE;
    int chroot_it = role == PRIVSEP_VERIFIER;
    int root = geteuid() == 0;
    memset(&sc, 0, sizeof sc);
    sc.holds_secret = role == PRIVSEP_WORKER || role == PRIVSEP_KEYS;
    sc.mode = (enum bsp_sandbox_mode)c->sandbox;
    if (unpriv && root) {
        sc.user = c->user;
        if (chroot_it) {
            int rc = privsep_root(c->sandbox_root);
            if (rc)
                return rc;
            sc.root_dir = c->sandbox_root;
        }
    } else if (unpriv) {
        log_warn("%s: not started as root: keeps uid %ld (no user change, no empty root)",
                 privsep_role_name(role), (long)geteuid());
    }
    int rc = bsp_sandbox(bsp[role], &sc);
    if (rc)
        log_error("%s: sandbox: %s (%s)", privsep_role_name(role), sti_strerror(rc),
                  sti_errname(rc));
    else
        log_info("%s: confined: user %s%s%s, seccomp %s", privsep_role_name(role),
                 sc.user ? sc.user : "(kept)", sc.root_dir ? ", root " : "",
                 sc.root_dir ? sc.root_dir : "", bsp_sandbox_mode_name(sc.mode));
    return rc;
}
