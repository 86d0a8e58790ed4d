/*
 * config.h — stisignd's configuration file.
 *
 *   # comment
 *   socket      = /run/stisign/sign.sock
 *   socket_mode = 0660
 *   module      = /usr/lib/softhsm/libsofthsm2.so
 *   token       = stisign                       (label or pkcs11: URI)
 *   pin_file    = /etc/stisign/pin              (mode 0600, never the PIN itself)
 *   workers     = 2
 *   worker_mode = process                        (the only shape left)
 *   allow_uid   = asterisk 1001                 (SO_PEERCRED allow-lists; empty = any)
 *   allow_gid   = pbx                           (members, see below)
 *   [peer tenant-a]                              (optional per-peer TN scope)
 *   uid   = 1001                                 (or user =; or gid = / group =)
 *   scope = range:12025550100/50
 *
 * Access is keyed by what the client cannot choose: its uid (SO_PEERCRED)
 * and its groups as the user database has them for that uid (the passwd
 * entry's group and every group listing the user: getpwuid_r +
 * getgrouplist, read once per connection), never the gid the client runs
 * with, which it picks (newgrp). A gid in allow_gid or a [peer] gid/group
 * admits every member. A client matched by several [peer] sections (its
 * uid, any of its groups) signs only numbers inside every one of their
 * scopes: the narrowest applies, so being in one more group never widens
 * what it may sign. A client in no [peer] section is not limited by any.
 * SIGHUP applies [peer] sections, allow_uid, allow_gid and the iat window
 * to every connection, open ones included, from its next request on.
 *   [credential acme]
 *   key   = acme-af                              (key label or pkcs11: URI)
 *   chain = /etc/stisign/acme-chain.pem          (leaf first)
 *   x5u   = https://cr.example.com/acme.pem
 *
 * With `store_dir = DIR`, DIR/appliance.conf (written by the console's
 * store, atomically) is read after the main file and may set token,
 * pin_file (default DIR/pin) and [credential] sections; the daemon may then
 * start unprovisioned. Without a store, token and pin_file are required.
 *
 * `console = pty|tty|stdio|none` (default none) runs the provisioning
 * console on the board's console device; `console_path` is the tty device
 * or the pty's link; `console_idle_s` (default 600) the idle logout.
 *
 * `verify_sample = N` (default 0 = off; 1 every signature): the HSM
 * worker verifies one signature in N with mbedTLS and withholds a bad one
 * (409). `key_session_copy = yes|no` (default yes): each HSM worker signs
 * with a session-object copy of each key, made inside the token when its
 * session opens (see HSM_OPEN_SESSION_COPY); no: with the token object.
 * `worker_affinity = yes|no` (default yes): with at least as many CPUs
 * allowed to the daemon as workers, worker i is bound to the i-th CPU.
 * `loop_sched_batch = yes|no` (default yes): the event loop thread runs
 * as SCHED_BATCH (a woken loop does not preempt a signing worker; the
 * workers stay SCHED_OTHER); only when the daemon was started SCHED_OTHER.
 * `http_listen = [HOST:]PORT` (default off; HOST defaults to
 * 127.0.0.1) serves GET /metrics; with `publish_chain = yes` also each
 * credential's chain at /x5u/NAME.pem and at the path of its x5u URL.
 *
 * Verifier (docs/verify.md): `verify_crl = require|prefer|off` (default
 * prefer), `verify_crl_http`, `verify_fetch_ports` (default "443 8443"),
 * `verify_fetch_timeout_ms|max_head|max_body|max_crl_body|max_inflight`,
 * `verify_cache_max_entries|max_bytes|ttl_min|ttl_max|ttl_default|neg_ttl`,
 * `verify_max_pending`, `verify_pin = URL FILE` (repeatable).
 * Privilege separation: `user` (default _stisign) runs the processes that
 * parse network bytes; `sandbox_root` (default /run/stisign/empty) is
 * their empty root.
 *
 * Board: `board_state_dir = DIR` (sim: DIR/leds, DIR/watchdog,
 * DIR/last-reset, DIR/slots), `watchdog_ms = N` (0 = off; kicked only while
 * healthy), `watchdog_device` (linux, default /dev/watchdog), `led_ready`,
 * `led_fault`, `led_activity` (linux sysfs LED names), `update_vendor_key`
 * (PEM public key; default: the board's compiled-in key), `test_hooks =
 * yes` (SIGUSR2 blocks the event loop for 3 x watchdog_ms: a test hook).
 *
 * `sandbox = enforce|log|off` (default enforce; docs/sandbox.md): each HSM
 * worker process confines itself to its system call allow-list once its
 * session is open (bsp_sandbox); log lets calls outside the list through
 * and has the kernel log them; off installs no filter (no-new-privs and
 * not-dumpable stay). Thread workers share the daemon and are not confined.
 *
 * Conventions: struct cfg is plain data filled by cfg_load; relative paths
 * are taken relative to the config file's folder. On error, err receives
 * "FILE:LINE: what is wrong".
 */
