/* test_cli.c — the console: line discipline, parser, auth, paste, paging.
 * A fake ops table and a fake clock: nothing sleeps, nothing touches a
 * token. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli_int.h" /* white box: cli_tokenize */
#include "sti_err.h"

struct fake {
    char out[1 << 17];
    size_t n;
    uint64_t now;
    char rec[600];
    int have_rec;
    char last_op[64];
    char arg1[600], arg2[600], arg3[600];
    size_t paste_len;
    int pending; /* complete ops later */
    struct cli_done done;
    char audit[4096];
    const char *reply;
};

static void f_write(void *arg, const char *s, size_t n)
{
    struct fake *f = arg;
    if (f->n + n < sizeof f->out) {
        memcpy(f->out + f->n, s, n);
        f->n += n;
        f->out[f->n] = '\0';
    }
}
static uint64_t f_now(void *arg)
{
    return ((struct fake *)arg)->now;
}
static int f_admin_get(void *arg, char *rec, size_t cap)
{
    struct fake *f = arg;
    if (!f->have_rec)
        return STI_ENOTFOUND;
    snprintf(rec, cap, "%s", f->rec);
    return STI_OK;
}
static int f_admin_set(void *arg, const char *rec)
{
    struct fake *f = arg;
    snprintf(f->rec, sizeof f->rec, "%s", rec);
    f->have_rec = 1;
    return STI_OK;
}
static void f_audit(void *arg, const char *who, const char *action, const char *result)
{
    struct fake *f = arg;
    size_t l = strlen(f->audit);
    snprintf(f->audit + l, sizeof f->audit - l, "%s %s %s\n", who, action, result);
}
static void finish(struct fake *f, const char *op, struct cli_done d)
{
    snprintf(f->last_op, sizeof f->last_op, "%s", op);
    if (f->pending) {
        f->done = d;
        return;
    }
    const char *r = f->reply ? f->reply : "done\n";
    d.fn(d.ctx, STI_OK, r, strlen(r));
}
static void f_show(void *arg, enum cli_show what, struct cli_done d)
{
    static const char *names[] = {"status", "keys", "creds", "audit"};
    finish(arg, names[what], d);
}
static void f_token_init(void *arg, const char *label, const char *so, const char *user,
                         struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", label);
    snprintf(f->arg2, sizeof f->arg2, "%s", so);
    snprintf(f->arg3, sizeof f->arg3, "%s", user);
    finish(f, "token_init", d);
}
static void f_token_attach(void *arg, const char *label, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", label);
    finish(f, "token_attach", d);
}
static void f_token_pin(void *arg, const char *pin, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", pin);
    finish(f, "token_pin", d);
}
static void f_keygen(void *arg, enum cli_role role, const char *label, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", role == CLI_ROLE_DELEGATE_CA ? "ca" : "af");
    snprintf(f->arg2, sizeof f->arg2, "%s", label);
    finish(f, "keygen", d);
}
static void f_csr(void *arg, const char *key, const char *subject, const char *scope,
                  struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", key);
    snprintf(f->arg2, sizeof f->arg2, "%s", subject);
    snprintf(f->arg3, sizeof f->arg3, "%s", scope);
    finish(f, "csr", d);
}
static void f_import(void *arg, const char *name, const char *key, const char *pem, size_t n,
                     const char *x5u, struct cli_done d)
{
    struct fake *f = arg;
    (void)pem;
    snprintf(f->arg1, sizeof f->arg1, "%s", name);
    snprintf(f->arg2, sizeof f->arg2, "%s", key);
    snprintf(f->arg3, sizeof f->arg3, "%s", x5u);
    f->paste_len = n;
    finish(f, "import", d);
}
static void f_x5u(void *arg, const char *name, const char *url, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", name);
    snprintf(f->arg2, sizeof f->arg2, "%s", url);
    finish(f, "x5u", d);
}
static void f_retire(void *arg, const char *name, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", name);
    finish(f, "retire", d);
}
static void f_reset(void *arg, const char *so, struct cli_done d)
{
    struct fake *f = arg;
    snprintf(f->arg1, sizeof f->arg1, "%s", so);
    f->have_rec = 0;
    finish(f, "reset", d);
}

