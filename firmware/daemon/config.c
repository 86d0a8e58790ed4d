/* config.c — the key = value configuration file with [credential NAME]. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bsp.h"
#include "sti_err.h"

enum cfg_type { CT_STR, CT_PATH, CT_UINT, CT_MODE, CT_WMODE, CT_BOOL, CT_SANDBOX };

struct cfg_key {
    const char *name;
    enum cfg_type type;
    size_t off;
    size_t size;
    unsigned long min, max;
};

#define K(n, t, f, lo, hi)                                                                         \
    {                                                                                              \
        n, t, offsetof(struct cfg, f), sizeof(((struct cfg *)0)->f), lo, hi                        \
    }
static const struct cfg_key cfg_keys[] = {
    K("socket", CT_PATH, socket, 0, 0),
    K("socket_mode", CT_MODE, socket_mode, 0, 0777),
    K("socket_group", CT_STR, socket_group, 0, 0),
    K("module", CT_PATH, module, 0, 0),
    K("token", CT_STR, token, 0, 0),
    K("pin_file", CT_PATH, pin_file, 0, 0),
    K("pid_file", CT_PATH, pid_file, 0, 0),
    K("store_dir", CT_PATH, store_dir, 0, 0),
    K("console", CT_STR, console, 0, 0),
    K("console_path", CT_PATH, console_path, 0, 0),
    K("console_idle_s", CT_UINT, console_idle_s, 10, 86400),
    K("workers", CT_UINT, workers, 1, 256),
    K("worker_mode", CT_WMODE, workers, 0, 0),
    K("worker_window", CT_UINT, window, 1, 4096),
    K("worker_affinity", CT_BOOL, worker_affinity, 0, 0),
    K("loop_sched_batch", CT_BOOL, loop_sched_batch, 0, 0),
    K("max_queue", CT_UINT, max_queue, 1, 1u << 20),
    K("max_connections", CT_UINT, max_conns, 1, 1u << 20),
    K("max_pending_per_connection", CT_UINT, max_pending, 1, 65536),
    K("frame_timeout_ms", CT_UINT, frame_timeout_ms, 10, 3600000),
    K("write_timeout_ms", CT_UINT, write_timeout_ms, 10, 3600000),
    K("start_timeout_ms", CT_UINT, start_timeout_ms, 10, 3600000),
    K("log_level", CT_STR, log_level, 0, 0),
    K("iat_max_past_s", CT_UINT, iat_past_s, 0, 86400),
    K("verify_trust_anchor", CT_PATH, verify_trust_anchor, 0, 0),
    K("verify_cache_dir", CT_PATH, verify_cache_dir, 0, 0),
    K("verify_tls_ca", CT_PATH, verify_tls_ca, 0, 0),
    K("verify_max_age", CT_UINT, verify_max_age, 1, 86400),
    K("verify_fetch", CT_BOOL, verify_fetch, 0, 0),
    K("verify_spc_policy", CT_STR, verify_spc_policy, 0, 0),
    K("verify_threads", CT_UINT, verify_threads, 1, 16),
    K("verify_crl", CT_STR, verify_crl, 0, 0),
    K("verify_crl_http", CT_BOOL, verify_crl_http, 0, 0),
    K("verify_fetch_ports", CT_STR, verify_ports, 0, 0),
    K("verify_fetch_timeout_ms", CT_UINT, verify_timeout_ms, 100, 60000),
    K("verify_fetch_max_head", CT_UINT, verify_max_head, 1024, 1u << 20),
    K("verify_fetch_max_body", CT_UINT, verify_max_body, 1024, 1u << 24),
    K("verify_fetch_max_crl_body", CT_UINT, verify_max_crl_body, 1024, 1u << 26),
    K("verify_fetch_max_inflight", CT_UINT, verify_max_inflight, 1, 4096),
    K("verify_cache_max_entries", CT_UINT, verify_cache_entries, 1, 1u << 20),
    K("verify_cache_max_bytes", CT_UINT, verify_cache_bytes, 65536, 1u << 30),
    K("verify_cache_ttl_min", CT_UINT, verify_ttl_min, 1, 86400 * 30),
    K("verify_cache_ttl_max", CT_UINT, verify_ttl_max, 1, 86400 * 30),
    K("verify_cache_ttl_default", CT_UINT, verify_ttl_default, 1, 86400 * 30),
    K("verify_cache_neg_ttl", CT_UINT, verify_neg_ttl, 1, 86400),
    K("verify_max_pending", CT_UINT, verify_max_pending, 1, 65536),
    K("user", CT_STR, user, 0, 0),
    K("sandbox_root", CT_PATH, sandbox_root, 0, 0),
    K("iat_max_future_s", CT_UINT, iat_future_s, 0, 300),
    K("allow_uid", CT_STR, allow_uid, 0, 0),
    K("allow_gid", CT_STR, allow_gid, 0, 0),
    K("log_syslog", CT_BOOL, log_syslog, 0, 0),
    K("verify_sample", CT_UINT, verify_sample, 0, 1000000000),
    K("key_session_copy", CT_BOOL, key_session_copy, 0, 0),
    K("http_listen", CT_STR, http_listen, 0, 0),
    K("publish_chain", CT_BOOL, publish_chain, 0, 0),
    K("board_state_dir", CT_PATH, board_state_dir, 0, 0),
    K("watchdog_ms", CT_UINT, watchdog_ms, 0, 3600000),
    K("watchdog_device", CT_PATH, watchdog_device, 0, 0),
    K("update_vendor_key", CT_PATH, update_vendor_key, 0, 0),
    K("led_ready", CT_STR, led_name[0], 0, 0),
    K("led_fault", CT_STR, led_name[1], 0, 0),
    K("led_activity", CT_STR, led_name[2], 0, 0),
    K("test_hooks", CT_BOOL, test_hooks, 0, 0),
    K("sandbox", CT_SANDBOX, sandbox, 0, 0),
};
#undef K

#define CK(n, f)                                                                                   \
    {                                                                                              \
        n, CT_STR, offsetof(struct cfg_cred, f), sizeof(((struct cfg_cred *)0)->f), 0, 0           \
    }
static const struct cfg_key cred_keys[] = {
    CK("key", key),
    {"chain", CT_PATH, offsetof(struct cfg_cred, chain), sizeof(((struct cfg_cred *)0)->chain), 0,
     0},
    CK("x5u", x5u),
};
#undef CK

/* uid/user and gid/group of a peer section are resolved by cfg_id_parse. */
static const struct cfg_key peer_keys[] = {
    {"scope", CT_STR, offsetof(struct cfg_peer, scope), sizeof(((struct cfg_peer *)0)->scope), 0,
     0},
};

