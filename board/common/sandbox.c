/*
 * sandbox.c — bsp_sandbox: confines a process of the daemon to its role.
 * Both boards run Linux, so this is common code: chroot, a dropped uid
 * and gid without supplementary groups, no-new-privs, not dumpable when
 * the process holds a secret, and the role's seccomp allow-list from
 * sandbox_map.c, installed on every thread (TSYNC).
 *
 * Each step is checked after it is taken rather than trusted: the ids are
 * read back and setuid(0) must fail, the prctl flags are read back. A
 * failure returns STI_ESANDBOX and leaves the process partly confined: the
 * caller must not go on serving.
 */
#define _GNU_SOURCE /* getresuid, setresuid */
#include <grp.h>
#include <pwd.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sandbox_int.h"
#include "sti_err.h"

#ifdef BSP_SANITIZER_RUNTIME
#include <sanitizer/common_interface_defs.h>

/* Sanitizer builds: a report symbolizes its stack with llvm-symbolizer, a
 * child the runtime forks at the first report; the filter forbids forks,
 * so start it now and let later reports talk to it over its pipes. */
static void sandbox_sanitizer_warm_up(void)
{
    char where[128];
    __sanitizer_symbolize_pc(__builtin_return_address(0), "%p %F %L", where, sizeof where);
}
#else
static void sandbox_sanitizer_warm_up(void)
{
}
#endif

static const char *const role_names[BSP_ROLE_COUNT] = {"worker", "keys", "front", "verifier",
                                                       "console"};
static const char *const mode_names[] = {"enforce", "log", "off"};

const char *bsp_role_name(enum bsp_role role)
{
    return (unsigned)role < BSP_ROLE_COUNT ? role_names[role] : "?";
}

const char *bsp_sandbox_mode_name(enum bsp_sandbox_mode mode)
{
    return (unsigned)mode <= BSP_SANDBOX_OFF ? mode_names[mode] : "?";
}

int bsp_sandbox_mode_parse(const char *s, enum bsp_sandbox_mode *out)
{
    for (unsigned m = 0; m <= BSP_SANDBOX_OFF; m++)
        if (strcmp(s, mode_names[m]) == 0) {
            *out = (enum bsp_sandbox_mode)m;
            return STI_OK;
        }
    return STI_ECONFIG;
}

/* The user's ids, read now: once chrooted the user database is gone. */
static int sandbox_user(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *found = NULL;
    char buf[16384];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &found) != 0 || !found)
        return STI_ESANDBOX_USER;
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return STI_OK;
}

/* The new root must be a folder only root can change: a process that
 * could write there after the drop could plant what a later chroot (or
 * another role sharing it) would trust. */
static int sandbox_chroot(const char *dir)
{
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        (st.st_mode & (S_IWGRP | S_IWOTH)))
        return STI_ECONFIG;
    if (chroot(dir) != 0 || chdir("/") != 0)
        return STI_ESANDBOX;
    return STI_OK;
}

/* Groups, then gid, then uid (the other way round the gid could no longer
 * be changed), then proof that none of it can be taken back. */
static int sandbox_drop(uid_t uid, gid_t gid)
{
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return STI_ESANDBOX;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid)
        return STI_ESANDBOX;
    if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
        return STI_ESANDBOX;
    if (getgroups(0, NULL) != 0)
        return STI_ESANDBOX;
    if (uid != 0 && (setuid(0) != -1 || seteuid(0) != -1))
        return STI_ESANDBOX;
    if (uid != 0 && gid != 0 && (setgid(0) != -1 || setegid(0) != -1))
        return STI_ESANDBOX;
    return STI_OK;
}

/* The role's allow-list; a call outside it kills the whole process
 * (enforce) or is allowed and logged (log). The kernel logs the kills
 * too (SECCOMP_FILTER_FLAG_LOG), so a missing call shows in the audit
 * log in either mode. */
static int sandbox_filter(enum bsp_role role, enum bsp_sandbox_mode mode)
{
    const struct bsp_sc_list *l = &bsp_sc_map[role];
    scmp_datum_t self = (scmp_datum_t)getpid();
    int rc = STI_ESANDBOX;
    scmp_filter_ctx ctx =
        seccomp_init(mode == BSP_SANDBOX_LOG ? SCMP_ACT_LOG : SCMP_ACT_KILL_PROCESS);
    STI_CHECK(ctx != NULL, STI_ESANDBOX);
    /* Every thread the process has, not only the caller. */
    STI_CHECK(seccomp_attr_set(ctx, SCMP_FLTATR_CTL_TSYNC, 1) == 0, STI_ESANDBOX);
    (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_LOG, 1); /* kernels before 4.14 lack it */
    for (size_t i = 0; i < l->n; i++) {
        const struct bsp_sc *sc = &l->sc[i];
        struct scmp_arg_cmp arg[2];
        for (unsigned k = 0; k < sc->nargs; k++) {
            arg[k] = sc->arg[k];
            if (arg[k].datum_a == BSP_SC_SELF)
                arg[k].datum_a = self;
        }
        /* A call this architecture lacks is skipped by libseccomp (0). */
        STI_CHECK(seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, sc->nr, sc->nargs, arg) == 0,
                  STI_ESANDBOX);
    }
    STI_CHECK(seccomp_load(ctx) == 0, STI_ESANDBOX);
    rc = STI_OK;
out:
    if (ctx)
        seccomp_release(ctx);
    return rc;
}

int bsp_sandbox(enum bsp_role role, const struct bsp_sandbox_cfg *cfg)
{
    int drop = cfg->user && cfg->user[0], jail = cfg->root_dir && cfg->root_dir[0];
    uid_t uid = 0;
    gid_t gid = 0;
    int rc;
    STI_CHECK((unsigned)role < BSP_ROLE_COUNT && (unsigned)cfg->mode <= BSP_SANDBOX_OFF,
              STI_ECONFIG);
    if (drop)
        STI_TRY(sandbox_user(cfg->user, &uid, &gid));
    STI_CHECK(!(drop || jail) || geteuid() == 0, STI_ESANDBOX_PRIV);
    if (jail)
        STI_TRY(sandbox_chroot(cfg->root_dir));
    if (drop)
        STI_TRY(sandbox_drop(uid, gid));
    /* From here on no exec can gain what was dropped (setuid binaries,
     * file capabilities); seccomp needs it to be installed unprivileged. */
    STI_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 &&
                  prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1,
              STI_ESANDBOX);
    if (cfg->holds_secret)
        STI_CHECK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == 0 &&
                      prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 0,
                  STI_ESANDBOX);
    if (cfg->mode != BSP_SANDBOX_OFF) {
        sandbox_sanitizer_warm_up();
        STI_TRY(sandbox_filter(role, cfg->mode));
    }
    rc = STI_OK;
out:
    return rc;
}
