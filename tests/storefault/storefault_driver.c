/*
 * storefault_driver.c — the store under I/O faults (issue 6: "Store faults
 * (disk full, failed write, failed fsync) during provisioning leave the old
 * state and report the error"). Runs with libstorefault.so preloaded.
 *
 * For each fault kind (write EIO, ENOSPC, short write then ENOSPC, fsync
 * EIO, rename EIO) and each store operation, the fault is put on the 1st,
 * 2nd, ... matching call of the operation until the operation gets through
 * without meeting one, so every fault point of every commit is hit. Each
 * time, from a fresh store holding a known state A:
 *   - the operation must return STI_ESTORE (store.h: "a failed commit is
 *     STI_ESTORE and leaves the old state");
 *   - the open store must still report state A;
 *   - reopened without faults, the store must report state A and its files
 *     must equal A's byte for byte (no part of B, no temporary file, no
 *     orphan chain file);
 *   - the same operation without faults must then succeed.
 * For the audit log: a failed append is reported, the log holds A's lines
 * and at most the one new line whole, and stays parseable after the next
 * append.
 *
 *   storefault_driver WORKDIR
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sti_err.h"
#include "store.h"

static unsigned long (*sf_reset)(void);
static char base[PATH_MAX];
static char dir[PATH_MAX + 64];
static int violations;

static const char chain_a[] = "-----BEGIN CERTIFICATE-----\nQUFBQQ==\n-----END CERTIFICATE-----\n";
static const char chain_p[] = "-----BEGIN CERTIFICATE-----\nUFBQUA==\n-----END CERTIFICATE-----\n";
static const char chain_b[] = "-----BEGIN CERTIFICATE-----\nQkJCQg==\n-----END CERTIFICATE-----\n"
                              "-----BEGIN CERTIFICATE-----\nQ0NDQw==\n-----END CERTIFICATE-----\n";

/* ---- the operations attempted under a fault (state B) ---- */

static int op_token(struct store *s)
{
    return store_set_token(s, "tokB");
}
static int op_cred_new(struct store *s)
{
    return store_put_credential(s, "beta", "keyB", chain_b, sizeof chain_b - 1,
                                "https://cr.example.com/b.pem");
}
static int op_cred_replace(struct store *s)
{
    return store_put_credential(s, "alpha", "keyA2", chain_b, sizeof chain_b - 1, NULL);
}
static int op_x5u(struct store *s)
{
    return store_set_x5u(s, "pend", "https://cr.example.com/p.pem");
}
static int op_retire(struct store *s)
{
    return store_retire_credential(s, "alpha");
}
static int op_key(struct store *s)
{
    return store_put_key(s, "keyB", "delegate-ca");
}
static int op_pin(struct store *s)
{
    return store_set_pin(s, "2222", 4);
}
static int op_admin(struct store *s)
{
    return store_set_admin_hash(s, "$record$B");
}
static int op_ca(struct store *s)
{
    return store_ca_put(s, "policy", "days=30\n", 8);
}
static int op_audit(struct store *s)
{
    return store_audit(s, "console", "set pin", "ok");
}

static const struct op {
    const char *name;
    int (*fn)(struct store *);
} ops[] = {
    {"set_token", op_token},         {"put_credential(new)", op_cred_new},
    {"put_credential(replace)", op_cred_replace}, {"set_x5u", op_x5u},
    {"retire_credential", op_retire}, {"put_key", op_key},
    {"set_pin", op_pin},             {"set_admin_hash", op_admin},
    {"ca_put", op_ca},               {"audit", op_audit},
};

/* ---- state A ---- */