static struct fake F;

static struct cli *mk(int with_admin)
{
    /* Designated: ops added later (ca, ...) stay NULL here. */
    static const struct cli_ops ops = {.arg = &F,
                                       .admin_get = f_admin_get,
                                       .admin_set = f_admin_set,
                                       .audit = f_audit,
                                       .show = f_show,
                                       .token_init = f_token_init,
                                       .token_attach = f_token_attach,
                                       .token_pin = f_token_pin,
                                       .key_generate = f_keygen,
                                       .csr = f_csr,
                                       .cred_import = f_import,
                                       .cred_x5u = f_x5u,
                                       .cred_retire = f_retire,
                                       .factory_reset = f_reset};
    struct cli_cfg cfg = {f_write, &F, f_now, &F, 0, 10, NULL};
    struct cli *c = NULL;
    memset(&F, 0, sizeof F);
    F.now = 1000000;
    if (with_admin) {
        cli_pass_hash("0123456789abc", 13, 10, F.rec, sizeof F.rec);
        F.have_rec = 1;
    }
    if (cli_new(&cfg, &ops, &c) != STI_OK)
        return NULL;
    cli_start(c);
    return c;
}

static void in(struct cli *c, const char *s)
{
    cli_input(c, s, strlen(s));
}

static void clear(void)
{
    F.n = 0;
    F.out[0] = '\0';
}

static struct cli *logged_in(void)
{
    struct cli *c = mk(1);
    in(c, "login\r");
    in(c, "0123456789abc\r");
    in(c, "terminal length 0\r");
    clear();
    return c;
}

TEST(first_boot_asks_the_passphrase_twice_and_hides_it)
{
    struct cli *c = mk(0);
    CHECK(strstr(F.out, "First boot"));
    CHECK(strstr(F.out, "New admin passphrase: "));
    in(c, "short\r");
    CHECK(strstr(F.out, "Passphrase too short"));
    in(c, "a long passphrase\r");
    CHECK(strstr(F.out, "Repeat the passphrase: "));
    in(c, "a different one!!\r");
    CHECK(strstr(F.out, "do not match"));
    CHECK_INT(F.have_rec, 0);
    in(c, "a long passphrase\ra long passphrase\r");
    CHECK(strstr(F.out, "Admin passphrase set"));
    CHECK(F.have_rec);
    CHECK(strstr(F.out, "long passphrase") == NULL); /* never echoed */
    CHECK(strstr(F.rec, "long passphrase") == NULL);
    CHECK(strncmp(F.rec, "scrypt$10$8$1$", 14) == 0);
    in(c, "login\ra long passphrase\r");
    CHECK(cli_logged_in(c));
    cli_free(c);
}

TEST(pass_records_verify_only_the_right_passphrase)
{
    char rec[600];
    CHECK_RC(cli_pass_hash("secret passphrase", 17, 10, rec, sizeof rec), STI_OK);
    CHECK_RC(cli_pass_verify(rec, "secret passphrase", 17), STI_OK);
    CHECK_RC(cli_pass_verify(rec, "secret passphrasE", 17), STI_EAUTH);
    CHECK_RC(cli_pass_verify("scrypt$10$8$1$zz$zz", "x", 1), STI_EINVAL);
    CHECK_RC(cli_pass_verify("md5$whatever", "x", 1), STI_EINVAL);
}

