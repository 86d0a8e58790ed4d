/* cli_cmds.c — the console's command table, word matching with unique
 * prefixes, argument parsing and the command handlers. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"
#include "sti_err.h"

struct cli_cmd {
    const char *path; /* command words, space-separated */
    int auth;         /* needs a login */
    int min_args, max_args;
    const char *usage;
    const char *help;
    void (*fn)(struct cli *c, int argc, char **argv);
};

static void cmd_help(struct cli *c, int argc, char **argv);
static void cmd_login(struct cli *c, int argc, char **argv);
static void cmd_logout(struct cli *c, int argc, char **argv);
static void cmd_show(struct cli *c, int argc, char **argv);
static void cmd_terminal_length(struct cli *c, int argc, char **argv);
static void cmd_token_init(struct cli *c, int argc, char **argv);
static void cmd_token_attach(struct cli *c, int argc, char **argv);
static void cmd_token_pin(struct cli *c, int argc, char **argv);
static void cmd_key_generate(struct cli *c, int argc, char **argv);
static void cmd_csr(struct cli *c, int argc, char **argv);
static void cmd_cred_import(struct cli *c, int argc, char **argv);
static void cmd_cred_x5u(struct cli *c, int argc, char **argv);
static void cmd_cred_retire(struct cli *c, int argc, char **argv);
static void cmd_passphrase(struct cli *c, int argc, char **argv);
static void cmd_factory_reset(struct cli *c, int argc, char **argv);
static void cmd_ca_csr(struct cli *c, int argc, char **argv);
static void cmd_ca_cert(struct cli *c, int argc, char **argv);
static void cmd_ca_policy(struct cli *c, int argc, char **argv);
static void cmd_ca_issue(struct cli *c, int argc, char **argv);
static void cmd_ca_self_issue(struct cli *c, int argc, char **argv);
static void cmd_ca_revoke(struct cli *c, int argc, char **argv);
static void cmd_ca_crl(struct cli *c, int argc, char **argv);
static void cmd_ca_show(struct cli *c, int argc, char **argv);
static void cmd_update_status(struct cli *c, int argc, char **argv);
static void cmd_update_install(struct cli *c, int argc, char **argv);
static void cmd_update_confirm(struct cli *c, int argc, char **argv);

static const struct cli_cmd cmds[] = {
    {"help", 0, 0, 3, "help [COMMAND]", "list the commands, or explain one", cmd_help},
    {"login", 0, 0, 0, "login", "log in as admin (asks the passphrase)", cmd_login},
    {"logout", 1, 0, 0, "logout", "end the session", cmd_logout},
    {"exit", 1, 0, 0, "exit", "end the session (same as logout)", cmd_logout},
    {"show status", 1, 0, 0, "show status",
     "token, credentials with expiry and scope, counters, workers, clock", cmd_show},
    {"show keys", 1, 0, 0, "show keys", "the keys on the token, with their roles", cmd_show},
    {"show credentials", 1, 0, 0, "show credentials",
     "stored credentials: key, chain, x5u, validity, scope", cmd_show},
    {"show audit", 1, 0, 0, "show audit", "the audit log, newest last", cmd_show},
    {"show ca", 1, 0, 0, "show ca",
     "the Delegate CA: subject, scope, validity, policy, certificates issued/revoked",
     cmd_ca_show},
    {"terminal length", 1, 1, 1, "terminal length N", "lines per page (0: no paging; default 24)",
     cmd_terminal_length},
    {"token init", 1, 1, 1, "token init LABEL",
     "initialise the token (asks the SO PIN and the user PIN) and attach it", cmd_token_init},
    {"token attach", 1, 1, 1, "token attach LABEL", "use an initialised token with this label",
     cmd_token_attach},
    {"token pin", 1, 0, 0, "token pin",
     "store the user PIN for unattended start (asked, checked, never shown)", cmd_token_pin},
    {"key generate", 1, 2, 2, "key generate customer-af|delegate-ca LABEL",
     "generate a P-256 key on the token for a role", cmd_key_generate},
    {"csr", 1, 5, 5, "csr KEY subject \"C=US,O=..,CN=..\" scope \"range:N/COUNT tn:N spc:X\"",
     "make a PKCS#10 request signed by the token key (prints the PEM)", cmd_csr},
    {"credential import", 1, 3, 5, "credential import NAME key LABEL [x5u URL]",
     "paste a PEM chain (leaf first, end with a line \".\"); validated, stored, used at once",
     cmd_cred_import},
    {"credential x5u", 1, 2, 2, "credential x5u NAME URL",
     "set the https URL the chain is published at", cmd_cred_x5u},
    {"credential retire", 1, 1, 1, "credential retire NAME", "stop signing with a credential",
     cmd_cred_retire},
    {"ca csr", 1, 5, 5, "ca csr KEY subject \"C=US,O=..,CN=..\" scope \"range:..\"",
     "the Delegate CA's request to the STI-CA (CA:TRUE pathlen 0; prints the PEM)", cmd_ca_csr},
    {"ca certificate", 1, 1, 1, "ca certificate KEY",
     "paste the CA certificate then the STI-CA chain above it (end with \".\"); checked, stored",
     cmd_ca_cert},
    {"ca policy", 1, 4, 6, "ca policy oid OID crl URI [days N]",
     "what the CA puts into the certificates it issues (days: validity, default 365)",
     cmd_ca_policy},
    {"ca issue", 1, 0, 0, "ca issue",
     "paste a Customer AF's PKCS#10 request (end with \".\"); prints the certificate",
     cmd_ca_issue},
    {"ca self-issue", 1, 5, 5, "ca self-issue AFKEY scope \"..\" subject \"..\"",
     "issue this appliance's own Customer AF certificate; stored as pending credential AFKEY",
     cmd_ca_self_issue},
    {"ca revoke", 1, 1, 3, "ca revoke SERIAL [reason R]",
     "record a revocation (R: keyCompromise, superseded, ...; default unspecified)",
     cmd_ca_revoke},
    {"ca crl", 1, 0, 0, "ca crl", "a CRL of every revocation, signed on the token (prints PEM)",
     cmd_ca_crl},
    {"update status", 1, 0, 0, "update status",
     "firmware: running version, A/B slots, pending trial, last fall back", cmd_update_status},
    {"update install", 1, 1, 1, "update install PATH",
     "verify a signed update image file (e.g. /media/usb/x.img); installed for the next boot",
     cmd_update_install},
    {"update confirm", 1, 0, 0, "update confirm",
     "keep the running trial image now (it also confirms itself once healthy)",
     cmd_update_confirm},
    {"passphrase", 1, 0, 0, "passphrase", "change the admin passphrase", cmd_passphrase},
    {"factory-reset", 1, 0, 0, "factory-reset",
     "destroy the keys on the token and wipe the store (asks a typed confirmation)",
     cmd_factory_reset},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])
