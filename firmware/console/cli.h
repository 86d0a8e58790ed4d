/*
 * cli.h — the serial provisioning console: line discipline, command table,
 * argument parsing, paging, PEM paste and the admin login. Pure: no file
 * descriptor, no event loop, no clock of its own. The owner feeds it bytes
 * (cli_input), gives it a write callback for output, a clock, and calls
 * cli_tick now and then for the idle logout. Everything the console asks of
 * the appliance goes through struct cli_ops.
 *
 * Conventions: one struct cli per console, used from one thread (the
 * daemon's loop). Asynchronous ops receive a struct cli_done and must call
 * it exactly once, on the loop thread, possibly before returning; at most
 * one op is in flight per console (input is dropped meanwhile, ^C included:
 * HSM work cannot be interrupted halfway). String arguments of an op are
 * valid only during the call: an op that works later copies them; secrets
 * (PINs) are wiped by the console right after the call returns and must be
 * wiped by the op after use. The console never logs or echoes a passphrase
 * or PIN, not even one typed before the operator saw a refusal: once it asks
 * for the login passphrase it reads hidden until a login succeeds or the
 * operator leaves (empty line, ^C), and an idle logout at a hidden prompt
 * leads to that prompt. It audits logins and passphrase changes through
 * ops->audit, the ops audit what they do.
 */
#ifndef STI_CLI_H
#define STI_CLI_H

#include <stddef.h>
#include <stdint.h>

#define CLI_LINE_MAX 511          /* characters in one input line */
#define CLI_PASTE_MAX (64 * 1024) /* bytes of one PEM paste */
#define CLI_SECRET_MAX 128        /* passphrase / PIN characters */
#define CLI_PASS_MIN 10           /* admin passphrase minimum length */
#define CLI_MAX_FAILS 5           /* failed logins before the lockout */
#define CLI_LOCKOUT_MS (5u * 60u * 1000u)
#define CLI_IDLE_MS_DEFAULT (10u * 60u * 1000u)
#define CLI_OUTPUT_MAX (256 * 1024) /* longest op output shown */

struct cli;

/* Completion of an asynchronous op: rc STI_OK or STI_E*, text (may be
 * NULL) printed to the operator (paged), on error before the message. */
struct cli_done {
    void (*fn)(void *ctx, int rc, const char *text, size_t n);
    void *ctx;
};

enum cli_show { CLI_SHOW_STATUS, CLI_SHOW_KEYS, CLI_SHOW_CREDS, CLI_SHOW_AUDIT };

enum cli_role { CLI_ROLE_CUSTOMER_AF, CLI_ROLE_DELEGATE_CA };

