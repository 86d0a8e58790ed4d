/* store.c — the appliance's persistent state, committed atomically. */
#include "store.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "sti_err.h"

#define STORE_CONF "appliance.conf"

#define STORE_TMP ".tmp-"

struct store {
    char dir[512];
    struct store_state st;
};

static void store_wipe_mem(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

int store_path(const struct store *s, const char *rel, char *out, size_t cap)
{
    if (snprintf(out, cap, "%s/%s", s->dir, rel) >= (int)cap)
        return STI_ETOOLONG;
    return STI_OK;
}

const char *store_dir(const struct store *s)
{
    return s->dir;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return STI_ESTORE;
    int rc = fsync(fd) == 0 ? STI_OK : STI_ESTORE;
    close(fd);
    return rc;
}

/* The one commit primitive: temp file beside the target, fsync, rename,
 * fsync the folder. */
static int write_atomic(struct store *s, const char *subdir, const char *name, const void *data,
                        size_t n, mode_t mode)
{
    char dir[600], tmp[700], dst[700];
    int fd = -1, rc = STI_ESTORE;
    if (snprintf(dir, sizeof dir, "%s%s%s", s->dir, subdir ? "/" : "", subdir ? subdir : "") >=
            (int)sizeof dir ||
        snprintf(tmp, sizeof tmp, "%s/" STORE_TMP "%s", dir, name) >= (int)sizeof tmp ||
        snprintf(dst, sizeof dst, "%s/%s", dir, name) >= (int)sizeof dst)
        return STI_ETOOLONG;
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0)
        goto out;
    if (fchmod(fd, mode) != 0)
        goto out;
    for (size_t off = 0; off < n;) {
        ssize_t w = write(fd, (const char *)data + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            goto out;
        off += (size_t)w;
    }
    if (fsync(fd) != 0)
        goto out;
    if (close(fd) != 0) {
        fd = -1;
        goto out;
    }
    fd = -1;
    /* Keep the old file under a second name until the folder is synced: if
     * that fails the old state is put back, so an error always means the
     * old state (the caller's memory and the disk agree). */
    char bak[720];
    int had_old = snprintf(bak, sizeof bak, "%s.bak", tmp) < (int)sizeof bak &&
                  (unlink(bak), link(dst, bak) == 0);
    if (rename(tmp, dst) != 0) {
        if (had_old)
            unlink(bak);
        goto out;
    }
    rc = fsync_dir(dir);
    if (rc) {
        if (had_old)
            rename(bak, dst);
        else
            unlink(dst);
        fsync_dir(dir);
        had_old = 0;
    }
    if (had_old)
        unlink(bak);
out:
    if (fd >= 0)
        close(fd);
    if (rc)
        unlink(tmp);
    return rc;
}

/* ---- names ---- */

static int name_ok(const char *s, size_t max)
{
    size_t n = strlen(s);
    if (n == 0 || n > max)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return 0;
    return s[0] != '.';
}

static int label_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > STORE_LABEL_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-:@+", s[i]))
            return 0;
    return 1;
}

/* https, no whitespace, no '#' (a comment in the file), bounded. The
 * daemon applies the full x5u rules when it loads the credential. */
static int x5u_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 9 || n > STORE_X5U_MAX || strncmp(s, "https://", 8) != 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] > '~' || s[i] == '#')
            return 0;
    return 1;
}