#define MAX_DEPTH 3

/* ---- tokenizer ---- */

int cli_tokenize(const char *line, char *buf, size_t cap, char **argv, int max, int *argc)
{
    size_t o = 0;
    const char *p = line;
    *argc = 0;
    if (strlen(line) + 1 > cap)
        return STI_ETOOLONG;
    for (;;) {
        while (*p == ' ')
            p++;
        if (!*p)
            return STI_OK;
        if (*argc == max)
            return STI_ETOOMANY;
        argv[(*argc)++] = buf + o;
        int quoted = 0;
        while (*p && (quoted || *p != ' ')) {
            if (*p == '"') {
                quoted = !quoted;
                p++;
                continue;
            }
            if (quoted && *p == '\\' && (p[1] == '"' || p[1] == '\\'))
                p++;
            buf[o++] = *p++;
        }
        if (quoted)
            return STI_EINVAL;
        buf[o++] = '\0';
    }
}

/* ---- word matching ---- */

static int path_word(const char *path, int i, char *out, size_t cap)
{
    const char *p = path;
    for (int k = 0; k < i; k++) {
        p = strchr(p, ' ');
        if (!p)
            return 0;
        p++;
    }
    size_t n = strcspn(p, " ");
    if (n == 0 || n >= cap)
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return 1;
}

static int path_depth(const char *path)
{
    int d = 1;
    for (const char *p = path; *p; p++)
        d += *p == ' ';
    return d;
}

static int path_has_prefix(const char *path, char res[][32], int depth)
{
    char w[32];
    for (int i = 0; i < depth; i++)
        if (!path_word(path, i, w, sizeof w) || strcmp(w, res[i]) != 0)
            return 0;
    return 1;
}

/* Distinct words at position depth under the resolved prefix. */
static int candidates(char res[][32], int depth, const char *out[], int max)
{
    int n = 0;
    char w[32];
    for (size_t i = 0; i < NCMDS; i++) {
        if (!path_has_prefix(cmds[i].path, res, depth) ||
            !path_word(cmds[i].path, depth, w, sizeof w))
            continue;
        int dup = 0;
        for (int k = 0; k < n; k++) {
            char o[32];
            path_word(out[k], depth, o, sizeof o);
            dup |= strcmp(o, w) == 0;
        }
        if (!dup && n < max)
            out[n++] = cmds[i].path;
    }
    return n;
}