int cfg_id_parse(const char *s, int group, long *id)
{
    char *end;
    if (!*s)
        return -1;
    long v = strtol(s, &end, 10);
    if (*end == '\0' && v >= 0) {
        *id = v;
        return 0;
    }
    if (group) {
        struct group *g = getgrnam(s);
        if (!g)
            return -1;
        *id = (long)g->gr_gid;
    } else {
        struct passwd *pw = getpwnam(s);
        if (!pw)
            return -1;
        *id = (long)pw->pw_uid;
    }
    return 0;
}

int cfg_ids_parse(const char *list, int group, long *ids, size_t max, size_t *n)
{
    char buf[256], *save = NULL;
    *n = 0;
    snprintf(buf, sizeof buf, "%s", list);
    for (char *t = strtok_r(buf, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        if (*n == max || cfg_id_parse(t, group, &ids[*n]) != 0)
            return -1;
        (*n)++;
    }
    return 0;
}

void cfg_defaults(struct cfg *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->socket, sizeof c->socket, "/run/stisign/sign.sock");
    c->socket_mode = 0660;
    snprintf(c->module, sizeof c->module, "/usr/lib/softhsm/libsofthsm2.so");
    c->workers = 2;
    c->window = 64;
    c->worker_affinity = 1;
    c->loop_sched_batch = 1;
    c->max_queue = 8192;
    c->max_conns = 4096;
    c->max_pending = 256;
    c->frame_timeout_ms = 10000;
    c->write_timeout_ms = 30000;
    c->start_timeout_ms = 10000;
    c->iat_past_s = 60;
    c->verify_max_age = 60;
    c->verify_fetch = 1;
    snprintf(c->verify_spc_policy, sizeof c->verify_spc_policy, "deny");
    c->verify_threads = 2;
    snprintf(c->verify_crl, sizeof c->verify_crl, "prefer");
    snprintf(c->verify_ports, sizeof c->verify_ports, "443 8443");
    c->verify_cache_entries = 1024;
    c->verify_cache_bytes = 16u << 20;
    c->verify_max_head = 8192;
    c->verify_max_body = 65536;
    c->verify_max_crl_body = 1u << 20;
    c->verify_max_inflight = 64;
    c->verify_ttl_min = 60;
    c->verify_ttl_max = 86400;
    c->verify_ttl_default = 3600;
    c->verify_neg_ttl = 30;
    c->verify_timeout_ms = 5000;
    c->verify_max_pending = 256;
    snprintf(c->user, sizeof c->user, "_stisign");
    snprintf(c->sandbox_root, sizeof c->sandbox_root, "/run/stisign/empty");
    c->iat_future_s = 2;
    snprintf(c->log_level, sizeof c->log_level, "info");
    /* Off by default: one mbedTLS verify costs ~37 token signatures of CPU
     * (18 M instructions), so 1 in 1000 would add ~3.7% (README, self-test). */
    c->verify_sample = 0;
    c->key_session_copy = 1;
    snprintf(c->console, sizeof c->console, "none");
    c->console_idle_s = 600;
    /* Every board confines its processes unless told otherwise. */
    c->sandbox = BSP_SANDBOX_ENFORCE;
}

