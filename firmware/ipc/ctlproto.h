/*
 * ctlproto.h — messages between the parent and the front
 * (docs/architecture.md). The parent holds what the front must not: the
 * PIN, the store, the right to start processes, the board. The front asks
 * for what it needs and reports its health; the parent never parses bytes
 * that came from the network, only these messages.
 *
 *   parent -> front  FILE      a configuration file's bytes (path, content):
 *                              the front reads no file itself
 *   parent -> front  FILES_END the set is complete: start (gen 1) or reload
 *   parent -> front  LISTENER  a bound listening socket (kind) + descriptor
 *   parent -> front  WORKER    a started HSM worker (pool, index, pid) with
 *                              its channel, or why none could be started
 *   parent -> front  VERIFIER  the verifier process's channel (pid)
 *   parent -> front  STOP      drain and exit
 *   front -> parent  SPAWN     start HSM worker `index` of pool `pool` with
 *                              the keys of configuration `gen`, bound to
 *                              cpu (-1: any), SCHED_OTHER if asked
 *   front -> parent  KILL      the worker pid is stuck or broken
 *   front -> parent  HEALTH    state, reason, counters, and the credentials
 *                              in use (for the watchdog, systemd, LEDs and
 *                              the console's status and reconciliation)
 *   front -> parent  READY     serving (gen), or the start failed (code)
 *
 * Every decoder takes one message, checks its type, its bounds and that it
 * is consumed exactly. Conventions as buf.h: caller-owned storage.
 */
#ifndef STI_CTLPROTO_H
#define STI_CTLPROTO_H

#include <stddef.h>
#include <stdint.h>

#define CTL_PATH_MAX 512
#define CTL_FILE_MAX (128 * 1024)
#define CTL_REASON_MAX 200
#define CTL_CREDS_MAX 64
#define CTL_NAME_MAX 63
#define CTL_X5U_MAX 512

enum ctl_type {
    CTL_FILE = 1,
    CTL_FILES_END = 2,
    CTL_LISTENER = 3,
    CTL_WORKER = 4,
    CTL_VERIFIER = 5,
    CTL_STOP = 6,
    CTL_SPAWN = 16,
    CTL_KILL = 17,
    CTL_HEALTH = 18,
    CTL_READY = 19,
};

enum ctl_listener { CTL_LISTEN_RPC = 1, CTL_LISTEN_HTTP = 2 };

struct ctl_file {
    char path[CTL_PATH_MAX];
    const uint8_t *data; /* decode: points into the message */
    size_t len;
};

struct ctl_files_end {
    uint32_t gen; /* configuration generation: 1 at start, +1 per reload */
    uint16_t nfiles;
};

struct ctl_worker {
    uint32_t pool;   /* the front's pool instance */
    uint16_t index;  /* worker slot in it */
    uint32_t pid;    /* 0 when status != 0 */
    uint16_t status; /* 0, or why no worker was started */
};

struct ctl_spawn {
    uint32_t pool;
    uint16_t index;
    uint32_t gen;
    int16_t cpu; /* -1: unbound */
    uint8_t sched_other;
};

struct ctl_cred_state {
    char name[CTL_NAME_MAX + 1];
    char x5u[CTL_X5U_MAX];
    uint8_t bound, state; /* cred_state(): 0 valid, 1 expired, 2 not yet, 3 unavailable */
    uint8_t leaf_sha256[32];
    uint64_t signed_ok;
};

struct ctl_health {
    uint8_t state; /* enum wire_state */
    char reason[CTL_REASON_MAX];
    uint32_t gen; /* configuration in use */
    uint64_t signed_ok, failed, hsm_errors, worker_deaths;
    uint32_t in_flight, workers, ready;
    uint16_t last_error;
    uint8_t selftest; /* 0 not run, 1 passed, 2 failed, 3 running */
    uint8_t have_pool;
    uint16_t ncreds;
    struct ctl_cred_state cred[CTL_CREDS_MAX];
};

struct ctl_ready {
    uint32_t gen;
    uint16_t status;
};

#define CTL_MSG_MAX (1 + 2 + CTL_PATH_MAX + 4 + CTL_FILE_MAX)

int ctl_type_of(const uint8_t *p, size_t n, uint8_t *type);

int ctl_file_encode(const char *path, const void *data, size_t len, uint8_t *out, size_t cap,
                    size_t *n);
int ctl_file_decode(const uint8_t *p, size_t n, struct ctl_file *f);
int ctl_files_end_encode(const struct ctl_files_end *e, uint8_t *out, size_t cap, size_t *n);
int ctl_files_end_decode(const uint8_t *p, size_t n, struct ctl_files_end *e);
int ctl_listener_encode(uint8_t kind, uint8_t *out, size_t cap, size_t *n);
int ctl_listener_decode(const uint8_t *p, size_t n, uint8_t *kind);
int ctl_worker_encode(const struct ctl_worker *w, uint8_t *out, size_t cap, size_t *n);
int ctl_worker_decode(const uint8_t *p, size_t n, struct ctl_worker *w);
int ctl_verifier_encode(uint32_t pid, uint8_t *out, size_t cap, size_t *n);
int ctl_verifier_decode(const uint8_t *p, size_t n, uint32_t *pid);
int ctl_stop_encode(uint8_t *out, size_t cap, size_t *n);
int ctl_stop_decode(const uint8_t *p, size_t n);
int ctl_spawn_encode(const struct ctl_spawn *s, uint8_t *out, size_t cap, size_t *n);
int ctl_spawn_decode(const uint8_t *p, size_t n, struct ctl_spawn *s);
int ctl_kill_encode(uint32_t pid, uint8_t *out, size_t cap, size_t *n);
int ctl_kill_decode(const uint8_t *p, size_t n, uint32_t *pid);
int ctl_health_encode(const struct ctl_health *h, uint8_t *out, size_t cap, size_t *n);
int ctl_health_decode(const uint8_t *p, size_t n, struct ctl_health *h);
int ctl_ready_encode(const struct ctl_ready *r, uint8_t *out, size_t cap, size_t *n);
int ctl_ready_decode(const uint8_t *p, size_t n, struct ctl_ready *r);

#endif