static const struct cli_cmd *find_exact(char res[][32], int depth)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (path_depth(cmds[i].path) == depth && path_has_prefix(cmds[i].path, res, depth))
            return &cmds[i];
    return NULL;
}

static void join_words(char res[][32], int depth, const char *last, char *out, size_t cap)
{
    size_t o = 0;
    out[0] = '\0';
    for (int i = 0; i < depth; i++)
        o += (size_t)snprintf(out + o, cap - o, "%s ", res[i]);
    if (o < cap)
        snprintf(out + o, cap - o, "%s", last ? last : "");
    size_t n = strlen(out);
    while (n && out[n - 1] == ' ')
        out[--n] = '\0';
}

/* Resolves the leading words of argv to a command. *used = words eaten.
 * Prints the error and returns NULL when it cannot. With help set, prints
 * what may follow instead of complaining about an incomplete command. */
static const struct cli_cmd *resolve(struct cli *c, int argc, char **argv, int *used, int help)
{
    char res[MAX_DEPTH][32];
    int depth = 0;
    char shown[300];
    while (depth < argc && depth < MAX_DEPTH) {
        const char *cand[NCMDS];
        int nc = candidates(res, depth, cand, (int)NCMDS);
        if (nc == 0)
            break;
        const char *tok = argv[depth];
        int nm = 0, exact = -1, match[NCMDS];
        size_t tl = strlen(tok);
        for (int k = 0; k < nc; k++) {
            char w[32];
            path_word(cand[k], depth, w, sizeof w);
            if (strcmp(w, tok) == 0)
                exact = k;
            if (tl && strncmp(w, tok, tl) == 0)
                match[nm++] = k;
        }
        if (exact >= 0) {
            nm = 1;
            match[0] = exact;
        }
        if (nm == 0) {
            if (find_exact(res, depth))
                break; /* the rest are arguments */
            join_words(res, depth, tok, shown, sizeof shown);
            cli_printf(c, "%% Unknown command \"%s\". Type help.\n", shown);
            return NULL;
        }
        if (nm > 1) {
            char list[300];
            size_t o = 0;
            list[0] = '\0';
            for (int k = 0; k < nm && o < sizeof list; k++) {
                char w[32];
                path_word(cand[match[k]], depth, w, sizeof w);
                o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", k ? ", " : "", w);
            }
            join_words(res, depth, tok, shown, sizeof shown);
            cli_printf(c, "%% Ambiguous command \"%s\": %s\n", shown, list);
            return NULL;
        }
        path_word(cand[match[0]], depth, res[depth], sizeof res[depth]);
        depth++;
    }
    const struct cli_cmd *cmd = depth ? find_exact(res, depth) : NULL;
    if (!cmd) {
        const char *cand[NCMDS];
        int nc = candidates(res, depth, cand, (int)NCMDS);
        join_words(res, depth, NULL, shown, sizeof shown);
        if (!help)
            cli_printf(c, "%% Incomplete command \"%s\". Options:\n", shown);
        for (int k = 0; k < nc; k++)
            for (size_t i = 0; i < NCMDS; i++)
                if (path_has_prefix(cmds[i].path, res, depth)) {
                    char w[32], o[32];
                    path_word(cmds[i].path, depth, w, sizeof w);
                    path_word(cand[k], depth, o, sizeof o);
                    if (strcmp(w, o) == 0 && (!cmds[i].auth || c->logged_in))
                        cli_printf(c, "  %-44s %s\n", cmds[i].usage, cmds[i].help);
                }
        return NULL;
    }
    *used = depth;
    return cmd;
}

/* ---- dispatch ---- */

static void list_commands(struct cli *c)
{
    char text[8192];
    size_t o = 0;
    o += (size_t)snprintf(text + o, sizeof text - o,
                          "Commands (any unique prefix works: \"sh st\"; \"?\" after words "
                          "gives help):\n");
    for (size_t i = 0; i < NCMDS && o < sizeof text; i++)
        if (!cmds[i].auth || c->logged_in)
            o += (size_t)snprintf(text + o, sizeof text - o, "  %-44s %s\n", cmds[i].usage,
                                  cmds[i].help);
    if (!c->logged_in && o < sizeof text)
        o += (size_t)snprintf(text + o, sizeof text - o, "Log in for the other commands.\n");
    cli_page(c, text, o < sizeof text ? o : sizeof text - 1);
}