#ifndef STI_CONFIG_H
#define STI_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "hsm.h"
#include "passport.h"

#define CFG_PATH_MAX 512
#define CFG_MAX_CREDS HSM_MAX_KEYS
#define CFG_NAME_MAX 63

struct cfg_cred {
    char name[CFG_NAME_MAX + 1];
    char key[256];
    char chain[CFG_PATH_MAX];
    char x5u[PP_X5U_MAX + 1];
    int line;
};

/* A local client identified by SO_PEERCRED, with the numbers it may sign
 * for: one appliance, several tenants, none signing for another. */
struct cfg_peer {
    char name[CFG_NAME_MAX + 1];
    long uid; /* uid = / user =; -1 when matched by group */
    long gid; /* gid = / group = (its members); -1 when matched by uid */
    char scope[2048];
    int line;
};

#define CFG_MAX_IDS 32
#define CFG_MAX_PEERS 32
#define CFG_MAX_PINS 32

/* verify_pin = URL FILE: the verifier serves FILE's chain for that x5u
 * without fetching, and never lets it expire (offline and test use). */
struct cfg_pin {
    char url[PP_X5U_MAX + 1];
    char path[CFG_PATH_MAX];
};

struct cfg {
    char socket[108];
    mode_t socket_mode;
    char socket_group[64];
    char module[CFG_PATH_MAX];
    char token[256];
    char pin_file[CFG_PATH_MAX];
    char pid_file[CFG_PATH_MAX];
    char store_dir[CFG_PATH_MAX];    /* the appliance's store: appliance.conf, pin, chains */
    char console[16];                /* provisioning console: pty|tty|stdio|none */
    char console_path[CFG_PATH_MAX]; /* tty device, or where to link the pty */
    unsigned console_idle_s;         /* console idle logout */
    unsigned workers;
    unsigned window;
    int worker_affinity;  /* worker i bound to the i-th CPU when CPUs >= workers */
    int loop_sched_batch; /* the event loop thread SCHED_BATCH, workers SCHED_OTHER */
    unsigned max_queue;
    unsigned max_conns;
    unsigned max_pending;
    int frame_timeout_ms;
    int write_timeout_ms;
    int start_timeout_ms;
    char log_level[16];
    int log_syslog;
    unsigned verify_sample; /* worker verifies 1 signature in N with mbedTLS; 0 off */
    int key_session_copy;   /* workers sign with session copies of the keys */
    char http_listen[128];  /* [HOST:]PORT of the metrics/STI-CR endpoint; empty: off */
    int publish_chain;      /* serve each credential's chain at its x5u path */
    /* board (bsp.h): state folder (sim: LEDs, watchdog record, update
     * slots), watchdog timeout (0 off), linux watchdog device and sysfs LED
     * names by role (ready, fault, activity), the vendor's update key */
    char board_state_dir[CFG_PATH_MAX];
    unsigned watchdog_ms;
    char watchdog_device[CFG_PATH_MAX];
    char update_vendor_key[CFG_PATH_MAX];
    char led_name[3][64];
    int test_hooks;                         /* SIGUSR2 wedges the loop (watchdog tests only) */
    int sandbox;                            /* enum bsp_sandbox_mode of the worker processes */
    char verify_trust_anchor[CFG_PATH_MAX]; /* enables the RPC verify operation */
    char verify_cache_dir[CFG_PATH_MAX];
    char verify_tls_ca[CFG_PATH_MAX];
    unsigned verify_max_age;
    int verify_fetch;
    char verify_spc_policy[8];
    unsigned verify_threads;    /* no longer used: the verifier is one process */
    char verify_crl[8];         /* require | prefer | off */
    int verify_crl_http;        /* CRL distribution points over plain http */
    char verify_ports[64];      /* verify_fetch_ports: ports an x5u or CRL URL may name */
    unsigned verify_timeout_ms; /* one fetch, resolve to last byte */
    unsigned verify_max_head, verify_max_body, verify_max_crl_body, verify_max_inflight;
    unsigned verify_cache_entries, verify_cache_bytes;
    unsigned verify_ttl_min, verify_ttl_max, verify_ttl_default, verify_neg_ttl;
    unsigned verify_max_pending;
    struct cfg_pin verify_pin[CFG_MAX_PINS];
    unsigned nverify_pin;
    /* privilege separation (docs/architecture.md) */
    char user[64];                   /* the front's and the verifier's user */
    char sandbox_root[CFG_PATH_MAX]; /* their empty root */
    unsigned iat_past_s;             /* oldest caller iat accepted, seconds before now */
    unsigned iat_future_s;           /* newest caller iat accepted, seconds after now */
    char allow_uid[256];             /* space-separated uids or user names; empty = any */
    char allow_gid[256];             /* space-separated gids or group names: their members */
    struct cfg_cred cred[CFG_MAX_CREDS];
    unsigned ncred;
    struct cfg_peer peer[CFG_MAX_PEERS];
    unsigned npeer;
};