TEST(failed_logins_back_off_doubling_then_lock_out_for_five_minutes)
{
    struct cli *c = mk(1);
    in(c, "login\r");
    for (unsigned i = 0; i < 4; i++) {
        clear();
        in(c, "wrong passphrase\r");
        char want[64];
        snprintf(want, sizeof want, "Next attempt in %u s", 1u << i);
        CHECK(strstr(F.out, want));
        CHECK(strstr(F.out, "Passphrase: ")); /* asked again, hidden */
        /* The right one during the delay is refused without being checked
         * and does not count as a failure. */
        clear();
        in(c, "0123456789abc\r");
        CHECK(strstr(F.out, "Login delayed"));
        F.now += (1000u << i) - 1;
        clear();
        in(c, "0123456789abc\r");
        CHECK(strstr(F.out, "Login delayed"));
        CHECK(!cli_logged_in(c));
        F.now += 1;
    }
    clear();
    in(c, "wrong passphrase\r");
    CHECK(strstr(F.out, "locked out for 300 s (STI_ELOCKED)"));
    F.now += 299 * 1000;
    clear();
    in(c, "0123456789abc\r");
    CHECK(strstr(F.out, "Locked out"));
    CHECK(!cli_logged_in(c));
    F.now += 1000;
    in(c, "0123456789abc\r");
    CHECK(cli_logged_in(c));
    CHECK(strstr(F.audit, "locked out"));
    cli_free(c);
}

TEST(empty_line_or_ctrl_c_leaves_the_passphrase_prompt)
{
    struct cli *c = mk(1);
    in(c, "login\rwrong passphrase\r");
    clear();
    in(c, "\r");
    CHECK(strstr(F.out, "stisign> "));
    clear();
    in(c, "show status\r"); /* a command again, not a passphrase */
    CHECK(strstr(F.out, "Not logged in"));
    in(c, "login\rsecr\x03");
    CHECK(strstr(F.out, "secr") == NULL);
    clear();
    in(c, "help\r");
    CHECK(strstr(F.out, "Log in for the other commands"));
    /* Leaving is not a failed login: one failure in the audit. */
    const char *first = strstr(F.audit, "login failed");
    CHECK(first && !strstr(first + 1, "login failed"));
    cli_free(c);
}

/* ---- no byte of a secret is ever written to the console ---- */

#define SECRET "0123456789abc" /* the admin passphrase mk(1) sets */

TEST(passphrase_typed_after_a_delayed_login_is_never_echoed)
{
    struct cli *c = mk(1);
    in(c, "login\rwrong passphrase\r");
    /* Typed ahead while the console says "delayed": still hidden. */
    in(c, SECRET "\r");
    in(c, "\rlogin\r" SECRET "\r");
    CHECK(strstr(F.out, SECRET) == NULL);
    CHECK(strstr(F.out, "Unknown command") == NULL);
    CHECK(strstr(F.out, "Login delayed"));
    CHECK(!cli_logged_in(c));
    cli_free(c);
}

TEST(passphrase_typed_after_a_repeated_login_is_never_echoed)
{
    struct cli *c = mk(1);
    /* "login" twice (the first prompt seemed slow): the second is taken as
     * a passphrase and fails; the real one that follows stays hidden. */
    in(c, "login\rlogin\r");
    F.now += 1000;
    in(c, SECRET "\r");
    CHECK(strstr(F.out, SECRET) == NULL);
    CHECK(strstr(F.out, "Login failed"));
    CHECK(cli_logged_in(c));
    cli_free(c);
}

TEST(passphrase_typed_during_a_lockout_is_never_echoed)
{
    struct cli *c = mk(1);
    in(c, "login\r");
    for (unsigned i = 0; i < CLI_MAX_FAILS; i++) {
        in(c, "wrong passphrase\r");
        F.now += 1000u << i;
    }
    in(c, SECRET "\r");
    in(c, "\rlogin\r" SECRET "\r");
    /* A wrong passphrase is a secret too (often a typo of the right one). */
    CHECK(strstr(F.out, SECRET) == NULL && strstr(F.out, "wrong passphrase") == NULL);
    CHECK(strstr(F.out, "locked out for 300 s"));
    CHECK(strstr(F.out, "Locked out after 5 failed logins"));
    CHECK(!cli_logged_in(c));
    cli_free(c);
}

TEST(pin_typed_after_an_idle_logout_at_its_prompt_is_never_echoed)
{
    struct cli *c = logged_in();
    in(c, "token pin\r47");
    F.now += CLI_IDLE_MS_DEFAULT;
    cli_tick(c);
    /* The operator comes back and finishes the PIN, then types it again. */
    in(c, "11-pin\r4711-pin\r");
    CHECK(strstr(F.out, "4711") == NULL && strstr(F.out, "11-pin") == NULL);
    CHECK(!cli_logged_in(c));
    CHECK(strstr(F.out, "Idle for 600 s: logged out\r\nPassphrase: "));
    CHECK_STR(F.last_op, "");
    cli_free(c);
}

