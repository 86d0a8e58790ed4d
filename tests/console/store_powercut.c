/*
 * store_powercut.c — the store under power cuts. A child process commits
 * to the store in a loop (token, credentials with chain files, key roles,
 * retirements) and reports each finished commit through a pipe; the
 * parent SIGKILLs it at a random moment, many times. After each kill the
 * store must open, hold no leftover temporary or orphan chain file, and
 * equal exactly the state after the last reported commit or the one after
 * it (the commit in flight). The expected state comes from a model store
 * in another folder to which the same commits are applied.
 *
 *   store_powercut DIR ITERATIONS
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sti_err.h"
#include "store.h"

static int fail(const char *what, unsigned long it)
{
    fprintf(stderr, "store_powercut: iteration %lu: %s\n", it, what);
    return 1;
}

/* The commit that makes generation n, chosen from n and the state. */
static int commit_next(struct store *s)
{
    struct store_state st;
    char name[32], key[32], x5u[64], chain[4096];
    store_load(s, &st);
    unsigned long n = st.gen + 1;
    snprintf(name, sizeof name, "c%lu", n % 3);
    snprintf(key, sizeof key, "k%lu", n % 5);
    snprintf(x5u, sizeof x5u, "https://cr.example.com/%lu.pem", n);
    size_t o = 0;
    for (int i = 0; i < 60; i++)
        o += (size_t)snprintf(chain + o, sizeof chain - o, "CHAIN %lu line %d\n", n, i);
    int exists = 0;
    for (size_t i = 0; i < st.ncred; i++)
        exists |= strcmp(st.cred[i].name, name) == 0;
    switch (n % 4) {
    case 1: {
        char tok[32];
        snprintf(tok, sizeof tok, "tok%lu", n);
        return store_set_token(s, tok);
    }
    case 2:
        return store_put_credential(s, name, key, chain, o, n % 8 == 2 ? "" : x5u);
    case 3:
        return store_put_key(s, key, (n / 4) % 2 ? "delegate-ca" : "customer-af");
    default:
        if (exists)
            return store_retire_credential(s, name);
        return store_put_credential(s, name, key, chain, o, x5u);
    }
}

static void child(const char *dir, int wfd)
{
    struct store *s;
    if (store_open(dir, &s) != STI_OK)
        _exit(3);
    for (;;) {
        if (commit_next(s) != STI_OK)
            _exit(4);
        struct store_state st;
        store_load(s, &st);
        if (write(wfd, &st.gen, sizeof st.gen) != sizeof st.gen)
            _exit(5);
    }
}

static int read_all(const char *dir, const char *rel, char *buf, size_t cap)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (int)n;
}

/* No temporary file, and only chain files the state names. */
static int clean(const char *dir, const struct store_state *st)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/chains", dir);
    const char *dirs[] = {dir, path};
    for (int k = 0; k < 2; k++) {
        DIR *d = opendir(dirs[k]);
        struct dirent *de;
        if (!d)
            return 0;
        while ((de = readdir(d))) {
            if (strncmp(de->d_name, ".tmp-", 5) == 0) {
                closedir(d);
                return 0;
            }
            if (k == 1 && de->d_name[0] != '.') {
                char rel[512];
                int used = 0;
                snprintf(rel, sizeof rel, "chains/%s", de->d_name);
                for (size_t i = 0; i < st->ncred; i++)
                    used |= strcmp(st->cred[i].chain, rel) == 0;
                if (!used) {
                    closedir(d);
                    return 0;
                }
            }
        }
        closedir(d);
    }
    return 1;
}

static int same(const char *dir, const struct store_state *a, const char *mdir,
                const struct store_state *b)
{
    static char ca[8192], cb[8192];
    /* Field by field: bytes after a string's NUL are not state. */
    if (a->gen != b->gen || strcmp(a->token, b->token) || a->ncred != b->ncred ||
        a->nkey != b->nkey || a->has_pin != b->has_pin || a->has_admin != b->has_admin) {
        fprintf(stderr, "gen %lu/%lu token %s/%s ncred %zu/%zu nkey %zu/%zu\n", a->gen, b->gen,
                a->token, b->token, a->ncred, b->ncred, a->nkey, b->nkey);
        return 0;
    }
    for (size_t i = 0; i < a->nkey; i++)
        if (strcmp(a->key[i].label, b->key[i].label) || strcmp(a->key[i].role, b->key[i].role))
            return 0;
    for (size_t i = 0; i < a->ncred; i++)
        if (strcmp(a->cred[i].name, b->cred[i].name) || strcmp(a->cred[i].key, b->cred[i].key) ||
            strcmp(a->cred[i].chain, b->cred[i].chain) || strcmp(a->cred[i].x5u, b->cred[i].x5u))
            return 0;
    for (size_t i = 0; i < a->ncred; i++) {
        int na = read_all(dir, a->cred[i].chain, ca, sizeof ca);
        int nb = read_all(mdir, b->cred[i].chain, cb, sizeof cb);
        if (na < 0 || na != nb || memcmp(ca, cb, (size_t)na) != 0) {
            fprintf(stderr, "chain %s: %d/%d bytes\n", a->cred[i].chain, na, nb);
            return 0;
        }
    }
    return 1;
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: store_powercut DIR ITERATIONS\n");
        return 2;
    }
    char dir[512], mdir[512];
    unsigned long iters = strtoul(argv[2], NULL, 10);
    mkdir(argv[1], 0700);
    snprintf(dir, sizeof dir, "%s/store.%ld", argv[1], (long)getpid());
    snprintf(mdir, sizeof mdir, "%s/model.%ld", argv[1], (long)getpid());
    struct store *model;
    if (store_open(mdir, &model) != STI_OK)
        return fail("model store", 0);
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    unsigned long kills_mid = 0, max_gen = 0;
    time_t t0 = time(NULL);
    for (unsigned long it = 0; it < iters && time(NULL) - t0 < 120; it++) {
        int p[2];
        if (pipe(p) != 0)
            return fail("pipe", it);
        pid_t pid = fork();
        if (pid == 0) {
            close(p[0]);
            child(dir, p[1]);
        }
        close(p[1]);
        usleep((useconds_t)(rand() % 30000));
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status))
            return fail("the committing child failed on its own", it);
        unsigned long g, acked = 0;
        int got_any = 0;
        while (read(p[0], &g, sizeof g) == (ssize_t)sizeof g) {
            acked = g;
            got_any = 1;
        }
        close(p[0]);
        struct store *s;
        struct store_state st, ms;
        if (store_open(dir, &s) != STI_OK)
            return fail("the store does not open after the kill", it);
        store_load(s, &st);
        store_load(model, &ms);
        if (!got_any)
            acked = ms.gen;
        if (st.gen != acked && st.gen != acked + 1)
            return fail("generation is neither the last acknowledged nor the next", it);
        kills_mid += st.gen == acked + 1;
        /* Bring the model to the same generation, then compare. */
        while (ms.gen < st.gen) {
            if (commit_next(model) != STI_OK)
                return fail("model commit", it);
            store_load(model, &ms);
        }
        if (!same(dir, &st, mdir, &ms))
            return fail("state differs from the model (torn commit)", it);
        if (!clean(dir, &st))
            return fail("leftover temporary or orphan chain file", it);
        max_gen = st.gen;
        store_close(s);
    }
    store_close(model);
    printf("store_powercut: %s iterations, %lu commits, %lu kills landed between write "
           "and report; old-or-new state every time\n",
           argv[2], max_gen, kills_mid);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", dir, mdir);
    return system(cmd) == 0 ? 0 : 0;
}