__attribute__((format(printf, 5, 6))) static void
cfg_err(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s:%d: %s", path, line, what);
}

static char *cfg_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Relative paths are relative to the config file's folder. */
static int cfg_path(const char *cfgpath, const char *v, char *out, size_t cap)
{
    if (v[0] == '/' || !strchr(cfgpath, '/'))
        return snprintf(out, cap, "%s", v) < (int)cap ? 0 : -1;
    int dirlen = (int)(strrchr(cfgpath, '/') - cfgpath);
    return snprintf(out, cap, "%.*s/%s", dirlen, cfgpath, v) < (int)cap ? 0 : -1;
}

static int cfg_set(const struct cfg_key *k, void *base, const char *cfgpath, const char *v,
                   const char **why)
{
    char *dst = (char *)base + k->off;
    char *end;
    unsigned long n;
    switch (k->type) {
    case CT_STR:
        if (snprintf(dst, k->size, "%s", v) >= (int)k->size) {
            *why = "value too long";
            return -1;
        }
        return 0;
    case CT_PATH:
        if (cfg_path(cfgpath, v, dst, k->size) != 0) {
            *why = "path too long";
            return -1;
        }
        return 0;
    case CT_UINT:
        errno = 0;
        n = strtoul(v, &end, 10);
        if (errno || *end || !isdigit((unsigned char)v[0]) || n < k->min || n > k->max) {
            *why = "not a number in range";
            return -1;
        }
        *(unsigned *)dst = (unsigned)n;
        return 0;
    case CT_MODE:
        n = strtoul(v, &end, 8);
        if (*end || !v[0] || n > k->max) {
            *why = "not an octal file mode";
            return -1;
        }
        *(mode_t *)dst = (mode_t)n;
        return 0;
    case CT_WMODE:
        /* Thread workers would put the token session in the process that
         * parses network bytes: only processes remain. */
        if (strcmp(v, "process") != 0) {
            *why = "must be process (thread workers were removed: the front never loads the "
                   "token)";
            return -1;
        }
        return 0;
    case CT_SANDBOX: {
        enum bsp_sandbox_mode m;
        if (bsp_sandbox_mode_parse(v, &m) != STI_OK) {
            *why = "must be enforce, log or off";
            return -1;
        }
        *(int *)dst = (int)m;
        return 0;
    }
    case CT_BOOL:
        if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            *(int *)dst = 1;
        else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "0") == 0)
            *(int *)dst = 0;
        else {
            *why = "must be yes or no";
            return -1;
        }
        return 0;
    }
    return -1;
}

