/*
 * admin.h — the daemon side of the provisioning console: the ops the CLI
 * calls (admin.c) and the glue between the board's console and the event
 * loop (console_io.c).
 *
 * admin.c
 *   admin_new, admin_free, admin_cli_ops
 *   HSM management work (token init, key generation, key listing, CSRs,
 *   checking an imported chain against its token key, factory reset) runs
 *   on one admin thread, one op at a time: the raw PKCS#11 module and
 *   libp11 are never loaded at once (hsm_p11.h), each op loads and unloads
 *   what it uses. Results come back to the loop through a pipe. Store
 *   commits are made on the admin thread; the store is guarded by a mutex
 *   since the loop reads it for status and the login record. After a
 *   commit that changes what the daemon signs with, the admin requests a
 *   reload and answers the console once the running credential table
 *   matches the store (or after a bounded wait, saying so).
 * console_io.c
 *   console_start, console_stop
 *   Reads the console device, feeds cli_input, buffers output (bounded:
 *   output nobody reads is dropped beyond 1 MiB), drives the idle timer.
 *
 * The console runs in the parent (docs/architecture.md); what it shows of
 * the signing side comes from the front's health reports (admin_view).
 *
 * Conventions: everything here except the admin thread's work runs on the
 * parent's loop thread. The env pointers stay valid until admin_free.
 */
#ifndef STI_ADMIN_H
#define STI_ADMIN_H

#include <event2/event.h>

#include "cli.h"
#include "config.h"
#include "cred.h"
#include "ctlproto.h"

/* What the console shows of the running daemon: the parent's view. */
struct admin_view {
    const struct cred_table *creds;  /* the configuration the parent last sent */
    uint32_t gen;                    /* its generation */
    const struct ctl_health *health; /* the front's last report, NULL if none */
};

struct admin_env {
    struct event_base *base;
    const struct cfg *cfg; /* the daemon's configuration (module, store_dir) */
    void (*view)(void *arg, struct admin_view *out);
    void *view_arg;
    void (*request_reload)(void); /* daemon_request_reload */
};

struct admin;

/* Opens the store (env->cfg->store_dir must be set: STI_ECONFIG) and
 * starts the admin thread. */
int admin_new(const struct admin_env *env, struct admin **out);
/* Joins the admin thread; a result not yet delivered is dropped. */
void admin_free(struct admin *a);
/* The ops table for cli_new (arg = a). */
void admin_cli_ops(struct admin *a, struct cli_ops *ops);

struct console_io;

int console_start(struct event_base *base, const struct cfg *cfg, struct admin *a,
                  struct console_io **out);
void console_stop(struct console_io *io);

#endif
