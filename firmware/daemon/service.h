/*
 * service.h — the RPC operations of stisignd: sign, health, list
 * credentials. Glue between the transport (rpc/server), the credentials
 * and the HSM worker pool.
 *
 * Conventions: one struct svc per daemon, on the loop thread. Sign requests
 * take a job slot from a fixed table (no allocation per request); the slot
 * index is the pool tag. Every request gets exactly one answer unless its
 * connection closed first.
 */
#ifndef STI_SERVICE_H
#define STI_SERVICE_H

#include <stdint.h>
#include <time.h>

#include "cred.h"
#include "pool.h"
#include "server.h"
#include "verifier.h"

struct svc;

#define SVC_MAX_IDS 32
#define SVC_MAX_PEERS 32

/* A local client known by SO_PEERCRED and the numbers it may sign for.
 * uid: that uid. gid: every member of the group in the user database (the
 * group of its passwd entry, or listed as a member), never the gid the
 * peer runs with: that one the peer chooses (newgrp, setgid). */
struct svc_peer {
    char name[64];
    long uid, gid; /* one of them is -1 */
    struct scope scope;
};

/* Who may connect and what callers may ask for; gids in either list mean
 * group membership as for svc_peer. A client matched by several peer
 * entries (its uid, any of its groups) may sign only numbers inside every
 * one of their scopes: the narrowest applies, and no membership widens
 * what another entry allows. Owned by the svc after svc_new or
 * svc_set_policy (scopes freed by it). */
struct svc_policy {
    long allow_uid[SVC_MAX_IDS], allow_gid[SVC_MAX_IDS];
    size_t nuid, ngid; /* both 0: anyone who can open the socket file */
    struct svc_peer peer[SVC_MAX_PEERS];
    size_t npeer;
    unsigned iat_past_s, iat_future_s; /* window for a caller's iat */
    time_t clock_floor;                /* a clock before this is wrong */
};

struct svc_counters {
    uint64_t signed_ok, failed;
    uint32_t in_flight;
};

/* Latency of each signature from submit to the worker's answer, for the
 * metrics: counts per bucket (not cumulative; the last is +Inf). */
#define SVC_LAT_BUCKETS 13
extern const double svc_lat_bounds[SVC_LAT_BUCKETS]; /* upper bounds, seconds */
struct svc_metrics {
    uint64_t lat_bucket[SVC_LAT_BUCKETS + 1];
    uint64_t lat_sum_ns, lat_count;
};

int svc_new(struct cred_table *creds, const struct svc_policy *pol, uint32_t max_jobs,
            struct svc **out);
void svc_free(struct svc *s);
/* Wires the pool and server in after they are created. */
void svc_attach(struct svc *s, struct pool *pool, struct rpc_server *srv);
/* New requests go to this pool with these credentials (reload); jobs in
 * flight finish on the old ones, which the caller frees once drained. */
void svc_swap(struct svc *s, struct pool *pool, struct cred_table *creds);
/* Replaces the policy (reload); the old one is freed. Every connection,
 * open ones included, is judged by the new one from its next request on:
 * a client no longer allowed gets 208 STI_EDENIED for it and is closed.
 * Connections keep no pointer into a policy, only a generation number. */
void svc_set_policy(struct svc *s, const struct svc_policy *pol);
/* The handler to give rpc_server_start, and the pool callbacks. */
void svc_handler(struct svc *s, struct rpc_handler *h);
void svc_on_result(void *arg, uint32_t tag, int status, const uint8_t *sig);
void svc_on_pool_state(void *arg);
/* The verify operation: the verifier to use (NULL: not configured), and its
 * completion callback (give it to verifier_start with the svc as arg). */
void svc_set_verifier(struct svc *s, struct verifier *v);
void svc_on_verified(void *arg, struct rpc_conn_ref ref, uint32_t id, const struct vs_result *r);
void svc_counters(const struct svc *s, struct svc_counters *c);
void svc_metrics(const struct svc *s, struct svc_metrics *m);
/* A fault that stops all signing (code, e.g. STI_EHSM_SELFTEST, answers
 * every sign request; health says down with the reason); 0 clears it. */
void svc_set_fault(struct svc *s, int code, const char *reason);
/* The health state (enum wire_state) and its reason, as the health
 * operation reports them: for the watchdog, systemd and the metrics. */
int svc_health_state(const struct svc *s, char *reason, size_t cap);

#endif