TEST(secret_over_the_cap_is_asked_again_hidden)
{
    struct cli *c = logged_in();
    char line[CLI_SECRET_MAX + 3];
    memset(line, 'p', CLI_SECRET_MAX + 1);
    line[CLI_SECRET_MAX + 1] = '\r';
    line[CLI_SECRET_MAX + 2] = '\0';
    in(c, "token pin\r");
    in(c, line);
    in(c, "4711-pin\r4711-pin\r");
    CHECK(strstr(F.out, "4711") == NULL && strstr(F.out, "ppp") == NULL);
    CHECK(strstr(F.out, "Too long (at most 128 characters): type it again\r\nUser PIN: "));
    CHECK_STR(F.last_op, "token_pin");
    CHECK_STR(F.arg1, "4711-pin");
    cli_free(c);
}

TEST(idle_session_logs_out)
{
    struct cli *c = logged_in();
    F.now += CLI_IDLE_MS_DEFAULT - 1;
    cli_tick(c);
    CHECK(cli_logged_in(c));
    in(c, "x"); /* typing counts as activity */
    F.now += CLI_IDLE_MS_DEFAULT - 1;
    cli_tick(c);
    CHECK(cli_logged_in(c));
    F.now += 1;
    cli_tick(c);
    CHECK(!cli_logged_in(c));
    CHECK(strstr(F.out, "Idle for 600 s: logged out"));
    CHECK(strstr(F.audit, "idle timeout"));
    cli_free(c);
}

TEST(backspace_and_del_edit_the_line)
{
    struct cli *c = logged_in();
    in(c, "token attach abX\x7f"
          "c\b\bbc\r");
    CHECK_STR(F.last_op, "token_attach");
    CHECK_STR(F.arg1, "abc");
    CHECK(strstr(F.out, "\b \b"));
    cli_free(c);
}

TEST(crlf_lf_and_cr_each_end_one_line)
{
    struct cli *c = logged_in();
    in(c, "token attach a\r\ntoken attach b\ntoken attach c\r");
    CHECK_STR(F.arg1, "c");
    /* CRLF is one end of line: three prompts after three commands */
    int prompts = 0;
    for (const char *p = F.out; (p = strstr(p, "stisign# ")); p++)
        prompts++;
    CHECK_INT(prompts, 3);
    cli_free(c);
}

TEST(over_long_line_is_refused_with_one_error)
{
    struct cli *c = logged_in();
    char line[CLI_LINE_MAX + 50];
    memset(line, 'a', sizeof line);
    cli_input(c, line, sizeof line);
    in(c, "\r");
    CHECK(strstr(F.out, "% Line too long (more than 511 characters): ignored"));
    CHECK(strstr(F.out, "Unknown command") == NULL);
    clear();
    in(c, "token attach ok\r");
    CHECK_STR(F.arg1, "ok");
    cli_free(c);
}

TEST(binary_garbage_gives_one_error_per_line)
{
    struct cli *c = logged_in();
    in(c, "\x01\x02\xff\xfe\x80 junk \x90\r");
    CHECK(strstr(F.out, "% Non-printable bytes in the line: ignored"));
    CHECK(strstr(strstr(F.out, "Non-printable") + 1, "Non-printable") == NULL);
    in(c, "token attach fine\r");
    CHECK_STR(F.arg1, "fine");
    cli_free(c);
}

TEST(escape_sequences_are_swallowed)
{
    struct cli *c = logged_in();
    in(c, "token att\x1b[Aach lbl\x1bOD\r");
    CHECK_STR(F.arg1, "lbl");
    CHECK(strstr(F.out, "Non-printable") == NULL);
    cli_free(c);
}

