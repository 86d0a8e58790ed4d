/* cli.c — the console's line discipline, modes, pager and login. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "sti_err.h"

#define PAGER_DEFAULT 24
static const char MORE[] = "--More--";

uint64_t cli_now(struct cli *c)
{
    return c->cfg.now_ms(c->cfg.clock_arg);
}

/* ---- output: "\n" becomes "\r\n" on the line ---- */

void cli_out(struct cli *c, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\n') {
            if (i > start)
                c->cfg.write(c->cfg.write_arg, s + start, i - start);
            c->cfg.write(c->cfg.write_arg, "\r\n", 2);
            start = i + 1;
        }
    if (n > start)
        c->cfg.write(c->cfg.write_arg, s + start, n - start);
}

void cli_puts(struct cli *c, const char *s)
{
    cli_out(c, s, strlen(s));
}

void cli_printf(struct cli *c, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    cli_out(c, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

void cli_err(struct cli *c, int rc, const char *what)
{
    if (what && *what)
        cli_printf(c, "%% %s: %s (%s)\n", what, sti_strerror(rc), sti_errname(rc));
    else
        cli_printf(c, "%% %s (%s)\n", sti_strerror(rc), sti_errname(rc));
}

void cli_prompt(struct cli *c)
{
    const char *name = c->cfg.name ? c->cfg.name : "stisign";
    switch (c->mode) {
    case CM_SETUP:
        cli_puts(c, c->nsec == 0 ? "New admin passphrase: " : "Repeat the passphrase: ");
        break;
    case CM_LOGIN:
        cli_puts(c, "Passphrase: ");
        break;
    case CM_SECRETS:
    case CM_CONFIRM:
        cli_puts(c, c->prompts[c->nsec]);
        break;
    case CM_OUT:
        cli_printf(c, "%s> ", name);
        break;
    case CM_EXEC:
        cli_printf(c, "%s# ", name);
        break;
    case CM_PASTE:
    case CM_MORE:
    case CM_BUSY:
        break;
    }
}

static int mode_hidden(const struct cli *c)
{
    return c->mode == CM_SETUP || c->mode == CM_LOGIN || c->mode == CM_SECRETS;
}

/* ---- pending commands ---- */

void cli_clear_pending(struct cli *c)
{
    cli_wipe(c->sec, sizeof c->sec);
    cli_wipe(c->parg, sizeof c->parg);
    c->nsec = c->nsec_want = 0;
    c->pend = CP_NONE;
    if (c->paste) {
        cli_wipe(c->paste, c->plen);
        free(c->paste);
        c->paste = NULL;
    }
    c->plen = 0;
    c->p_over = c->p_garbage = 0;
}

void cli_ask_secrets(struct cli *c, enum cli_pend pend, size_t n, const char *const *prompts)
{
    c->pend = pend;
    c->nsec = 0;
    c->nsec_want = n;
    for (size_t i = 0; i < n && i < CLI_MAX_SECRETS; i++)
        c->prompts[i] = prompts[i];
    c->mode = pend == CP_RESET_CONFIRM ? CM_CONFIRM : CM_SECRETS;
}

/* ---- async ops ---- */

static void on_done(void *ctx, int rc, const char *text, size_t n)
{
    struct cli *c = ctx;
    if (c->mode != CM_BUSY)
        return; /* a completion nobody waits for */
    c->mode = c->logged_in ? CM_EXEC : CM_OUT;
    c->last_input_ms = cli_now(c);
    if (rc != STI_OK) {
        c->after_reset = 0;
        if (text && n)
            cli_out(c, text, n > CLI_OUTPUT_MAX ? CLI_OUTPUT_MAX : n);
        if (text && n && text[n - 1] != '\n')
            cli_puts(c, "\n");
        cli_err(c, rc, NULL);
        cli_prompt(c);
        return;
    }
    if (c->after_reset) { /* the store is gone: back to first boot */
        c->after_reset = 0;
        if (text && n)
            cli_out(c, text, n > CLI_OUTPUT_MAX ? CLI_OUTPUT_MAX : n);
        cli_logout(c, "factory reset");
        cli_start(c);
        return;
    }
    if (text && n)
        cli_page(c, text, n > CLI_OUTPUT_MAX ? CLI_OUTPUT_MAX : n);
    else
        cli_prompt(c);
}

void cli_begin_op(struct cli *c)
{
    c->after_reset = c->pend == CP_RESET_SO;
    c->mode = CM_BUSY;
    c->busy_gen++;
}

struct cli_done cli_done_for(struct cli *c)
{
    struct cli_done d = {on_done, c};
    return d;
}

/* ---- pager ---- */

static void page_show(struct cli *c, unsigned lines)
{
    while (c->page_off < c->page_len && lines > 0) {
        const char *s = c->page + c->page_off;
        const char *nl = memchr(s, '\n', c->page_len - c->page_off);
        size_t n = nl ? (size_t)(nl - s) + 1 : c->page_len - c->page_off;
        cli_out(c, s, n);
        if (!nl)
            cli_puts(c, "\n");
        c->page_off += n;
        lines--;
    }
    if (c->page_off < c->page_len) {
        cli_puts(c, MORE);
        c->mode = CM_MORE;
        return;
    }
    free(c->page);
    c->page = NULL;
    c->page_len = c->page_off = 0;
    c->mode = c->logged_in ? CM_EXEC : CM_OUT;
    cli_prompt(c);
}

void cli_page(struct cli *c, const char *text, size_t n)
{
    c->busy_gen++; /* the pager prints the prompt when it is done */
    free(c->page);
    c->page = NULL;
    c->page_len = c->page_off = 0;
    if (c->term_len == 0) {
        cli_out(c, text, n);
        if (n && text[n - 1] != '\n')
            cli_puts(c, "\n");
        c->mode = c->logged_in ? CM_EXEC : CM_OUT;
        cli_prompt(c);
        return;
    }
    c->page = malloc(n ? n : 1);
    if (!c->page) {
        cli_err(c, STI_ENOMEM, NULL);
        c->mode = c->logged_in ? CM_EXEC : CM_OUT;
        cli_prompt(c);
        return;
    }
    memcpy(c->page, text, n);
    c->page_len = n;
    page_show(c, c->term_len - 1);
}

static void more_key(struct cli *c, unsigned char b)
{
    unsigned lines;
    if (b == ' ')
        lines = c->term_len - 1;
    else if (b == '\r' || b == '\n')
        lines = 1;
    else if (b == 'q' || b == 'Q' || b == 0x03) {
        cli_puts(c, "\r        \r");
        c->page_off = c->page_len;
        page_show(c, 0);
        return;
    } else {
        return;
    }
    if (b == '\n' && c->last_cr) /* the LF of a CRLF */
        return;
    cli_puts(c, "\r        \r"); /* erase --More-- */
    page_show(c, lines);
}

/* ---- login ---- */

void cli_logout(struct cli *c, const char *why)
{
    cli_clear_pending(c);
    free(c->page);
    c->page = NULL;
    c->page_len = c->page_off = 0;
    if (c->logged_in && c->ops.audit)
        c->ops.audit(c->ops.arg, "admin", "logout", why);
    c->logged_in = 0;
    c->mode = CM_OUT;
}

/* The passphrase prompt always comes, even during a delay or a lockout:
 * refused at the word "login", the passphrase the operator types next would
 * land at the command prompt, echoed. The delay is enforced when the
 * passphrase arrives (login_line), which is also when it would count. */
void cli_login_begin(struct cli *c)
{
    c->mode = CM_LOGIN;
}

/* A passphrase line. Whatever happens the console stays at the hidden
 * prompt, until a login succeeds or the operator leaves with an empty line
 * (or ^C): an operator who types the passphrase again after a failure, a
 * delay or a lockout, without reading the message first, never sees it on
 * the screen. */
static void login_line(struct cli *c, const char *pass, size_t n)
{
    char rec[600];
    uint64_t now = cli_now(c);
    if (n == 0) {
        c->mode = CM_OUT;
        return;
    }
    if (now < c->locked_until_ms) {
        cli_printf(c, "%% Locked out after %u failed logins: try again in %llu s (%s)\n",
                   CLI_MAX_FAILS, (unsigned long long)((c->locked_until_ms - now + 999) / 1000),
                   sti_errname(STI_ELOCKED));
        return;
    }
    if (c->locked_until_ms) { /* a lockout ended: start counting again */
        c->locked_until_ms = 0;
        c->fails = 0;
    }
    if (now < c->next_try_ms) {
        cli_printf(c, "%% Login delayed after a failure: try again in %llu s (%s)\n",
                   (unsigned long long)((c->next_try_ms - now + 999) / 1000),
                   sti_errname(STI_EAUTH));
        return;
    }
    int rc = c->ops.admin_get(c->ops.arg, rec, sizeof rec);
    if (rc == STI_OK)
        rc = cli_pass_verify(rec, pass, n);
    cli_wipe(rec, sizeof rec);
    if (rc == STI_OK) {
        c->fails = 0;
        c->next_try_ms = 0;
        c->logged_in = 1;
        c->mode = CM_EXEC;
        c->ops.audit(c->ops.arg, "admin", "login", "ok");
        cli_puts(c, "Logged in. Type help for the commands.\n");
        return;
    }
    c->fails++;
    if (c->fails >= CLI_MAX_FAILS) {
        c->locked_until_ms = now + CLI_LOCKOUT_MS;
        c->ops.audit(c->ops.arg, "console", "login", "failed; locked out");
        cli_printf(c,
                   "%% Login failed (%s). %u failures: locked out for %u s (%s); an empty "
                   "line leaves\n",
                   sti_errname(STI_EAUTH), c->fails, CLI_LOCKOUT_MS / 1000,
                   sti_errname(STI_ELOCKED));
        return;
    }
    unsigned delay = 1000u << (c->fails - 1);
    c->next_try_ms = now + delay;
    c->ops.audit(c->ops.arg, "console", "login", "failed");
    cli_printf(c, "%% Login failed (%s). Next attempt in %u s; an empty line leaves\n",
               sti_errname(STI_EAUTH), delay / 1000);
}

/* First boot: the passphrase, twice. */
static void setup_line(struct cli *c, const char *s, size_t n)
{
    if (c->nsec == 0) {
        if (n < CLI_PASS_MIN) {
            cli_printf(c, "%% Passphrase too short: at least %d characters\n", CLI_PASS_MIN);
            return;
        }
        if (n > CLI_SECRET_MAX) {
            cli_printf(c, "%% Passphrase too long: at most %d characters\n", CLI_SECRET_MAX);
            return;
        }
        memcpy(c->sec[0], s, n);
        c->sec[0][n] = '\0';
        c->nsec = 1;
        return;
    }
    int same = strlen(c->sec[0]) == n && memcmp(c->sec[0], s, n) == 0;
    if (!same) {
        cli_puts(c, "% Passphrases do not match: start again\n");
        cli_wipe(c->sec, sizeof c->sec);
        c->nsec = 0;
        return;
    }
    char rec[600];
    unsigned log2n = c->cfg.kdf_log2n ? c->cfg.kdf_log2n : 15;
    int rc = cli_pass_hash(c->sec[0], n, log2n, rec, sizeof rec);
    cli_wipe(c->sec, sizeof c->sec);
    c->nsec = 0;
    if (rc == STI_OK)
        rc = c->ops.admin_set(c->ops.arg, rec);
    cli_wipe(rec, sizeof rec);
    if (rc) {
        cli_err(c, rc, "Passphrase not saved");
        return;
    }
    c->ops.audit(c->ops.arg, "console", "set admin passphrase (first boot)", "ok");
    cli_puts(c, "Admin passphrase set. Type login.\n");
    c->mode = CM_OUT;
}

/* ---- paste ---- */

static void paste_line(struct cli *c, const char *s, size_t n)
{
    if (n == 1 && s[0] == '.') {
        cli_pending_ready(c);
        return;
    }
    if (c->plen + n + 1 > CLI_PASTE_MAX) {
        c->p_over = 1;
        return;
    }
    memcpy(c->paste + c->plen, s, n);
    c->plen += n;
    c->paste[c->plen++] = '\n';
    c->paste[c->plen] = '\0';
}

/* ---- one complete line ---- */

static void line_done(struct cli *c)
{
    int too_long = c->too_long, garbage = c->garbage;
    unsigned gen = c->busy_gen; /* an op started here prints its own prompt */
    size_t n = c->len;
    c->line[n] = '\0';
    c->len = 0;
    c->too_long = c->garbage = 0;
    if (c->mode == CM_PASTE) {
        if (too_long)
            c->p_over = 1;
        else if (garbage)
            c->p_garbage = 1;
        else
            paste_line(c, c->line, n);
        cli_wipe(c->line, sizeof c->line);
        if (gen == c->busy_gen && c->mode != CM_BUSY && c->mode != CM_PASTE && c->mode != CM_MORE)
            cli_prompt(c);
        return;
    }
    if (too_long) {
        cli_printf(c, "%% Line too long (more than %d characters): ignored\n", CLI_LINE_MAX);
    } else if (garbage) {
        cli_puts(c, "% Non-printable bytes in the line: ignored\n");
    } else {
        switch (c->mode) {
        case CM_SETUP:
            setup_line(c, c->line, n);
            break;
        case CM_LOGIN:
            login_line(c, c->line, n);
            break;
        case CM_SECRETS:
            if (n > CLI_SECRET_MAX) {
                /* Asked again, hidden: cancelled here, the command prompt
                 * would show the next secret the operator types ahead. */
                cli_printf(c, "%% Too long (at most %d characters): type it again\n",
                           CLI_SECRET_MAX);
                break;
            }
            memcpy(c->sec[c->nsec], c->line, n);
            c->sec[c->nsec][n] = '\0';
            if (++c->nsec == c->nsec_want)
                cli_pending_ready(c);
            break;
        case CM_CONFIRM:
            memcpy(c->sec[0], c->line, n < CLI_SECRET_MAX ? n : CLI_SECRET_MAX);
            c->sec[0][n < CLI_SECRET_MAX ? n : CLI_SECRET_MAX] = '\0';
            c->nsec = 1;
            cli_pending_ready(c);
            break;
        case CM_OUT:
        case CM_EXEC:
            cli_exec_line(c, c->line);
            break;
        default:
            break;
        }
    }
    cli_wipe(c->line, sizeof c->line);
    if (gen == c->busy_gen && c->mode != CM_BUSY && c->mode != CM_MORE && c->mode != CM_PASTE)
        cli_prompt(c);
}

/* ^C: cancel the line and whatever command waits for input. */
static void cancel(struct cli *c)
{
    cli_puts(c, "^C\n");
    cli_wipe(c->line, sizeof c->line);
    c->len = 0;
    c->too_long = c->garbage = 0;
    switch (c->mode) {
    case CM_SETUP:
        cli_wipe(c->sec, sizeof c->sec);
        c->nsec = 0;
        break;
    case CM_LOGIN:
        c->mode = CM_OUT;
        break;
    case CM_SECRETS:
    case CM_CONFIRM:
    case CM_PASTE:
        cli_clear_pending(c);
        cli_puts(c, "% Cancelled\n");
        c->mode = CM_EXEC;
        break;
    default:
        break;
    }
    cli_prompt(c);
}

static void erase_chars(struct cli *c, size_t n)
{
    if (mode_hidden(c) || c->too_long || c->garbage)
        return;
    for (size_t i = 0; i < n; i++)
        cli_out(c, "\b \b", 3);
}

static void input_byte(struct cli *c, unsigned char b)
{
    int was_cr = c->last_cr;
    c->last_cr = 0;
    if (c->mode == CM_BUSY)
        return;
    if (c->mode == CM_MORE) {
        c->last_cr = b == '\r';
        if (!(b == '\n' && was_cr))
            more_key(c, b);
        return;
    }
    /* ANSI escape sequences (arrow keys, function keys) are swallowed. */
    if (c->esc == 1) {
        c->esc = (b == '[' || b == 'O') ? 2 : 0;
        return;
    }
    if (c->esc == 2) {
        if (b >= 0x40 && b <= 0x7e)
            c->esc = 0;
        else if (b < 0x20 || b > 0x7e)
            c->esc = 0; /* not a sequence after all: drop quietly */
        return;
    }
    switch (b) {
    case '\r':
        c->last_cr = 1;
        cli_puts(c, "\n");
        line_done(c);
        return;
    case '\n':
        if (was_cr)
            return; /* CRLF is one end of line */
        cli_puts(c, "\n");
        line_done(c);
        return;
    case 0x03: /* ^C */
        cancel(c);
        return;
    case 0x15: /* ^U: kill the line */
        erase_chars(c, c->len);
        cli_wipe(c->line, sizeof c->line);
        c->len = 0;
        c->too_long = c->garbage = 0;
        return;
    case 0x08:
    case 0x7f: /* backspace / DEL */
        if (c->len > 0 && !c->too_long) {
            erase_chars(c, 1);
            c->line[--c->len] = '\0';
        }
        return;
    case 0x1b:
        c->esc = 1;
        return;
    case '\t':
        b = ' ';
        break;
    default:
        break;
    }
    if (b < 0x20 || b > 0x7e) {
        c->garbage = 1;
        return;
    }
    if (c->len >= CLI_LINE_MAX) {
        c->too_long = 1;
        return;
    }
    c->line[c->len++] = (char)b;
    if (!mode_hidden(c) && !c->too_long && !c->garbage)
        cli_out(c, (const char *)&b, 1);
}

void cli_input(struct cli *c, const void *bytes, size_t n)
{
    const unsigned char *p = bytes;
    if (n && c->mode != CM_BUSY)
        c->last_input_ms = cli_now(c);
    for (size_t i = 0; i < n; i++)
        input_byte(c, p[i]);
}

void cli_tick(struct cli *c)
{
    uint64_t idle = c->cfg.idle_ms ? c->cfg.idle_ms : CLI_IDLE_MS_DEFAULT;
    if (!c->logged_in || c->mode == CM_BUSY)
        return;
    if (cli_now(c) - c->last_input_ms < idle)
        return;
    int hidden = mode_hidden(c);
    cli_wipe(c->line, sizeof c->line);
    c->len = 0;
    cli_logout(c, "idle timeout");
    cli_printf(c, "\n%% Idle for %llu s: logged out\n", (unsigned long long)(idle / 1000));
    /* Left at a PIN prompt, the operator may come back and type the PIN
     * without reading this: what comes next stays hidden, as a login. */
    if (hidden)
        c->mode = CM_LOGIN;
    cli_prompt(c);
}

int cli_logged_in(const struct cli *c)
{
    return c->logged_in;
}

int cli_busy(const struct cli *c)
{
    return c->mode == CM_BUSY;
}

int cli_new(const struct cli_cfg *cfg, const struct cli_ops *ops, struct cli **out)
{
    if (!cfg || !cfg->write || !cfg->now_ms || !ops || !ops->admin_get || !ops->admin_set ||
        !ops->audit)
        return STI_EINVAL;
    struct cli *c = calloc(1, sizeof *c);
    if (!c)
        return STI_ENOMEM;
    c->cfg = *cfg;
    c->ops = *ops;
    c->term_len = PAGER_DEFAULT;
    c->mode = CM_OUT;
    *out = c;
    return STI_OK;
}

void cli_free(struct cli *c)
{
    if (!c)
        return;
    cli_clear_pending(c);
    cli_wipe(c->line, sizeof c->line);
    free(c->page);
    cli_wipe(c, sizeof *c);
    free(c);
}

void cli_start(struct cli *c)
{
    char rec[600];
    int rc = c->ops.admin_get(c->ops.arg, rec, sizeof rec);
    cli_wipe(rec, sizeof rec);
    c->last_input_ms = cli_now(c);
    cli_puts(c, "\nstisign provisioning console\n");
    if (rc == STI_ENOTFOUND) {
        cli_printf(c, "First boot: set the admin passphrase (at least %d characters).\n",
                   CLI_PASS_MIN);
        c->mode = CM_SETUP;
    } else {
        if (rc)
            cli_err(c, rc, "Admin passphrase record");
        cli_puts(c, "Type login.\n");
        c->mode = CM_OUT;
    }
    cli_prompt(c);
}
