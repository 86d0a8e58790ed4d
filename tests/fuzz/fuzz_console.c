/* fuzz_console.c — the console's line discipline, parser, paste and pager
 * on arbitrary bytes, with a fake ops table that answers at once. The
 * first byte picks the start: bit 0 logged in, bit 1 first boot, bit 2 a
 * pending op that completes only at the end. Invariants (abort on
 * violation): no crash, output bounded by the input (every byte can cause
 * at most a few hundred bytes, plus op replies and help text), and the
 * passphrase typed at the hidden login prompt never appears in the output
 * (unless the input typed it at the command prompt, where it echoes). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "sti_err.h"

#define FUZZ_MAX_INPUT (96 * 1024)
static const char PASS[] = "fuzz-passphrase-123";

struct fz {
    size_t out;
    uint64_t now;
    char rec[600];
    int have_rec;
    int hold;
    struct cli_done held;
    int holding;
    int pass_typed; /* the input itself holds the passphrase (then it may echo) */
};
static struct fz Z;

static void w(void *arg, const char *s, size_t n)
{
    (void)arg;
    Z.out += n;
    for (size_t i = 0; !Z.pass_typed && i + sizeof PASS - 1 <= n; i++)
        if (memcmp(s + i, PASS, sizeof PASS - 1) == 0)
            abort();
}
static uint64_t now(void *arg)
{
    (void)arg;
    return Z.now;
}
static int get(void *arg, char *rec, size_t cap)
{
    (void)arg;
    if (!Z.have_rec)
        return STI_ENOTFOUND;
    if (strlen(Z.rec) >= cap)
        return STI_ETOOLONG;
    strcpy(rec, Z.rec);
    return STI_OK;
}
static int set(void *arg, const char *rec)
{
    (void)arg;
    if (strlen(rec) >= sizeof Z.rec)
        return STI_ETOOLONG;
    strcpy(Z.rec, rec);
    Z.have_rec = 1;
    return STI_OK;
}
static void audit(void *arg, const char *who, const char *a, const char *r)
{
    (void)arg;
    (void)who;
    (void)a;
    (void)r;
}
static void reply(struct cli_done d)
{
    static const char text[] = "line one\nline two\nline three\nline four\n";
    if (Z.hold && !Z.holding) {
        Z.held = d;
        Z.holding = 1;
        return;
    }
    d.fn(d.ctx, Z.now % 3 ? STI_OK : STI_EHSM_KEY, text, sizeof text - 1);
}
static void show(void *a, enum cli_show x, struct cli_done d)
{
    (void)a;
    (void)x;
    reply(d);
}
static void tinit(void *a, const char *l, const char *s, const char *u, struct cli_done d)
{
    (void)a;
    (void)l;
    (void)s;
    (void)u;
    reply(d);
}
static void tattach(void *a, const char *l, struct cli_done d)
{
    (void)a;
    (void)l;
    reply(d);
}
static void tpin(void *a, const char *p, struct cli_done d)
{
    (void)a;
    (void)p;
    reply(d);
}
static void keygen(void *a, enum cli_role r, const char *l, struct cli_done d)
{
    (void)a;
    (void)r;
    (void)l;
    reply(d);
}
static void csr(void *a, const char *k, const char *s, const char *sc, struct cli_done d)
{
    (void)a;
    (void)k;
    (void)s;
    (void)sc;
    reply(d);
}
static void import(void *a, const char *n, const char *k, const char *p, size_t len, const char *x,
                   struct cli_done d)
{
    (void)a;
    (void)n;
    (void)k;
    (void)x;
    if (len > CLI_PASTE_MAX || memchr(p, '\0', len))
        abort();
    reply(d);
}
static void x5u(void *a, const char *n, const char *u, struct cli_done d)
{
    (void)a;
    (void)n;
    (void)u;
    reply(d);
}
static void retire(void *a, const char *n, struct cli_done d)
{
    (void)a;
    (void)n;
    reply(d);
}
static void reset(void *a, const char *s, struct cli_done d)
{
    (void)a;
    (void)s;
    reply(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* Designated: ops added later (ca, ...) stay NULL (the console refuses them). */
    static const struct cli_ops ops = {.arg = NULL,
                                       .admin_get = get,
                                       .admin_set = set,
                                       .audit = audit,
                                       .show = show,
                                       .token_init = tinit,
                                       .token_attach = tattach,
                                       .token_pin = tpin,
                                       .key_generate = keygen,
                                       .csr = csr,
                                       .cred_import = import,
                                       .cred_x5u = x5u,
                                       .cred_retire = retire,
                                       .factory_reset = reset};
    static char rec[600];
    struct cli_cfg cfg = {w, NULL, now, NULL, 60000, 10, NULL};
    struct cli *c;
    if (size < 1 || size > FUZZ_MAX_INPUT)
        return 0;
    if (!rec[0] && cli_pass_hash(PASS, sizeof PASS - 1, 10, rec, sizeof rec) != STI_OK)
        abort();
    memset(&Z, 0, sizeof Z);
    Z.now = 1000;
    Z.hold = (data[0] & 4) != 0;
    for (size_t i = 0; i + sizeof PASS - 1 <= size; i++)
        Z.pass_typed |= memcmp(data + i, PASS, sizeof PASS - 1) == 0;
    if (!(data[0] & 2)) {
        strcpy(Z.rec, rec);
        Z.have_rec = 1;
    }
    if (cli_new(&cfg, &ops, &c) != STI_OK)
        abort();
    cli_start(c);
    if ((data[0] & 1) && Z.have_rec) {
        cli_input(c, "login\r", 6);
        cli_input(c, PASS, sizeof PASS - 1);
        cli_input(c, "\r", 1);
        if (!cli_logged_in(c))
            abort();
    }
    size_t base = Z.out;
    /* Feed in uneven chunks; time moves on so backoff and idle trigger. */
    for (size_t off = 1; off < size;) {
        size_t n = 1 + (data[off] % 61);
        if (n > size - off)
            n = size - off;
        cli_input(c, data + off, n);
        Z.now += 250 * n;
        if (data[off] == 0x7e)
            cli_tick(c);
        off += n;
    }
    cli_tick(c);
    if (Z.holding)
        Z.held.fn(Z.held.ctx, STI_OK, "late\n", 5);
    /* Echo and errors are a few bytes per input byte; help, usage and
     * replies are bounded per line. */
    if (Z.out - base > 2048 * size + 65536)
        abort();
    cli_free(c);
    return 0;
}