struct cli_ops {
    void *arg;
    /* Synchronous and small: the admin passphrase record (an opaque
     * string made by the console). admin_get: STI_ENOTFOUND if none. */
    int (*admin_get)(void *arg, char *rec, size_t cap);
    int (*admin_set)(void *arg, const char *rec);
    /* Appends to the audit log; never given a secret. */
    void (*audit)(void *arg, const char *who, const char *action, const char *result);
    /* Asynchronous. */
    void (*show)(void *arg, enum cli_show what, struct cli_done done);
    void (*token_init)(void *arg, const char *label, const char *so_pin, const char *user_pin,
                       struct cli_done done);
    void (*token_attach)(void *arg, const char *label, struct cli_done done);
    /* Checks the PIN by logging in, then stores it for unattended start. */
    void (*token_pin)(void *arg, const char *pin, struct cli_done done);
    void (*key_generate)(void *arg, enum cli_role role, const char *label, struct cli_done done);
    /* text: the PEM of the request. */
    void (*csr)(void *arg, const char *key, const char *subject, const char *scope,
                struct cli_done done);
    /* Validates the pasted chain against the token key, commits it and
     * puts it to use (x5u may be "": pending until credential x5u). */
    void (*cred_import)(void *arg, const char *name, const char *key, const char *pem, size_t n,
                        const char *x5u, struct cli_done done);
    void (*cred_x5u)(void *arg, const char *name, const char *url, struct cli_done done);
    void (*cred_retire)(void *arg, const char *name, struct cli_done done);
    /* so_pin "": wipe the store only; else also re-initialise the token,
     * destroying every key on it. */
    void (*factory_reset)(void *arg, const char *so_pin, struct cli_done done);
    /* The Delegate CA (docs/provisioning.md, "Delegate CA at the console").
     * ca_csr: text is the PEM request. ca_cert: pem is the CA certificate
     * then the chain above it, checked against token key `key` and stored.
     * ca_policy: days 0 = 365. ca_issue: pem is a PKCS#10 request; text is
     * the certificate PEM. ca_self_issue: request + issue for token key
     * afkey, stored as a pending credential named afkey. reason "" =
     * unspecified. */
    void (*ca_csr)(void *arg, const char *key, const char *subject, const char *scope,
                   struct cli_done done);
    void (*ca_cert)(void *arg, const char *key, const char *pem, size_t n, struct cli_done done);
    void (*ca_policy)(void *arg, const char *oid, const char *crl_uri, long days,
                      struct cli_done done);
    void (*ca_issue)(void *arg, const char *pem, size_t n, struct cli_done done);
    void (*ca_self_issue)(void *arg, const char *afkey, const char *subject, const char *scope,
                          struct cli_done done);
    void (*ca_revoke)(void *arg, const char *serial, const char *reason, struct cli_done done);
    void (*ca_crl)(void *arg, struct cli_done done);
    void (*ca_show)(void *arg, struct cli_done done);
    /* Signed firmware updates (docs/update-image.md). update_status: the
     * running version and the A/B slots. update_install: path is an
     * absolute path on the appliance; the image is verified and written
     * into the slot not booted, for a trial at the next boot; STI_EUPDATE
     * when refused, the text giving the reason and the board's BSP_UPD_*
     * code. update_confirm: the running trial image becomes the active
     * slot; STI_OK with a text saying so when nothing is on trial. */
    void (*update_status)(void *arg, struct cli_done done);
    void (*update_install)(void *arg, const char *path, struct cli_done done);
    void (*update_confirm)(void *arg, struct cli_done done);
};

struct cli_cfg {
    void (*write)(void *arg, const char *s, size_t n);
    void *write_arg;
    uint64_t (*now_ms)(void *arg); /* monotonic milliseconds */
    void *clock_arg;
    unsigned idle_ms;   /* 0: CLI_IDLE_MS_DEFAULT */
    unsigned kdf_log2n; /* scrypt cost of new passphrase records; 0: 15 */
    const char *name;   /* prompt name; NULL: "stisign" */
};

int cli_new(const struct cli_cfg *cfg, const struct cli_ops *ops, struct cli **out);
/* Wipes every secret; an op still in flight must not complete afterwards
 * (the owner cancels its completions first). */
void cli_free(struct cli *c);
/* Banner and the first prompt (first boot: the passphrase setup). */
void cli_start(struct cli *c);
void cli_input(struct cli *c, const void *bytes, size_t n);
/* Idle logout check; call about once a second. */
void cli_tick(struct cli *c);
int cli_logged_in(const struct cli *c);
int cli_busy(const struct cli *c);

/* ---- passphrase records (cli_auth.c) ---- */
/* "scrypt$LOG2N$R$P$SALTHEX$HASHHEX" with a fresh 16-byte salt. */
int cli_pass_hash(const char *pass, size_t n, unsigned log2n, char *rec, size_t cap);
/* STI_OK on a match (constant-time compare), STI_EAUTH otherwise,
 * STI_EINVAL on a malformed record. */
int cli_pass_verify(const char *rec, const char *pass, size_t n);
void cli_wipe(void *p, size_t n);

#endif