/* verify_pin = URL FILE; FILE relative to the configuration's folder. */
static int cfg_pin_parse(struct cfg *c, const char *cfgpath, const char *val)
{
    char url[PP_X5U_MAX + 2], file[CFG_PATH_MAX];
    const char *why = "";
    if (c->nverify_pin == CFG_MAX_PINS || sscanf(val, "%513s %511s", url, file) != 2 ||
        strlen(url) > PP_X5U_MAX || pp_x5u_check_flags(url, PP_X5U_QUERY_OK) != STI_OK)
        return -1;
    struct cfg_pin *p = &c->verify_pin[c->nverify_pin];
    static const struct cfg_key pin_path = {"verify_pin",
                                            CT_PATH,
                                            offsetof(struct cfg_pin, path),
                                            sizeof(((struct cfg_pin *)0)->path),
                                            0,
                                            0};
    if (cfg_set(&pin_path, p, cfgpath, file, &why) != 0)
        return -1;
    snprintf(p->url, sizeof p->url, "%s", url);
    c->nverify_pin++;
    return 0;
}

/* One file: the main configuration, or (restricted) the store's
 * appliance.conf, which may only set token, pin_file and credentials. */
static int cfg_parse(const struct cfg_files *fs, const char *path, struct cfg *c, int restricted,
                     char *err, size_t errlen)
{
    char line[2048];
    int lineno = 0, rc = STI_ECONFIG;
    struct cfg_cred *cur = NULL;
    struct cfg_peer *peer = NULL;
    const struct cfg_file *mem = fs ? cfg_files_find(fs, path) : NULL;
    /* An empty file has nothing to read: a newline reads the same. */
    FILE *f = !fs    ? fopen(path, "r")
              : !mem ? NULL
                     : fmemopen(mem->len ? mem->data : (char *)"\n", mem->len ? mem->len : 1, "r");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path,
                 fs && !mem ? "not sent by the parent" : strerror(errno));
        return STI_ECONFIG;
    }
    while (fgets(line, sizeof line, f)) {
        lineno++;
        if (!strchr(line, '\n') && !feof(f)) {
            cfg_err(err, errlen, path, lineno, "line too long");
            goto out;
        }
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *s = cfg_trim(line);
        if (!*s)
            continue;
        if (*s == '[') {
            char kind[16], name[CFG_NAME_MAX + 2];
            if (sscanf(s, "[%15[a-z] %64[A-Za-z0-9_.-]]", kind, name) != 2 ||
                s[strlen(s) - 1] != ']' || strlen(name) > CFG_NAME_MAX ||
                (strcmp(kind, "credential") != 0 && strcmp(kind, "peer") != 0)) {
                cfg_err(err, errlen, path, lineno, "expected [credential NAME] or [peer NAME]");
                goto out;
            }
            int is_peer = kind[0] == 'p';
            if (is_peer && restricted) {
                cfg_err(err, errlen, path, lineno, "[peer] belongs in the main configuration");
                goto out;
            }
            unsigned *count = is_peer ? &c->npeer : &c->ncred;
            if (*count == (is_peer ? CFG_MAX_PEERS : CFG_MAX_CREDS)) {
                cfg_err(err, errlen, path, lineno, "too many %s sections", kind);
                goto out;
            }
            for (unsigned i = 0; i < *count; i++)
                if (strcmp(is_peer ? c->peer[i].name : c->cred[i].name, name) == 0) {
                    cfg_err(err, errlen, path, lineno, "%s %s defined twice", kind, name);
                    goto out;
                }
            if (is_peer) {
                cur = NULL;
                peer = &c->peer[c->npeer++];
                memset(peer, 0, sizeof *peer);
                strcpy(peer->name, name);
                peer->uid = peer->gid = -1;
                peer->line = lineno;
            } else {
                peer = NULL;
                cur = &c->cred[c->ncred++];
                memset(cur, 0, sizeof *cur);
                strcpy(cur->name, name);
                cur->line = lineno;
            }
            continue;
        }
        char *eq = strchr(s, '=');
        if (!eq) {
            cfg_err(err, errlen, path, lineno, "expected key = value");
            goto out;
        }
        *eq = '\0';
        char *key = cfg_trim(s), *val = cfg_trim(eq + 1);
        if (!cur && !peer && !restricted && strcmp(key, "verify_pin") == 0) {
            if (cfg_pin_parse(c, path, val) != 0) {
                cfg_err(err, errlen, path, lineno,
                        "verify_pin: expected URL FILE (https x5u, at most %d pins)", CFG_MAX_PINS);
                goto out;
            }
            continue;
        }
        int is_uid = strcmp(key, "uid") == 0 || strcmp(key, "user") == 0;
        int is_gid = strcmp(key, "gid") == 0 || strcmp(key, "group") == 0;
        if (peer && (is_uid || is_gid)) {
            long id;
            if (cfg_id_parse(val, is_gid, &id) != 0) {
                cfg_err(err, errlen, path, lineno, "%s: no such %s", key,
                        is_gid ? "group" : "user");
                goto out;
            }
            if (is_gid)
                peer->gid = id;
            else
                peer->uid = id;
            continue;
        }
        const struct cfg_key *table = cur ? cred_keys : peer ? peer_keys : cfg_keys;
        size_t n = cur    ? sizeof cred_keys / sizeof cred_keys[0]
                   : peer ? sizeof peer_keys / sizeof peer_keys[0]
                          : sizeof cfg_keys / sizeof cfg_keys[0];
        const struct cfg_key *k = NULL;
        for (size_t i = 0; i < n; i++)
            if (strcmp(table[i].name, key) == 0 && table[i].size)
                k = &table[i];
        if (k && restricted && !cur && strcmp(key, "token") != 0 && strcmp(key, "pin_file") != 0)
            k = NULL;
        if (!k) {
            cfg_err(err, errlen, path, lineno, "unknown key '%s'%s", key,
                    cur    ? " in a credential section"
                    : peer ? " in a peer section"
                           : "");
            goto out;
        }
        const char *why = "";
        void *base = cur ? (void *)cur : peer ? (void *)peer : (void *)c;
        if (cfg_set(k, base, path, val, &why) != 0) {
            cfg_err(err, errlen, path, lineno, "%s: %s", key, why);
            goto out;
        }
    }
    for (unsigned i = 0; i < c->npeer; i++) {
        struct cfg_peer *pp = &c->peer[i];
        if ((pp->uid < 0) == (pp->gid < 0) || !pp->scope[0]) {
            cfg_err(err, errlen, path, pp->line, "peer %s needs scope and one of uid or gid",
                    pp->name);
            goto out;
        }
    }
    long ids[CFG_MAX_IDS];
    size_t nids;
    if (cfg_ids_parse(c->allow_uid, 0, ids, CFG_MAX_IDS, &nids) ||
        cfg_ids_parse(c->allow_gid, 1, ids, CFG_MAX_IDS, &nids)) {
        cfg_err(err, errlen, path, lineno, "allow_uid/allow_gid: unknown user or group");
        goto out;
    }

    for (unsigned i = 0; i < c->ncred; i++) {
        struct cfg_cred *cc = &c->cred[i];
        if (!cc->key[0] || !cc->chain[0] || !cc->x5u[0]) {
            cfg_err(err, errlen, path, cc->line, "credential %s needs key, chain and x5u",
                    cc->name);
            goto out;
        }
    }
    rc = STI_OK;