/* The bytes of the files a configuration is read from, for a process that
 * may not read them itself: the parent collects them (cfg_files_collect)
 * and sends them; the front reads its configuration and its credentials'
 * chains from them (cfg_load_files, cred_load_files). */
#define CFG_FILES_MAX (2 + CFG_MAX_CREDS)
#define CFG_FILE_MAX (128 * 1024)
struct cfg_file {
    char path[CFG_PATH_MAX];
    char *data;
    size_t len;
};
struct cfg_files {
    struct cfg_file f[CFG_FILES_MAX];
    unsigned n;
};
int cfg_files_add(struct cfg_files *fs, const char *path, const void *data, size_t len);
const struct cfg_file *cfg_files_find(const struct cfg_files *fs, const char *path);
void cfg_files_free(struct cfg_files *fs);
/* path (already loaded into c): the main file, the store's appliance.conf
 * when there is one, and every credential's chain. */
int cfg_files_collect(const char *path, const struct cfg *c, struct cfg_files *fs, char *err,
                      size_t errlen);

void cfg_defaults(struct cfg *c);
/* A user or group given by number or name. */
int cfg_id_parse(const char *s, int group, long *id);
/* A space/comma-separated list of them. */
int cfg_ids_parse(const char *list, int group, long *ids, size_t max, size_t *n);
int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen);
/* The same, reading only from fs (a file missing from it does not exist). */
int cfg_load_files(const struct cfg_files *fs, const char *path, struct cfg *c, char *err,
                   size_t errlen);
/* A file of fs, or from disk when fs is NULL; malloc'd, at most
 * CFG_FILE_MAX bytes (STI_ETOOLONG), STI_ENOTFOUND when missing. */
int cfg_read(const struct cfg_files *fs, const char *path, char **data, size_t *len);

#endif