/* ---- appliance.conf ---- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int copy_field(char *dst, size_t cap, const char *v)
{
    return snprintf(dst, cap, "%s", v) < (int)cap ? 0 : -1;
}

int store_parse(const char *text, size_t n, struct store_state *st)
{
    char line[1024];
    struct store_cred *cur = NULL;
    size_t off = 0;
    memset(st, 0, sizeof *st);
    while (off < n) {
        size_t e = off;
        while (e < n && text[e] != '\n')
            e++;
        if (e - off >= sizeof line || memchr(text + off, '\0', e - off))
            return STI_ESTORE;
        memcpy(line, text + off, e - off);
        line[e - off] = '\0';
        off = e + 1;
        char *s = trim(line);
        if (strncmp(s, "#!", 2) == 0) {
            char w[5][300];
            int k = sscanf(s + 2, "%299s %299s %299s %299s %299s", w[0], w[1], w[2], w[3], w[4]);
            if (k == 2 && strcmp(w[0], "gen") == 0) {
                st->gen = strtoul(w[1], NULL, 10);
            } else if (k == 3 && strcmp(w[0], "key") == 0) {
                if (st->nkey == STORE_MAX_KEYS)
                    return STI_ESTORE;
                struct store_key *kk = &st->key[st->nkey++];
                if (copy_field(kk->label, sizeof kk->label, w[1]) ||
                    copy_field(kk->role, sizeof kk->role, w[2]))
                    return STI_ESTORE;
            } else if (k == 4 && strcmp(w[0], "pending") == 0) {
                cur = NULL;
                if (st->ncred == STORE_MAX_CREDS)
                    return STI_ESTORE;
                struct store_cred *c = &st->cred[st->ncred++];
                if (copy_field(c->name, sizeof c->name, w[1]) ||
                    copy_field(c->key, sizeof c->key, w[2]) ||
                    copy_field(c->chain, sizeof c->chain, w[3]))
                    return STI_ESTORE;
            } else {
                return STI_ESTORE;
            }
            continue;
        }
        char *hash = strchr(s, '#');
        if (hash)
            *hash = '\0';
        s = trim(s);
        if (!*s)
            continue;
        if (*s == '[') {
            char name[STORE_NAME_MAX + 2];
            if (sscanf(s, "[credential %64[A-Za-z0-9_.-]]", name) != 1 || s[strlen(s) - 1] != ']' ||
                strlen(name) > STORE_NAME_MAX || st->ncred == STORE_MAX_CREDS)
                return STI_ESTORE;
            cur = &st->cred[st->ncred++];
            memset(cur, 0, sizeof *cur);
            strcpy(cur->name, name);
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq)
            return STI_ESTORE;
        *eq = '\0';
        char *k = trim(s), *v = trim(eq + 1);
        int bad = 0;
        if (!cur && strcmp(k, "token") == 0)
            bad = copy_field(st->token, sizeof st->token, v);
        else if (!cur && strcmp(k, "pin_file") == 0)
            ; /* the store's own PIN file is implied */
        else if (cur && strcmp(k, "key") == 0)
            bad = copy_field(cur->key, sizeof cur->key, v);
        else if (cur && strcmp(k, "chain") == 0)
            bad = copy_field(cur->chain, sizeof cur->chain, v);
        else if (cur && strcmp(k, "x5u") == 0)
            bad = copy_field(cur->x5u, sizeof cur->x5u, v);
        else
            bad = 1;
        if (bad)
            return STI_ESTORE;
    }
    for (size_t i = 0; i < st->ncred; i++)
        if (!st->cred[i].key[0] || !st->cred[i].chain[0])
            return STI_ESTORE;
    return STI_OK;
}

static int conf_format(const struct store_state *st, char *out, size_t cap, size_t *len)
{
    size_t o = 0;
    int w;
#define EMIT(...)                                                                                  \
    do {                                                                                           \
        w = snprintf(out + o, cap - o, __VA_ARGS__);                                               \
        if (w < 0 || (size_t)w >= cap - o)                                                         \
            return STI_ETOOLONG;                                                                   \
        o += (size_t)w;                                                                            \
    } while (0)
    EMIT("# stisign appliance state, written by the console: do not edit by hand\n");
    EMIT("#! gen %lu\n", st->gen);
    for (size_t i = 0; i < st->nkey; i++)
        EMIT("#! key %s %s\n", st->key[i].label, st->key[i].role);
    if (st->token[0])
        EMIT("token = %s\n", st->token);
    /* In order: the daemon signs with the first credential that covers a
     * number. A pending one (no x5u yet) keeps its place as a comment. */
    for (size_t i = 0; i < st->ncred; i++)
        if (!st->cred[i].x5u[0])
            EMIT("\n#! pending %s %s %s\n", st->cred[i].name, st->cred[i].key, st->cred[i].chain);
        else
            EMIT("\n[credential %s]\nkey = %s\nchain = %s\nx5u = %s\n", st->cred[i].name,
                 st->cred[i].key, st->cred[i].chain, st->cred[i].x5u);
#undef EMIT
    *len = o;
    return STI_OK;
}

static int read_file(const char *path, size_t max, char **out, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? STI_ENOTFOUND : STI_ESTORE;
    char *buf = malloc(max + 1);
    if (!buf) {
        fclose(f);
        return STI_ENOMEM;
    }
    size_t got = fread(buf, 1, max + 1, f);
    int err = ferror(f);
    fclose(f);
    if (err || got > max) {
        free(buf);
        return err ? STI_ESTORE : STI_ETOOLONG;
    }
    buf[got] = '\0';
    *out = buf;
    *n = got;
    return STI_OK;
}

/* Removes what no committed state names: temporary files of an
 * interrupted commit and chain files of retired or replaced credentials. */