TEST(ctrl_c_cancels_and_ctrl_u_kills_the_line)
{
    struct cli *c = logged_in();
    in(c, "token attach zzz\x03");
    CHECK(strstr(F.out, "^C"));
    CHECK_STR(F.last_op, "");
    in(c, "token attach yyy\x15token attach xxx\r");
    CHECK_STR(F.arg1, "xxx");
    cli_free(c);
}

TEST(unique_prefixes_resolve_and_ambiguity_is_named)
{
    struct cli *c = logged_in();
    in(c, "sh st\r");
    CHECK_STR(F.last_op, "status");
    in(c, "sh k\r");
    CHECK_STR(F.last_op, "keys");
    clear();
    in(c, "c\r");
    CHECK(strstr(F.out, "% Ambiguous command \"c\": csr, credential"));
    clear();
    in(c, "show cred\r");
    CHECK_STR(F.last_op, "creds");
    clear();
    in(c, "frob\r");
    CHECK(strstr(F.out, "% Unknown command \"frob\". Type help."));
    clear();
    in(c, "show frob\r");
    CHECK(strstr(F.out, "% Unknown command \"show frob\". Type help."));
    clear();
    in(c, "show\r");
    CHECK(strstr(F.out, "% Incomplete command \"show\""));
    clear();
    in(c, "token attach\r");
    CHECK(strstr(F.out, "% Usage: token attach LABEL"));
    cli_free(c);
}

TEST(help_and_question_mark_work_everywhere)
{
    struct cli *c = mk(1);
    in(c, "help\r");
    CHECK(strstr(F.out, "login"));
    CHECK(strstr(F.out, "Log in for the other commands"));
    clear();
    in(c, "show status\r");
    CHECK(strstr(F.out, "% Not logged in. Type login."));
    cli_free(c);
    c = logged_in();
    in(c, "?\r");
    CHECK(strstr(F.out, "credential import NAME key LABEL"));
    clear();
    in(c, "show ?\r");
    CHECK(strstr(F.out, "show audit"));
    CHECK(strstr(F.out, "Incomplete") == NULL);
    clear();
    in(c, "cred imp?\r");
    CHECK(strstr(F.out, "paste a PEM chain"));
    clear();
    in(c, "help key gen\r");
    CHECK(strstr(F.out, "customer-af|delegate-ca"));
    cli_free(c);
}

TEST(quoted_arguments_keep_spaces_and_escapes)
{
    struct cli *c = logged_in();
    in(c, "csr af1 subject \"C=US,O=Acme \\\"X\\\",CN=SHAKEN 1\" scope \"range:12025550100/100 "
          "tn:13035550123\"\r");
    CHECK_STR(F.last_op, "csr");
    CHECK_STR(F.arg1, "af1");
    CHECK_STR(F.arg2, "C=US,O=Acme \"X\",CN=SHAKEN 1");
    CHECK_STR(F.arg3, "range:12025550100/100 tn:13035550123");
    clear();
    F.last_op[0] = '\0';
    in(c, "csr af1 subject \"C=US scope x\r");
    CHECK(strstr(F.out, "% Unterminated quote"));
    CHECK_STR(F.last_op, "");
    in(c, "csr af1 sub a sub b\r");
    CHECK(strstr(F.out, "subject given twice"));
    cli_free(c);
}

TEST(tokenizer_bounds_words)
{
    char buf[64], *argv[4];
    int argc;
    CHECK_RC(cli_tokenize("a b c d e", buf, sizeof buf, argv, 4, &argc), STI_ETOOMANY);
    CHECK_RC(cli_tokenize("a \"b c\" d", buf, sizeof buf, argv, 4, &argc), STI_OK);
    CHECK_INT(argc, 3);
    CHECK_STR(argv[1], "b c");
    CHECK_RC(cli_tokenize("\"open", buf, sizeof buf, argv, 4, &argc), STI_EINVAL);
    CHECK_RC(cli_tokenize("  ", buf, sizeof buf, argv, 4, &argc), STI_OK);
    CHECK_INT(argc, 0);
}