void cli_exec_line(struct cli *c, char *line)
{
    char buf[CLI_LINE_MAX + 1];
    char *argv[CLI_MAX_ARGS];
    int argc, used = 0, help = 0;
    int rc = cli_tokenize(line, buf, sizeof buf, argv, CLI_MAX_ARGS, &argc);
    if (rc == STI_EINVAL) {
        cli_puts(c, "% Unterminated quote\n");
        return;
    }
    if (rc) {
        cli_printf(c, "%% Too many words (at most %d)\n", CLI_MAX_ARGS);
        return;
    }
    if (argc == 0)
        return;
    /* "?" alone or as the last word, or "word?": help for what precedes. */
    size_t ll = strlen(argv[argc - 1]);
    if (strcmp(argv[argc - 1], "?") == 0) {
        help = 1;
        argc--;
    } else if (ll > 1 && argv[argc - 1][ll - 1] == '?') {
        help = 1;
        argv[argc - 1][ll - 1] = '\0';
    }
    if (help && argc == 0) {
        list_commands(c);
        return;
    }
    const struct cli_cmd *cmd = resolve(c, argc, argv, &used, help);
    if (!cmd)
        return;
    if (help) {
        cli_printf(c, "  %-44s %s\n", cmd->usage, cmd->help);
        return;
    }
    if (cmd->auth && !c->logged_in) {
        cli_puts(c, "% Not logged in. Type login.\n");
        return;
    }
    int nargs = argc - used;
    if (nargs < cmd->min_args || nargs > cmd->max_args) {
        cli_printf(c, "%% Usage: %s\n", cmd->usage);
        return;
    }
    for (int i = used; i < argc; i++)
        if (strlen(argv[i]) > CLI_ARG_MAX) {
            cli_printf(c, "%% Argument too long (at most %d characters)\n", CLI_ARG_MAX);
            return;
        }
    cmd->fn(c, nargs, argv + used);
}

/* ---- handlers ---- */

static void cmd_help(struct cli *c, int argc, char **argv)
{
    int used;
    if (argc == 0) {
        list_commands(c);
        return;
    }
    const struct cli_cmd *cmd = resolve(c, argc, argv, &used, 1);
    if (cmd)
        cli_printf(c, "  %-44s %s\n", cmd->usage, cmd->help);
}

static void cmd_login(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (c->logged_in) {
        cli_puts(c, "% Already logged in\n");
        return;
    }
    cli_login_begin(c);
}

static void cmd_logout(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_logout(c, "by command");
    cli_puts(c, "Logged out.\n");
}

static void start_op(struct cli *c)
{
    cli_begin_op(c);
}

static void cmd_show(struct cli *c, int argc, char **argv)
{
    (void)argc;
    /* argv[-1] is the resolved second word's input; look at the prefix. */
    enum cli_show what;
    switch (argv[-1][0]) {
    case 's':
        what = CLI_SHOW_STATUS;
        break;
    case 'k':
        what = CLI_SHOW_KEYS;
        break;
    case 'c':
        what = CLI_SHOW_CREDS;
        break;
    default:
        what = CLI_SHOW_AUDIT;
        break;
    }
    if (!c->ops.show) {
        cli_err(c, STI_EINTERNAL, "show");
        return;
    }
    start_op(c);
    c->ops.show(c->ops.arg, what, cli_done_for(c));
}

static void cmd_terminal_length(struct cli *c, int argc, char **argv)
{
    char *end;
    (void)argc;
    unsigned long n = strtoul(argv[0], &end, 10);
    if (!isdigit((unsigned char)argv[0][0]) || *end || n > 512 || n == 1) {
        cli_puts(c, "% Usage: terminal length N (0 = no paging, 2..512)\n");
        return;
    }
    c->term_len = (unsigned)n;
}

static int label_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-:@+", s[i]))
            return 0;
    return 1;
}

#define LABEL_HINT "letters, digits and _ . - : @ +"

static void cmd_token_init(struct cli *c, int argc, char **argv)
{
    static const char *const prompts[] = {
        "SO PIN: ", "Repeat the SO PIN: ", "User PIN: ", "Repeat the user PIN: "};
    (void)argc;
    if (!label_ok(argv[0], 32)) {
        cli_printf(c, "%% Token label: 1-32 characters, %s\n", LABEL_HINT);
        return;
    }
    snprintf(c->parg[0], sizeof c->parg[0], "%s", argv[0]);
    cli_ask_secrets(c, CP_TOKEN_INIT, 4, prompts);
}

static void cmd_token_attach(struct cli *c, int argc, char **argv)
{
    (void)argc;
    if (!label_ok(argv[0], 32)) {
        cli_printf(c, "%% Token label: 1-32 characters, %s\n", LABEL_HINT);
        return;
    }
    start_op(c);
    c->ops.token_attach(c->ops.arg, argv[0], cli_done_for(c));
}

static void cmd_token_pin(struct cli *c, int argc, char **argv)
{
    static const char *const prompts[] = {"User PIN: ", "Repeat the user PIN: "};
    (void)argc;
    (void)argv;
    cli_ask_secrets(c, CP_TOKEN_PIN, 2, prompts);
}