static int build_a(struct store **out)
{
    char cmd[PATH_MAX + 100];
    static unsigned seq;
    snprintf(dir, sizeof dir, "%s/s%u", base, seq++);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return -1;
    struct store *s;
    if (store_open(dir, &s) != STI_OK)
        return -1;
    if (store_set_token(s, "tokA") || store_put_key(s, "keyA", "customer-af") ||
        store_put_credential(s, "alpha", "keyA", chain_a, sizeof chain_a - 1,
                             "https://cr.example.com/a.pem") ||
        store_put_credential(s, "pend", "keyP", chain_p, sizeof chain_p - 1, "") ||
        store_set_pin(s, "1111", 4) || store_set_admin_hash(s, "$record$A") ||
        store_ca_put(s, "policy", "days=90\n", 8) ||
        store_audit(s, "console", "login", "ok") || store_audit(s, "console", "set token", "ok")) {
        store_close(s);
        return -1;
    }
    *out = s;
    return 0;
}

static int state_eq(const struct store_state *a, const struct store_state *b)
{
    if (a->gen != b->gen || strcmp(a->token, b->token) || a->ncred != b->ncred ||
        a->nkey != b->nkey || a->has_pin != b->has_pin || a->has_admin != b->has_admin)
        return 0;
    for (size_t i = 0; i < a->ncred; i++)
        if (strcmp(a->cred[i].name, b->cred[i].name) || strcmp(a->cred[i].key, b->cred[i].key) ||
            strcmp(a->cred[i].chain, b->cred[i].chain) || strcmp(a->cred[i].x5u, b->cred[i].x5u))
            return 0;
    for (size_t i = 0; i < a->nkey; i++)
        if (strcmp(a->key[i].label, b->key[i].label) || strcmp(a->key[i].role, b->key[i].role))
            return 0;
    return 1;
}

/* ---- the store's files: "== rel (size)\ncontent" for each, sorted ---- */

struct buf {
    char *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *d, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        if (!b->p) {
            perror("realloc");
            exit(2);
        }
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
    b->p[b->n] = '\0';
}

static int cmpstr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk(struct buf *b, const char *rel, int with_audit)
{
    char path[PATH_MAX * 3], *names[256];
    size_t nn = 0;
    snprintf(path, sizeof path, "%s%s%s", dir, *rel ? "/" : "", rel);
    DIR *d = opendir(path);
    struct dirent *de;
    if (!d) {
        put(b, "!! unreadable folder\n", 21);
        return;
    }
    while ((de = readdir(d)) && nn < 256)
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            names[nn++] = strdup(de->d_name);
    closedir(d);
    qsort(names, nn, sizeof names[0], cmpstr);
    for (size_t i = 0; i < nn; i++) {
        char r[PATH_MAX * 2], line[PATH_MAX * 2 + 64];
        struct stat sb;
        int bad = snprintf(r, sizeof r, "%s%s%s", rel, *rel ? "/" : "", names[i]) >= (int)sizeof r;
        free(names[i]);
        if (bad || snprintf(path, sizeof path, "%s/%s", dir, r) >= (int)sizeof path)
            continue;
        if (!with_audit && strcmp(r, "audit.log") == 0)
            continue;
        if (lstat(path, &sb) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            snprintf(line, sizeof line, "== %s/ mode %o\n", r, (unsigned)(sb.st_mode & 07777));
            put(b, line, strlen(line));
            walk(b, r, with_audit);
            continue;
        }
        snprintf(line, sizeof line, "== %s mode %o size %lld\n", r, (unsigned)(sb.st_mode & 07777),
                 (long long)sb.st_size);
        put(b, line, strlen(line));
        FILE *f = fopen(path, "rb");
        char chunk[4096];
        size_t got;
        while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
            put(b, chunk, got);
        if (f)
            fclose(f);
    }
}

static char *snapshot(int with_audit)
{
    struct buf b = {0};
    put(&b, "", 0);
    walk(&b, "", with_audit);
    return b.p;
}