out:
    fclose(f);
    return rc;
}

static int cfg_load_from(const struct cfg_files *fs, const char *path, struct cfg *c, char *err,
                         size_t errlen)
{
    int rc = cfg_parse(fs, path, c, 0, err, errlen);
    if (rc)
        return rc;
    if (c->store_dir[0]) {
        char app[CFG_PATH_MAX + 32];
        snprintf(app, sizeof app, "%s/appliance.conf", c->store_dir);
        int there = fs ? cfg_files_find(fs, app) != NULL : access(app, F_OK) == 0;
        if (there && (rc = cfg_parse(fs, app, c, 1, err, errlen)))
            return rc;
        if (!c->pin_file[0] &&
            snprintf(c->pin_file, sizeof c->pin_file, "%.*s/pin", (int)sizeof c->pin_file - 5,
                     c->store_dir) >= (int)sizeof c->pin_file)
            return STI_ECONFIG;
    }
    /* With a store the appliance may start unprovisioned and be set up from
     * its console; without one, the token and its PIN must be named here. */
    if (!c->store_dir[0] && (!c->pin_file[0] || !c->token[0])) {
        snprintf(err, errlen, "%s: token and pin_file are required (or store_dir)", path);
        return STI_ECONFIG;
    }
    return STI_OK;
}