static int word_prefix(const char *tok, const char *word)
{
    size_t n = strlen(tok);
    return n > 0 && strncmp(word, tok, n) == 0;
}

static void cmd_key_generate(struct cli *c, int argc, char **argv)
{
    enum cli_role role;
    (void)argc;
    int af = word_prefix(argv[0], "customer-af"), ca = word_prefix(argv[0], "delegate-ca");
    if (af == ca) { /* neither, or an empty word */
        cli_printf(c, "%% Role \"%s\": customer-af or delegate-ca\n", argv[0]);
        return;
    }
    role = af ? CLI_ROLE_CUSTOMER_AF : CLI_ROLE_DELEGATE_CA;
    if (!label_ok(argv[1], 64)) {
        cli_printf(c, "%% Key label: 1-64 characters, %s\n", LABEL_HINT);
        return;
    }
    start_op(c);
    c->ops.key_generate(c->ops.arg, role, argv[1], cli_done_for(c));
}

/* Keyword arguments "kw value" in any order; each keyword once. */
static int kwargs(struct cli *c, int argc, char **argv, const char *const *kw, int nkw,
                  const char **val)
{
    for (int k = 0; k < nkw; k++)
        val[k] = NULL;
    for (int i = 0; i < argc; i += 2) {
        int hit = -1;
        for (int k = 0; k < nkw; k++)
            if (word_prefix(argv[i], kw[k]))
                hit = hit == -1 ? k : -2;
        if (hit < 0) {
            cli_printf(c, "%% Unknown or ambiguous keyword \"%s\"\n", argv[i]);
            return -1;
        }
        if (i + 1 >= argc) {
            cli_printf(c, "%% %s needs a value\n", kw[hit]);
            return -1;
        }
        if (val[hit]) {
            cli_printf(c, "%% %s given twice\n", kw[hit]);
            return -1;
        }
        val[hit] = argv[i + 1];
    }
    return 0;
}

static void cmd_csr(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"subject", "scope"};
    const char *val[2];
    if (!label_ok(argv[0], 64)) {
        cli_printf(c, "%% Key label: 1-64 characters, %s\n", LABEL_HINT);
        return;
    }
    if (kwargs(c, argc - 1, argv + 1, kw, 2, val))
        return;
    if (!val[0] || !val[1] || !*val[0] || !*val[1]) {
        cli_puts(c, "% Usage: csr KEY subject \"C=US,O=..,CN=..\" scope \"range:N/COUNT ...\"\n");
        return;
    }
    start_op(c);
    c->ops.csr(c->ops.arg, argv[0], val[0], val[1], cli_done_for(c));
}

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 63 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return 0;
    return 1;
}

static void cmd_cred_import(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"key", "x5u"};
    const char *val[2];
    if (!name_ok(argv[0])) {
        cli_puts(c, "% Credential name: 1-63 characters, letters, digits and _ . -\n");
        return;
    }
    if (kwargs(c, argc - 1, argv + 1, kw, 2, val))
        return;
    if (!val[0] || !label_ok(val[0], 64)) {
        cli_puts(c, "% Usage: credential import NAME key LABEL [x5u URL]\n");
        return;
    }
    c->paste = malloc(CLI_PASTE_MAX + 1);
    if (!c->paste) {
        cli_err(c, STI_ENOMEM, NULL);
        return;
    }
    c->paste[0] = '\0';
    c->plen = 0;
    c->p_over = c->p_garbage = 0;
    snprintf(c->parg[0], sizeof c->parg[0], "%s", argv[0]);
    snprintf(c->parg[1], sizeof c->parg[1], "%s", val[0]);
    snprintf(c->parg[2], sizeof c->parg[2], "%s", val[1] ? val[1] : "");
    c->pend = CP_IMPORT;
    c->mode = CM_PASTE;
    cli_printf(c,
               "Paste the PEM chain, leaf first (at most %d bytes); end with a line "
               "containing only \".\" (^C cancels):\n",
               CLI_PASTE_MAX);
}

static void cmd_cred_x5u(struct cli *c, int argc, char **argv)
{
    (void)argc;
    if (!name_ok(argv[0])) {
        cli_puts(c, "% Credential name: 1-63 characters, letters, digits and _ . -\n");
        return;
    }
    start_op(c);
    c->ops.cred_x5u(c->ops.arg, argv[0], argv[1], cli_done_for(c));
}

static void cmd_cred_retire(struct cli *c, int argc, char **argv)
{
    (void)argc;
    if (!name_ok(argv[0])) {
        cli_puts(c, "% Credential name: 1-63 characters, letters, digits and _ . -\n");
        return;
    }
    start_op(c);
    c->ops.cred_retire(c->ops.arg, argv[0], cli_done_for(c));
}