TEST(pins_are_asked_hidden_and_must_match)
{
    struct cli *c = logged_in();
    in(c, "token init tok1\r");
    CHECK(strstr(F.out, "SO PIN: "));
    in(c, "so-pin-1\rso-pin-1\ruser-pin-1\ruser-pin-2\r");
    CHECK(strstr(F.out, "PINs do not match"));
    CHECK_STR(F.last_op, "");
    in(c, "token init tok1\rso-pin-1\rso-pin-1\ruser-pin-1\ruser-pin-1\r");
    CHECK_STR(F.last_op, "token_init");
    CHECK_STR(F.arg2, "so-pin-1");
    CHECK_STR(F.arg3, "user-pin-1");
    CHECK(strstr(F.out, "pin-1") == NULL);
    in(c, "token pin\r1234\r1234\r");
    CHECK_STR(F.last_op, "token_pin");
    CHECK(strstr(F.out, "1234") == NULL);
    cli_free(c);
}

static const char CERT[] = "-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n";

TEST(paste_ends_at_a_dot_and_goes_to_import)
{
    struct cli *c = logged_in();
    in(c, "credential import af1 key k1 x5u https://a.example/c.pem\r");
    CHECK(strstr(F.out, "Paste the PEM chain"));
    in(c, CERT);
    in(c, CERT);
    in(c, ".\r");
    CHECK_STR(F.last_op, "import");
    CHECK_STR(F.arg1, "af1");
    CHECK_STR(F.arg2, "k1");
    CHECK_STR(F.arg3, "https://a.example/c.pem");
    CHECK_INT(F.paste_len, 2 * (sizeof CERT - 1 - 3));
    cli_free(c);
}

TEST(truncated_paste_is_refused_and_the_console_goes_on)
{
    struct cli *c = logged_in();
    in(c, "credential import af1 key k1\r-----BEGIN CERTIFICATE-----\rMIIB\r.\r");
    CHECK(strstr(F.out, "% Paste incomplete"));
    CHECK_STR(F.last_op, "");
    in(c, "credential import af1 key k1\rjust text\r.\r");
    CHECK(strstr(F.out, "% Paste incomplete"));
    in(c, "credential import af1 key k1\r-----BEGIN CERTIFICATE-----\r\x01\x02\r.\r");
    CHECK(strstr(F.out, "non-printable"));
    in(c, "credential import af1 key k1\r-----BEGIN CERTIFICATE-----\r\x03");
    CHECK(strstr(F.out, "Cancelled"));
    clear();
    in(c, "sh st\r");
    CHECK_STR(F.last_op, "status");
    cli_free(c);
}

TEST(paste_over_the_cap_is_discarded)
{
    struct cli *c = logged_in();
    char line[66];
    memset(line, 'A', 64);
    line[64] = '\r';
    line[65] = '\0';
    in(c, "credential import af1 key k1\r-----BEGIN CERTIFICATE-----\r");
    for (int i = 0; i < CLI_PASTE_MAX / 65 + 10; i++)
        in(c, line);
    in(c, "-----END CERTIFICATE-----\r.\r");
    CHECK(strstr(F.out, "% Paste too large"));
    CHECK_STR(F.last_op, "");
    cli_free(c);
}

TEST(long_output_pages_with_more)
{
    struct cli *c = logged_in();
    static char text[4000];
    size_t o = 0;
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "line %d\n", i);
    F.reply = text;
    in(c, "terminal length 10\r");
    clear();
    in(c, "show audit\r");
    CHECK(strstr(F.out, "line 8\r\n--More--"));
    CHECK(strstr(F.out, "line 9") == NULL);
    in(c, " ");
    CHECK(strstr(F.out, "line 17\r\n"));
    CHECK(strstr(F.out, "line 18") == NULL);
    in(c, "\r");
    CHECK(strstr(F.out, "line 18\r\n"));
    CHECK(strstr(F.out, "line 19") == NULL);
    in(c, "q");
    CHECK(strstr(F.out, "line 19") == NULL);
    CHECK(strstr(F.out + F.n - 9, "stisign# "));
    in(c, "terminal length 0\r");
    clear();
    in(c, "show audit\r");
    CHECK(strstr(F.out, "line 59"));
    CHECK(strstr(F.out, "--More--") == NULL);
    cli_free(c);
}