int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen)
{
    return cfg_load_from(NULL, path, c, err, errlen);
}

int cfg_load_files(const struct cfg_files *fs, const char *path, struct cfg *c, char *err,
                   size_t errlen)
{
    return cfg_load_from(fs, path, c, err, errlen);
}

int cfg_files_add(struct cfg_files *fs, const char *path, const void *data, size_t len)
{
    if (fs->n == CFG_FILES_MAX || len > CFG_FILE_MAX || strlen(path) >= CFG_PATH_MAX)
        return STI_ETOOMANY;
    if (cfg_files_find(fs, path))
        return STI_EEXISTS;
    struct cfg_file *f = &fs->f[fs->n];
    f->data = malloc(len ? len : 1);
    if (!f->data)
        return STI_ENOMEM;
    memcpy(f->data, data, len);
    f->len = len;
    snprintf(f->path, sizeof f->path, "%s", path);
    fs->n++;
    return STI_OK;
}

const struct cfg_file *cfg_files_find(const struct cfg_files *fs, const char *path)
{
    for (unsigned i = 0; i < fs->n; i++)
        if (strcmp(fs->f[i].path, path) == 0)
            return &fs->f[i];
    return NULL;
}

void cfg_files_free(struct cfg_files *fs)
{
    for (unsigned i = 0; i < fs->n; i++)
        free(fs->f[i].data);
    fs->n = 0;
}

int cfg_read(const struct cfg_files *fs, const char *path, char **data, size_t *len)
{
    if (fs) {
        const struct cfg_file *f = cfg_files_find(fs, path);
        if (!f)
            return STI_ENOTFOUND;
        *data = malloc(f->len + 1);
        if (!*data)
            return STI_ENOMEM;
        memcpy(*data, f->data, f->len);
        (*data)[f->len] = '\0';
        *len = f->len;
        return STI_OK;
    }
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? STI_ENOTFOUND : STI_EIO;
    char *buf = malloc(CFG_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, CFG_FILE_MAX + 1, f) : 0;
    int bad = ferror(f);
    fclose(f);
    if (!buf || bad || n > CFG_FILE_MAX) {
        free(buf);
        return !buf ? STI_ENOMEM : bad ? STI_EIO : STI_ETOOLONG;
    }
    buf[n] = '\0';
    *data = buf;
    *len = n;
    return STI_OK;
}

/* One file into the set; a file that is not there is not an error (the
 * reader of the set will say what is missing). */
static int cfg_files_take(struct cfg_files *fs, const char *path, char *err, size_t errlen)
{
    char *data = NULL;
    size_t n = 0;
    if (cfg_files_find(fs, path))
        return STI_OK;
    int rc = cfg_read(NULL, path, &data, &n);
    if (rc == STI_ENOTFOUND)
        return STI_OK;
    if (rc == STI_OK)
        rc = cfg_files_add(fs, path, data, n);
    free(data);
    if (rc)
        snprintf(err, errlen, "%s: %s", path, sti_strerror(rc));
    return rc;
}

int cfg_files_collect(const char *path, const struct cfg *c, struct cfg_files *fs, char *err,
                      size_t errlen)
{
    char app[CFG_PATH_MAX + 32];
    int rc = cfg_files_take(fs, path, err, errlen);
    if (rc == STI_OK && c->store_dir[0]) {
        snprintf(app, sizeof app, "%s/appliance.conf", c->store_dir);
        rc = cfg_files_take(fs, app, err, errlen);
    }
    for (unsigned i = 0; rc == STI_OK && i < c->ncred; i++)
        rc = cfg_files_take(fs, c->cred[i].chain, err, errlen);
    return rc;
}