static void cmd_passphrase(struct cli *c, int argc, char **argv)
{
    static const char *const prompts[] = {
        "Current passphrase: ", "New passphrase: ", "Repeat the new passphrase: "};
    (void)argc;
    (void)argv;
    cli_ask_secrets(c, CP_PASSPHRASE, 3, prompts);
}

static void cmd_factory_reset(struct cli *c, int argc, char **argv)
{
    static const char *const prompts[] = {"Type factory-reset to destroy the keys and wipe "
                                          "the store: "};
    (void)argc;
    (void)argv;
    cli_puts(c, "This destroys every key on the token and all provisioning in the store.\n");
    cli_ask_secrets(c, CP_RESET_CONFIRM, 1, prompts);
}

/* ---- the Delegate CA ---- */

static int ca_missing(struct cli *c, const void *op)
{
    if (op)
        return 0;
    cli_err(c, STI_EINTERNAL, "ca");
    return 1;
}

static int ca_paste_begin(struct cli *c, enum cli_pend pend, const char *what)
{
    if (ca_missing(c, pend == CP_CA_CERT ? (const void *)c->ops.ca_cert
                                         : (const void *)c->ops.ca_issue))
        return -1;
    c->paste = malloc(CLI_PASTE_MAX + 1);
    if (!c->paste) {
        cli_err(c, STI_ENOMEM, NULL);
        return -1;
    }
    c->paste[0] = '\0';
    c->plen = 0;
    c->p_over = c->p_garbage = 0;
    c->pend = pend;
    c->mode = CM_PASTE;
    cli_printf(c,
               "Paste %s (at most %d bytes); end with a line containing only \".\" "
               "(^C cancels):\n",
               what, CLI_PASTE_MAX);
    return 0;
}

static void cmd_ca_csr(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"subject", "scope"};
    const char *val[2];
    if (!label_ok(argv[0], 64)) {
        cli_printf(c, "%% Key label: 1-64 characters, %s\n", LABEL_HINT);
        return;
    }
    if (kwargs(c, argc - 1, argv + 1, kw, 2, val))
        return;
    if (!val[0] || !val[1] || !*val[0] || !*val[1]) {
        cli_puts(c, "% Usage: ca csr KEY subject \"C=US,O=..,CN=..\" scope \"range:N/COUNT ...\"\n");
        return;
    }
    if (ca_missing(c, (const void *)c->ops.ca_csr))
        return;
    start_op(c);
    c->ops.ca_csr(c->ops.arg, argv[0], val[0], val[1], cli_done_for(c));
}

static void cmd_ca_cert(struct cli *c, int argc, char **argv)
{
    (void)argc;
    if (!label_ok(argv[0], 64)) {
        cli_printf(c, "%% Key label: 1-64 characters, %s\n", LABEL_HINT);
        return;
    }
    snprintf(c->parg[0], sizeof c->parg[0], "%s", argv[0]);
    ca_paste_begin(c, CP_CA_CERT,
                   "the Delegate CA certificate, then the STI-CA chain above it, PEM");
}

static void cmd_ca_policy(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"oid", "crl", "days"};
    const char *val[3];
    long days = 0;
    if (kwargs(c, argc, argv, kw, 3, val))
        return;
    if (!val[0] || !val[1] || !*val[0] || !*val[1]) {
        cli_puts(c, "% Usage: ca policy oid OID crl URI [days N]\n");
        return;
    }
    if (val[2]) {
        char *end;
        days = strtol(val[2], &end, 10);
        if (!isdigit((unsigned char)val[2][0]) || *end || days < 1 || days > 3650) {
            cli_puts(c, "% days: 1..3650\n");
            return;
        }
    }
    if (ca_missing(c, (const void *)c->ops.ca_policy))
        return;
    start_op(c);
    c->ops.ca_policy(c->ops.arg, val[0], val[1], days, cli_done_for(c));
}

static void cmd_ca_issue(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    ca_paste_begin(c, CP_CA_ISSUE, "the Customer AF's PKCS#10 request, PEM");
}

static void cmd_ca_self_issue(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"scope", "subject"};
    const char *val[2];
    if (!label_ok(argv[0], 63) || !name_ok(argv[0])) {
        cli_puts(c, "% AF key label: 1-63 characters, letters, digits and _ . - (it also names "
                    "the credential)\n");
        return;
    }
    if (kwargs(c, argc - 1, argv + 1, kw, 2, val))
        return;
    if (!val[0] || !val[1] || !*val[0] || !*val[1]) {
        cli_puts(c, "% Usage: ca self-issue AFKEY scope \"range:N/COUNT ...\" subject "
                    "\"C=US,O=..,CN=..\"\n");
        return;
    }
    if (ca_missing(c, (const void *)c->ops.ca_self_issue))
        return;
    start_op(c);
    c->ops.ca_self_issue(c->ops.arg, argv[0], val[1], val[0], cli_done_for(c));
}