static void store_sweep(struct store *s)
{
    char path[700];
    DIR *d;
    struct dirent *de;
    if ((d = opendir(s->dir))) {
        while ((de = readdir(d)))
            if (strncmp(de->d_name, STORE_TMP, strlen(STORE_TMP)) == 0 &&
                snprintf(path, sizeof path, "%s/%s", s->dir, de->d_name) < (int)sizeof path)
                unlink(path);
        closedir(d);
    }
    snprintf(path, sizeof path, "%s/chains", s->dir);
    if (!(d = opendir(path)))
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' && strncmp(de->d_name, STORE_TMP, strlen(STORE_TMP)) != 0)
            continue;
        char rel[400];
        int used = 0;
        snprintf(rel, sizeof rel, "chains/%s", de->d_name);
        for (size_t i = 0; i < s->st.ncred; i++)
            if (strcmp(s->st.cred[i].chain, rel) == 0)
                used = 1;
        if (!used && snprintf(path, sizeof path, "%s/%s", s->dir, rel) < (int)sizeof path)
            unlink(path);
    }
    closedir(d);
}

static int store_reload(struct store *s)
{
    char path[700], *text = NULL;
    size_t n = 0;
    struct stat sb;
    int rc;
    STI_TRY(store_path(s, STORE_CONF, path, sizeof path));
    rc = read_file(path, 256 * 1024, &text, &n);
    if (rc == STI_ENOTFOUND) {
        memset(&s->st, 0, sizeof s->st);
        rc = STI_OK;
    } else if (rc == STI_OK) {
        rc = store_parse(text, n, &s->st);
    } else {
        rc = STI_ESTORE;
    }
    if (rc)
        goto out;
    store_path(s, "pin", path, sizeof path);
    s->st.has_pin = stat(path, &sb) == 0;
    store_path(s, "admin", path, sizeof path);
    s->st.has_admin = stat(path, &sb) == 0;
out:
    free(text);
    return rc;
}