static char *read_all(const char *rel)
{
    char path[PATH_MAX * 2];
    struct buf b = {0};
    char chunk[4096];
    size_t got;
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    put(&b, "", 0);
    FILE *f = fopen(path, "rb");
    while (f && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
        put(&b, chunk, got);
    if (f)
        fclose(f);
    return b.p;
}

/* Every line whole: "YYYY-MM-DDTHH:MM:SSZ who action: result\n". */
static int log_parseable(const char *t, const char **bad)
{
    while (*t) {
        const char *e = strchr(t, '\n');
        *bad = t;
        if (!e)
            return 0;
        size_t n = (size_t)(e - t);
        if (n < 24 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' ||
            t[16] != ':' || t[19] != 'Z' || t[20] != ' ')
            return 0;
        for (size_t i = 0; i < n; i++)
            if (t[i] < ' ' || t[i] > '~')
                return 0;
        const char *sep = strstr(t + 21, ": ");
        if (!sep || sep > e)
            return 0;
        /* a second timestamp inside the line: two entries glued together */
        for (const char *q = t + 21; q + 20 <= e; q++)
            if (q[4] == '-' && q[7] == '-' && q[10] == 'T' && q[19] == 'Z' && q[13] == ':')
                return 0;
        t = e + 1;
    }
    return 1;
}

__attribute__((format(printf, 4, 5))) static void violation(const char *kind, const char *op,
                                                            unsigned long after, const char *fmt,
                                                            ...)
{
    va_list ap;
    fprintf(stderr, "VIOLATION %s fault, %s, fault on matching call #%lu: ", kind, op, after + 1);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    violations++;
}

static const char *first_diff(const char *a, const char *b)
{
    static char out[400];
    size_t i = 0;
    while (a[i] && a[i] == b[i])
        i++;
    size_t ls = i;
    while (ls > 0 && a[ls - 1] != '\n')
        ls--;
    snprintf(out, sizeof out, "A has \"%.80s\" where the store has \"%.80s\"", a + ls, b + ls);
    for (char *p = out; *p; p++)
        if (*p == '\n')
            *p = '|';
    return out;
}

static void fault_on(const char *kind, unsigned long after)
{
    char n[32];
    snprintf(n, sizeof n, "%lu", after);
    setenv("STOREFAULT_PATH", dir, 1);
    setenv("STOREFAULT_AFTER", n, 1);
    sf_reset();
    setenv("STOREFAULT", kind, 1);
}

static unsigned long fault_off(void)
{
    unsetenv("STOREFAULT");
    return sf_reset();
}

/* One scenario; returns 1 when the fault was met, 0 when the operation
 * got through without it (no fault point left), -1 on setup failure. */
static int scenario(const char *kind, const struct op *op, unsigned long after)
{
    struct store *s, *s2;
    struct store_state a, cur;
    int audit = op->fn == op_audit;
    if (build_a(&s) != 0) {
        fprintf(stderr, "storefault: cannot build state A in %s\n", dir);
        return -1;
    }
    store_load(s, &a);
    char *snap_a = snapshot(!audit), *log_a = read_all("audit.log");

    fault_on(kind, after);
    int rc = op->fn(s);
    unsigned long injected = fault_off();

    if (injected == 0) {
        if (rc != STI_OK)
            violation(kind, op->name, after, "failed without a fault: %s", sti_errname(rc));
        store_close(s);
        free(snap_a);
        free(log_a);
        return 0;
    }
    if (rc != STI_ESTORE)
        violation(kind, op->name, after, "returned %s, not STI_ESTORE",
                  rc == STI_OK ? "STI_OK (the fault went unreported)" : sti_errname(rc));
    store_load(s, &cur);
    if (!state_eq(&a, &cur))
        violation(kind, op->name, after, "%s", "the open store no longer reports state A");
    store_close(s);

    if (store_open(dir, &s2) != STI_OK) {
        violation(kind, op->name, after, "%s", "the store does not reopen");
        free(snap_a);
        free(log_a);
        return 1;
    }
    store_load(s2, &cur);
    if (!state_eq(&a, &cur)) {
        char d[200];
        snprintf(d, sizeof d, "gen %lu token %s ncred %zu nkey %zu (A: gen %lu token %s ncred %zu nkey %zu)",
                 cur.gen, cur.token, cur.ncred, cur.nkey, a.gen, a.token, a.ncred, a.nkey);
        violation(kind, op->name, after, "reopened store is not state A: %s", d);
    }
    char *snap = snapshot(!audit);
    if (strcmp(snap, snap_a) != 0)
        violation(kind, op->name, after, "files after reopen differ from A's: %s",
                  first_diff(snap_a, snap));
    if (strstr(snap, "/.tmp-") || strstr(snap, "== .tmp-"))
        violation(kind, op->name, after, "%s", "a temporary file is left after reopen");
    free(snap);

    if (audit) {
        char *log = read_all("audit.log");
        const char *bad;
        size_t la = strlen(log_a);
        if (strncmp(log, log_a, la) != 0)
            violation(kind, op->name, after, "%s", "the failed append changed earlier entries");
        else if (!log_parseable(log, &bad))
            violation(kind, op->name, after, "the log is not parseable after the failed append at \"%.60s\"",
                      bad);
        else if (strlen(log) > la && strchr(log + la, '\n') != log + strlen(log) - 1)
            violation(kind, op->name, after, "%s", "the failed append left more than one line");
        free(log);
    }

    /* A later commit without faults goes through. */
    rc = op->fn(s2);
    if (rc != STI_OK)
        violation(kind, op->name, after, "the next commit without faults failed: %s",
                  sti_errname(rc));
    store_close(s2);
    if (store_open(dir, &s2) != STI_OK) {
        violation(kind, op->name, after, "%s", "the store does not reopen after the next commit");
    } else {
        store_load(s2, &cur);
        if (!audit && state_eq(&a, &cur) && op->fn != op_pin && op->fn != op_admin &&
            op->fn != op_ca)
            violation(kind, op->name, after, "%s", "the next commit reported OK but is not stored");
        store_close(s2);
    }
    if (audit) {
        char *log = read_all("audit.log");
        const char *bad;
        if (!log_parseable(log, &bad))
            violation(kind, op->name, after, "the log is not parseable after the next append at \"%.60s\"",
                      bad);
        free(log);
    }
    free(snap_a);
    free(log_a);
    return 1;
}

int main(int argc, char **argv)
{
    static const char *const kinds[] = {"write", "enospc", "short", "fsync", "rename"};
    void *sym = dlsym(RTLD_DEFAULT, "storefault_reset");
    if (!sym) {
        fprintf(stderr, "storefault_driver: libstorefault.so is not preloaded (LD_PRELOAD)\n");
        return 2;
    }
    memcpy(&sf_reset, &sym, sizeof sym);
    char tmpl[PATH_MAX];
    const char *work = argc > 1 ? argv[1] : "/tmp";
    mkdir(work, 0700);
    snprintf(tmpl, sizeof tmpl, "%s/storefault-XXXXXX", work);
    if (!mkdtemp(tmpl) || !realpath(tmpl, base)) {
        perror("storefault_driver: mkdtemp");
        return 2;
    }
    unsetenv("STOREFAULT");
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        int before = violations;
        unsigned long faulted = 0;
        for (size_t o = 0; o < sizeof ops / sizeof ops[0]; o++) {
            unsigned long after;
            for (after = 0; after < 32; after++) {
                int r = scenario(kinds[k], &ops[o], after);
                if (r < 0)
                    return 2;
                if (r == 0)
                    break;
                faulted++;
            }
            if (after == 0 && !(ops[o].fn == op_audit && strcmp(kinds[k], "rename") == 0)) {
                fprintf(stderr, "VIOLATION %s fault, %s: no fault point was met\n", kinds[k],
                        ops[o].name);
                violations++;
            }
        }
        printf("store_faults: %-6s %3lu faulted commits over %zu operations: %s (%d violations)\n",
               kinds[k], faulted, sizeof ops / sizeof ops[0],
               violations == before ? "old state kept, error reported" : "FAIL",
               violations - before);
        fflush(stdout);
    }
    char cmd[PATH_MAX + 20];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (!violations && system(cmd) != 0)
        fprintf(stderr, "storefault_driver: cleanup of %s failed\n", base);
    if (violations)
        fprintf(stderr, "storefault_driver: %d violations (store left in %s)\n", violations, base);
    return violations ? 1 : 0;
}