static void cmd_ca_revoke(struct cli *c, int argc, char **argv)
{
    static const char *const kw[] = {"reason"};
    const char *val[1] = {NULL};
    if (argc == 2 || (argc == 3 && kwargs(c, argc - 1, argv + 1, kw, 1, val))) {
        if (argc == 2)
            cli_puts(c, "% Usage: ca revoke SERIAL [reason R]\n");
        return;
    }
    if (ca_missing(c, (const void *)c->ops.ca_revoke))
        return;
    start_op(c);
    c->ops.ca_revoke(c->ops.arg, argv[0], val[0] ? val[0] : "", cli_done_for(c));
}

static void cmd_ca_crl(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (ca_missing(c, (const void *)c->ops.ca_crl))
        return;
    start_op(c);
    c->ops.ca_crl(c->ops.arg, cli_done_for(c));
}

static void cmd_ca_show(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (ca_missing(c, (const void *)c->ops.ca_show))
        return;
    start_op(c);
    c->ops.ca_show(c->ops.arg, cli_done_for(c));
}

/* ---- firmware updates ---- */

static int update_missing(struct cli *c, const void *op)
{
    if (op)
        return 0;
    cli_err(c, STI_EINTERNAL, "update");
    return 1;
}

static void cmd_update_status(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (update_missing(c, (const void *)c->ops.update_status))
        return;
    start_op(c);
    c->ops.update_status(c->ops.arg, cli_done_for(c));
}

static void cmd_update_install(struct cli *c, int argc, char **argv)
{
    (void)argc;
    /* Absolute: the daemon's working directory means nothing at the console. */
    if (argv[0][0] != '/' || argv[0][1] == '\0') {
        cli_puts(c, "% Image: an absolute path to an image file on the appliance, e.g. "
                    "/media/usb/stisign-1.2.3.img\n");
        return;
    }
    if (update_missing(c, (const void *)c->ops.update_install))
        return;
    start_op(c);
    c->ops.update_install(c->ops.arg, argv[0], cli_done_for(c));
}

static void cmd_update_confirm(struct cli *c, int argc, char **argv)
{
    (void)argc;
    (void)argv;
    if (update_missing(c, (const void *)c->ops.update_confirm))
        return;
    start_op(c);
    c->ops.update_confirm(c->ops.arg, cli_done_for(c));
}

/* ---- commands that waited for input ---- */

/* Structural check of a paste before the daemon parses it: at least one
 * certificate, every BEGIN closed by its END, nothing cut off. */
static int paste_check_kind(struct cli *c, const char *B, const char *E)
{
    size_t bl = strlen(B), el = strlen(E);
    int open = 0, certs = 0;
    const char *p = c->paste, *end = c->paste + c->plen;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        while (n && p[n - 1] == ' ')
            n--;
        if (n == bl && memcmp(p, B, n) == 0) {
            if (open)
                return -1;
            open = 1;
        } else if (n == el && memcmp(p, E, n) == 0) {
            if (!open)
                return -1;
            open = 0;
            certs++;
        }
        p = nl ? nl + 1 : end;
    }
    return open || certs == 0 ? -1 : certs;
}

static int paste_check(struct cli *c)
{
    return paste_check_kind(c, "-----BEGIN CERTIFICATE-----", "-----END CERTIFICATE-----");
}

/* The common checks of a paste; 0 when it may go to the daemon. */
static int paste_ok(struct cli *c, int csr)
{
    if (c->p_over) {
        cli_printf(c, "%% Paste too large (over %d bytes) or a line too long: discarded\n",
                   CLI_PASTE_MAX);
        return -1;
    }
    if (c->p_garbage) {
        cli_puts(c, "% Paste had non-printable bytes: discarded\n");
        return -1;
    }
    int k = csr ? paste_check_kind(c, "-----BEGIN CERTIFICATE REQUEST-----",
                                   "-----END CERTIFICATE REQUEST-----")
                : paste_check(c);
    if (k < 0 || (csr && k != 1)) {
        cli_printf(c, "%% Paste incomplete: expected %s (BEGIN ... END) (%s)\n",
                   csr ? "one PEM certificate request" : "whole PEM certificates",
                   sti_errname(STI_EPKI_PARSE));
        return -1;
    }
    return 0;
}