TEST(input_during_an_op_is_dropped_until_it_completes)
{
    struct cli *c = logged_in();
    F.pending = 1;
    in(c, "key generate customer-af k1\r");
    CHECK_STR(F.last_op, "keygen");
    CHECK(cli_busy(c));
    in(c, "token attach nope\r");
    CHECK_STR(F.last_op, "keygen");
    CHECK(strstr(F.out, "nope") == NULL); /* dropped unseen, e.g. a PIN typed again */
    F.done.fn(F.done.ctx, STI_EHSM_KEYGEN, "it broke\n", 9);
    CHECK(!cli_busy(c));
    CHECK(strstr(F.out, "it broke\r\n% key generation failed (STI_EHSM_KEYGEN)"));
    F.pending = 0;
    in(c, "key gen delegate k2\r");
    CHECK_STR(F.arg1, "ca");
    clear();
    in(c, "key gen boss k3\r");
    CHECK(strstr(F.out, "customer-af or delegate-ca"));
    cli_free(c);
}

TEST(factory_reset_needs_the_typed_confirmation)
{
    struct cli *c = logged_in();
    in(c, "factory-reset\ryes\r");
    CHECK(strstr(F.out, "Not confirmed"));
    CHECK_STR(F.last_op, "");
    in(c, "factory-reset\rfactory-reset\rso-pin\r");
    CHECK_STR(F.last_op, "reset");
    CHECK_STR(F.arg1, "so-pin");
    CHECK(!cli_logged_in(c));
    CHECK(strstr(F.out, "First boot"));
    cli_free(c);
}

TEST(passphrase_change_checks_the_current_one)
{
    struct cli *c = logged_in();
    in(c, "passphrase\rnot it at all\rnew passphrase 1\rnew passphrase 1\r");
    CHECK(strstr(F.out, "Current passphrase wrong"));
    in(c, "passphrase\r0123456789abc\rnew passphrase 1\rnew passphrase 1\r");
    CHECK(strstr(F.out, "Passphrase changed"));
    CHECK_RC(cli_pass_verify(F.rec, "new passphrase 1", 16), STI_OK);
    cli_free(c);
}

CHECK_MAIN(CASE(first_boot_asks_the_passphrase_twice_and_hides_it),
           CASE(pass_records_verify_only_the_right_passphrase),
           CASE(failed_logins_back_off_doubling_then_lock_out_for_five_minutes),
           CASE(empty_line_or_ctrl_c_leaves_the_passphrase_prompt),
           CASE(passphrase_typed_after_a_delayed_login_is_never_echoed),
           CASE(passphrase_typed_after_a_repeated_login_is_never_echoed),
           CASE(passphrase_typed_during_a_lockout_is_never_echoed),
           CASE(pin_typed_after_an_idle_logout_at_its_prompt_is_never_echoed),
           CASE(secret_over_the_cap_is_asked_again_hidden), CASE(idle_session_logs_out),
           CASE(backspace_and_del_edit_the_line), CASE(crlf_lf_and_cr_each_end_one_line),
           CASE(over_long_line_is_refused_with_one_error),
           CASE(binary_garbage_gives_one_error_per_line), CASE(escape_sequences_are_swallowed),
           CASE(ctrl_c_cancels_and_ctrl_u_kills_the_line),
           CASE(unique_prefixes_resolve_and_ambiguity_is_named),
           CASE(help_and_question_mark_work_everywhere),
           CASE(quoted_arguments_keep_spaces_and_escapes), CASE(tokenizer_bounds_words),
           CASE(pins_are_asked_hidden_and_must_match), CASE(paste_ends_at_a_dot_and_goes_to_import),
           CASE(truncated_paste_is_refused_and_the_console_goes_on),
           CASE(paste_over_the_cap_is_discarded), CASE(long_output_pages_with_more),
           CASE(input_during_an_op_is_dropped_until_it_completes),
           CASE(factory_reset_needs_the_typed_confirmation),
           CASE(passphrase_change_checks_the_current_one))
