/*
 * cli_int.h — the console's private state, shared by cli.c (line
 * discipline, modes, paging, login) and cli_cmds.c (command table and
 * handlers). Not for use outside firmware/console.
 */
#ifndef STI_CLI_INT_H
#define STI_CLI_INT_H

#include "cli.h"

#define CLI_MAX_ARGS 24
#define CLI_MAX_SECRETS 4
#define CLI_ARG_MAX 255

enum cli_mode {
    CM_SETUP,   /* first boot: new admin passphrase, twice (hidden) */
    CM_OUT,     /* logged out: only login and help */
    CM_LOGIN,   /* reading the login passphrase (hidden) */
    CM_EXEC,    /* logged in, at the prompt */
    CM_SECRETS, /* collecting hidden answers for a command */
    CM_CONFIRM, /* a typed confirmation (echoed) */
    CM_PASTE,   /* PEM paste until a line "." */
    CM_MORE,    /* pager waiting at --More-- */
    CM_BUSY,    /* an op is in flight */
};

/* What a command waits for once its secrets / confirmation / paste are in. */
enum cli_pend {
    CP_NONE,
    CP_SETUP,
    CP_TOKEN_INIT,
    CP_TOKEN_PIN,
    CP_PASSPHRASE,
    CP_RESET_CONFIRM,
    CP_RESET_SO,
    CP_IMPORT,
    CP_CA_CERT,  /* ca certificate: the CA chain paste */
    CP_CA_ISSUE, /* ca issue: a PKCS#10 paste */
};

struct cli {
    struct cli_cfg cfg;
    struct cli_ops ops;
    enum cli_mode mode;
    int logged_in;
    /* line discipline */
    char line[CLI_LINE_MAX + 1];
    size_t len;
    int too_long, garbage, last_cr, esc; /* esc: 0 none, 1 ESC seen, 2 in CSI/SS3 */
    /* the command waiting for more input */
    enum cli_pend pend;
    char parg[3][CLI_ARG_MAX + 1];
    const char *prompts[CLI_MAX_SECRETS];
    char sec[CLI_MAX_SECRETS][CLI_SECRET_MAX + 1];
    size_t nsec, nsec_want;
    /* paste */
    char *paste;
    size_t plen;
    int p_over, p_garbage;
    /* pager */
    char *page;
    size_t page_len, page_off;
    unsigned term_len;
    /* auth */
    unsigned fails;
    uint64_t next_try_ms, locked_until_ms, last_input_ms;
    unsigned busy_gen; /* bumped when an op or the pager takes over the prompt */
    int after_reset;   /* the op in flight is a factory reset */
};

/* cli.c */
void cli_out(struct cli *c, const char *s, size_t n);
void cli_puts(struct cli *c, const char *s);
void cli_printf(struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_err(struct cli *c, int rc, const char *what);
void cli_prompt(struct cli *c);
void cli_page(struct cli *c, const char *text, size_t n);
void cli_ask_secrets(struct cli *c, enum cli_pend pend, size_t n, const char *const *prompts);
void cli_begin_op(struct cli *c);
struct cli_done cli_done_for(struct cli *c);
void cli_clear_pending(struct cli *c);
void cli_logout(struct cli *c, const char *why);
void cli_login_begin(struct cli *c);
uint64_t cli_now(struct cli *c);

/* cli_cmds.c */
/* Runs one complete line typed at the prompt (CM_OUT or CM_EXEC). */
void cli_exec_line(struct cli *c, char *line);
/* A command's secrets / confirmation / paste are in: go on. */
void cli_pending_ready(struct cli *c);
/* Splits a line into words: spaces separate, "..." quotes (\" and \\
 * inside). STI_ETOOMANY over max words, STI_EINVAL on an open quote. The
 * words point into buf (cap >= strlen(line) + 1). */
int cli_tokenize(const char *line, char *buf, size_t cap, char **argv, int max, int *argc);

#endif