static void pending_secret_pairs(struct cli *c)
{
    switch (c->pend) {
    case CP_TOKEN_INIT:
        if (strcmp(c->sec[0], c->sec[1]) != 0 || strcmp(c->sec[2], c->sec[3]) != 0) {
            cli_puts(c, "% PINs do not match: nothing done\n");
            break;
        }
        if (!c->sec[0][0] || !c->sec[2][0] || strlen(c->sec[0]) > 64 || strlen(c->sec[2]) > 64) {
            cli_puts(c, "% PINs: 1-64 characters: nothing done\n");
            break;
        }
        start_op(c);
        c->ops.token_init(c->ops.arg, c->parg[0], c->sec[0], c->sec[2], cli_done_for(c));
        break;
    case CP_TOKEN_PIN:
        if (strcmp(c->sec[0], c->sec[1]) != 0) {
            cli_puts(c, "% PINs do not match: nothing done\n");
            break;
        }
        if (!c->sec[0][0] || strlen(c->sec[0]) > 64) {
            cli_puts(c, "% PIN: 1-64 characters: nothing done\n");
            break;
        }
        start_op(c);
        c->ops.token_pin(c->ops.arg, c->sec[0], cli_done_for(c));
        break;
    case CP_PASSPHRASE: {
        char rec[600];
        int rc = c->ops.admin_get(c->ops.arg, rec, sizeof rec);
        if (rc == STI_OK)
            rc = cli_pass_verify(rec, c->sec[0], strlen(c->sec[0]));
        if (rc) {
            cli_puts(c, "% Current passphrase wrong: nothing changed\n");
            c->ops.audit(c->ops.arg, "admin", "change passphrase", "refused: wrong passphrase");
        } else if (strcmp(c->sec[1], c->sec[2]) != 0) {
            cli_puts(c, "% New passphrases do not match: nothing changed\n");
        } else if (strlen(c->sec[1]) < CLI_PASS_MIN) {
            cli_printf(c, "%% Passphrase too short: at least %d characters\n", CLI_PASS_MIN);
        } else {
            unsigned log2n = c->cfg.kdf_log2n ? c->cfg.kdf_log2n : 15;
            rc = cli_pass_hash(c->sec[1], strlen(c->sec[1]), log2n, rec, sizeof rec);
            if (rc == STI_OK)
                rc = c->ops.admin_set(c->ops.arg, rec);
            c->ops.audit(c->ops.arg, "admin", "change passphrase", rc ? sti_errname(rc) : "ok");
            if (rc)
                cli_err(c, rc, "Passphrase not changed");
            else
                cli_puts(c, "Passphrase changed.\n");
        }
        cli_wipe(rec, sizeof rec);
        break;
    }
    default:
        break;
    }
}

void cli_pending_ready(struct cli *c)
{
    enum cli_pend p = c->pend;
    c->mode = CM_EXEC;
    switch (p) {
    case CP_RESET_CONFIRM:
        if (strcmp(c->sec[0], "factory-reset") != 0) {
            cli_puts(c, "% Not confirmed: nothing done\n");
            break;
        }
        {
            static const char *const prompts[] = {
                "SO PIN to re-initialise the token (empty: wipe the store only): "};
            cli_wipe(c->sec, sizeof c->sec);
            cli_ask_secrets(c, CP_RESET_SO, 1, prompts);
            return;
        }
    case CP_RESET_SO:
        start_op(c);
        c->ops.factory_reset(c->ops.arg, c->sec[0], cli_done_for(c));
        break;
    case CP_IMPORT:
        if (c->p_over) {
            cli_printf(c, "%% Paste too large (over %d bytes) or a line too long: discarded\n",
                       CLI_PASTE_MAX);
        } else if (c->p_garbage) {
            cli_puts(c, "% Paste had non-printable bytes: discarded\n");
        } else if (paste_check(c) < 0) {
            cli_printf(c,
                       "%% Paste incomplete: expected whole PEM certificates "
                       "(BEGIN ... END) (%s)\n",
                       sti_errname(STI_EPKI_PARSE));
        } else {
            start_op(c);
            c->ops.cred_import(c->ops.arg, c->parg[0], c->parg[1], c->paste, c->plen, c->parg[2],
                               cli_done_for(c));
        }
        break;
    case CP_CA_CERT:
        if (paste_ok(c, 0) == 0) {
            start_op(c);
            c->ops.ca_cert(c->ops.arg, c->parg[0], c->paste, c->plen, cli_done_for(c));
        }
        break;
    case CP_CA_ISSUE:
        if (paste_ok(c, 1) == 0) {
            start_op(c);
            c->ops.ca_issue(c->ops.arg, c->paste, c->plen, cli_done_for(c));
        }
        break;
    default:
        pending_secret_pairs(c);
        break;
    }
    cli_clear_pending(c);
}