int store_open(const char *dir, struct store **out)
{
    struct stat sb;
    char chains[700];
    int rc;
    struct store *s = calloc(1, sizeof *s);
    if (!s)
        return STI_ENOMEM;
    if (!dir || !*dir || snprintf(s->dir, sizeof s->dir, "%s", dir) >= (int)sizeof s->dir) {
        free(s);
        return STI_EINVAL;
    }
    rc = STI_ESTORE;
    if (mkdir(s->dir, 0700) != 0 && errno != EEXIST)
        goto out;
    if (stat(s->dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        goto out;
    if ((sb.st_mode & 077) && chmod(s->dir, 0700) != 0)
        goto out;
    snprintf(chains, sizeof chains, "%s/chains", s->dir);
    if (mkdir(chains, 0700) != 0 && errno != EEXIST)
        goto out;
    if ((rc = store_reload(s)))
        goto out;
    store_sweep(s);
    *out = s;
    return STI_OK;
out:
    free(s);
    return rc;
}

void store_close(struct store *s)
{
    free(s);
}

int store_load(struct store *s, struct store_state *out)
{
    *out = s->st;
    return STI_OK;
}

/* Writes st as the new appliance.conf; on success it becomes the state. */
static int store_commit(struct store *s, struct store_state *st)
{
    char *buf = malloc(256 * 1024);
    size_t n;
    int rc;
    if (!buf)
        return STI_ENOMEM;
    rc = conf_format(st, buf, 256 * 1024, &n);
    if (rc == STI_OK)
        rc = write_atomic(s, NULL, STORE_CONF, buf, n, 0600);
    free(buf);
    if (rc == STI_OK) {
        st->has_pin = s->st.has_pin;
        st->has_admin = s->st.has_admin;
        s->st = *st;
        store_sweep(s);
    }
    return rc == STI_ETOOLONG ? STI_ETOOLONG : rc ? STI_ESTORE : STI_OK;
}

static struct store_cred *find_cred(struct store_state *st, const char *name)
{
    for (size_t i = 0; i < st->ncred; i++)
        if (strcmp(st->cred[i].name, name) == 0)
            return &st->cred[i];
    return NULL;
}

int store_set_token(struct store *s, const char *label)
{
    struct store_state st = s->st;
    if (!label_ok(label) || strlen(label) > 32)
        return STI_EINVAL;
    snprintf(st.token, sizeof st.token, "%s", label);
    st.gen++;
    return store_commit(s, &st);
}

int store_put_credential(struct store *s, const char *name, const char *key, const char *chain_pem,
                         size_t n, const char *x5u)
{
    struct store_state st = s->st;
    char file[STORE_NAME_MAX + 32];
    int rc;
    if (!name_ok(name, STORE_NAME_MAX) || !label_ok(key) || !chain_pem || n == 0 ||
        (x5u && *x5u && !x5u_ok(x5u)))
        return STI_EINVAL;
    if (n > STORE_CHAIN_MAX)
        return STI_ETOOLONG;
    st.gen++;
    struct store_cred *c = find_cred(&st, name);
    if (!c) {
        if (st.ncred == STORE_MAX_CREDS)
            return STI_ETOOMANY;
        c = &st.cred[st.ncred++];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", name);
    }
    snprintf(c->key, sizeof c->key, "%s", key);
    if (x5u && *x5u)
        snprintf(c->x5u, sizeof c->x5u, "%s", x5u);
    snprintf(file, sizeof file, "%s.%lu.pem", name, st.gen);
    if (snprintf(c->chain, sizeof c->chain, "chains/%.*s", (int)(sizeof c->chain - 8), file) >=
        (int)sizeof c->chain)
        return STI_ETOOLONG;
    if ((rc = write_atomic(s, "chains", file, chain_pem, n, 0600)))
        return rc;
    return store_commit(s, &st);
}

int store_set_x5u(struct store *s, const char *name, const char *x5u)
{
    struct store_state st = s->st;
    if (!x5u || !x5u_ok(x5u))
        return STI_EX5U;
    struct store_cred *c = find_cred(&st, name);
    if (!c)
        return STI_ENOTFOUND;
    snprintf(c->x5u, sizeof c->x5u, "%s", x5u);
    st.gen++;
    return store_commit(s, &st);
}

int store_retire_credential(struct store *s, const char *name)
{
    struct store_state st = s->st;
    struct store_cred *c = find_cred(&st, name);
    if (!c)
        return STI_ENOTFOUND;
    size_t i = (size_t)(c - st.cred);
    memmove(&st.cred[i], &st.cred[i + 1], (st.ncred - i - 1) * sizeof st.cred[0]);
    st.ncred--;
    st.gen++;
    return store_commit(s, &st);
}

int store_put_key(struct store *s, const char *label, const char *role)
{
    struct store_state st = s->st;
    struct store_key *k = NULL;
    if (!label_ok(label) || !name_ok(role, sizeof k->role - 1))
        return STI_EINVAL;
    for (size_t i = 0; i < st.nkey; i++)
        if (strcmp(st.key[i].label, label) == 0)
            k = &st.key[i];
    if (!k) {
        if (st.nkey == STORE_MAX_KEYS)
            return STI_ETOOMANY;
        k = &st.key[st.nkey++];
        snprintf(k->label, sizeof k->label, "%s", label);
    }
    snprintf(k->role, sizeof k->role, "%s", role);
    st.gen++;
    return store_commit(s, &st);
}

int store_set_pin(struct store *s, const char *pin, size_t n)
{
    char buf[128];
    int rc;
    if (n == 0 || n + 1 > sizeof buf || memchr(pin, '\n', n) || memchr(pin, '\0', n))
        return STI_EINVAL;
    memcpy(buf, pin, n);
    buf[n] = '\n';
    rc = write_atomic(s, NULL, "pin", buf, n + 1, 0600);
    store_wipe_mem(buf, sizeof buf);
    if (rc == STI_OK)
        s->st.has_pin = 1;
    return rc;
}

int store_set_admin_hash(struct store *s, const char *record)
{
    size_t n = strlen(record);
    char buf[STORE_ADMIN_MAX + 2];
    if (n == 0 || n > STORE_ADMIN_MAX || strchr(record, '\n'))
        return STI_EINVAL;
    memcpy(buf, record, n);
    buf[n] = '\n';
    int rc = write_atomic(s, NULL, "admin", buf, n + 1, 0600);
    if (rc == STI_OK)
        s->st.has_admin = 1;
    return rc;
}

int store_get_admin_hash(struct store *s, char *out, size_t cap)
{
    char path[700], *text = NULL;
    size_t n;
    int rc;
    STI_TRY(store_path(s, "admin", path, sizeof path));
    STI_TRY(read_file(path, STORE_ADMIN_MAX + 1, &text, &n));
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    STI_CHECK(n > 0, STI_ESTORE);
    STI_CHECK(n < cap, STI_ETOOLONG);
    memcpy(out, text, n + 1);
out:
    free(text);
    return rc;
}

static void audit_clean(char *dst, size_t cap, const char *src)
{
    size_t o = 0;
    for (; src && *src && o + 1 < cap; src++)
        dst[o++] = (*src < ' ' || *src > '~') ? '?' : *src;
    dst[o] = '\0';
    if (o == 0)
        snprintf(dst, cap, "-");
}

int store_audit(struct store *s, const char *who, const char *action, const char *result)
{
    char path[700], line[1024], w[64], a[600], r[256], ts[32];
    time_t now = time(NULL);
    struct tm tm;
    int fd, rc = STI_ESTORE;
    gmtime_r(&now, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    audit_clean(w, sizeof w, who);
    audit_clean(a, sizeof a, action);
    audit_clean(r, sizeof r, result);
    int n = snprintf(line, sizeof line, "%s %s %s: %s\n", ts, w, a, r);
    if (n < 0)
        return STI_EINTERNAL;
    if ((size_t)n >= sizeof line) {
        n = (int)sizeof line - 1;
        line[n - 1] = '\n';
    }
    STI_TRY(store_path(s, "audit.log", path, sizeof path));
    rc = STI_ESTORE;
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return STI_ESTORE;
    /* One write per entry: O_APPEND keeps lines whole. A short write (a full
     * disk) is cut back off, so the next entry does not join a half line. */
    struct stat st;
    off_t before = fstat(fd, &st) == 0 ? st.st_size : -1;
    ssize_t wr = write(fd, line, (size_t)n);
    if (wr == n && fsync(fd) == 0)
        rc = STI_OK;
    else if (wr > 0 && wr < n && before >= 0 && ftruncate(fd, before) == 0)
        fsync(fd);
    close(fd);
out:
    return rc;
}

int store_audit_tail(struct store *s, size_t max_bytes, char **text, size_t *n)
{
    char path[700];
    int rc;
    STI_TRY(store_path(s, "audit.log", path, sizeof path));
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *text = strdup("");
        *n = 0;
        return *text ? STI_OK : STI_ENOMEM;
    }
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)max_bytes ? size - (off_t)max_bytes : 0;
    char *buf = malloc((size_t)(size - from) + 1);
    size_t got = 0;
    rc = STI_ESTORE;
    if (buf && size >= 0) {
        ssize_t r;
        while (got < (size_t)(size - from) &&
               (r = pread(fd, buf + got, (size_t)(size - from) - got, from + (off_t)got)) > 0)
            got += (size_t)r;
        buf[got] = '\0';
        char *start = buf;
        if (from > 0 && (start = strchr(buf, '\n'))) /* whole lines only */
            start++;
        else if (from > 0)
            start = buf + got;
        memmove(buf, start, got - (size_t)(start - buf) + 1);
        *n = got - (size_t)(start - buf);
        *text = buf;
        buf = NULL;
        rc = STI_OK;
    }
    free(buf);
    close(fd);
out:
    return rc;
}

static int ca_name_ok(const char *name)
{
    return strcmp(name, "ca.pem") == 0 || strcmp(name, "key") == 0 || strcmp(name, "policy") == 0 ||
           strcmp(name, "crl") == 0;
}

int store_ca_put(struct store *s, const char *name, const void *data, size_t n)
{
    char dir[700];
    if (!ca_name_ok(name) || n > STORE_CHAIN_MAX)
        return STI_EINVAL;
    if (snprintf(dir, sizeof dir, "%s/ca", s->dir) >= (int)sizeof dir)
        return STI_ETOOLONG;
    int made = mkdir(dir, 0700) == 0;
    if (!made && errno != EEXIST)
        return STI_ESTORE;
    if (made && fsync_dir(s->dir) != STI_OK)
        return STI_ESTORE;
    return write_atomic(s, "ca", name, data, n, 0600);
}

int store_ca_get(struct store *s, const char *name, char **out, size_t *n)
{
    char path[700];
    if (!ca_name_ok(name))
        return STI_EINVAL;
    if (snprintf(path, sizeof path, "%s/ca/%s", s->dir, name) >= (int)sizeof path)
        return STI_ETOOLONG;
    return read_file(path, STORE_CHAIN_MAX, out, n);
}

int store_wipe(struct store *s)
{
    char path[700];
    int rc = STI_OK;
    /* appliance.conf first: it is the commit point of everything else. */
    static const char *const files[] = {STORE_CONF,  "pin",    "admin",
                                        "ca/ca.pem", "ca/key", "ca/policy"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        store_path(s, files[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT)
            rc = STI_ESTORE;
        if (i == 0 && fsync_dir(s->dir) != STI_OK)
            rc = STI_ESTORE;
    }
    memset(&s->st, 0, sizeof s->st);
    store_sweep(s);
    if (fsync_dir(s->dir) != STI_OK)
        rc = STI_ESTORE;
    return rc;
}
