/* service.c — sign, health and list-credentials on the RPC. */
#include "service.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "log.h"
#include "sti_err.h"
#include "wire.h"

#ifndef STI_VERSION
#define STI_VERSION "dev"
#endif

#define SVC_RESP_MAX (WIRE_HDR_LEN + PP_IDENTITY_MAX + 256)

struct svc_job {
    struct rpc_conn_ref conn;
    uint32_t req_id;
    const struct cred *cred;
    int64_t iat;
    uint64_t t0_ns; /* submitted (CLOCK_MONOTONIC), for the latency histogram */
    char origid[UUID_BUF];
    size_t claims_len;
    char claims[PP_CLAIMS_B64_MAX]; /* b64u(claims JSON) */
};

/* What the service knows of one client (its connection's udata): who it
 * is by what it cannot choose, and what policy generation gen makes of it.
 * No pointer into a policy: a reload only bumps the generation. */
struct svc_conn {
    uid_t uid;
    int uid_known;    /* SO_PEERCRED answered */
    int groups_known; /* looked up in the user database */
    gid_t *groups;
    int ngroups;
    uint32_t gen;
    uint32_t match; /* bit i: pol.peer[i] applies to this client */
    int allowed;
};

_Static_assert(SVC_MAX_PEERS <= 32, "svc_conn.match has a bit per peer entry");

struct svc {
    struct cred_table *creds;
    struct svc_policy pol;
    uint32_t pol_gen; /* bumped by svc_set_policy */
    int pol_groups;   /* the policy names a group: connections need theirs */
    struct verifier *vfy;
    struct pool *pool;
    struct rpc_server *srv;
    struct svc_job *jobs;
    uint32_t *free_jobs;
    uint32_t nfree, max_jobs;
    uint8_t rnd[4096]; /* kernel randomness for origids, refilled in bulk */
    size_t rnd_off;
    time_t started;
    struct svc_counters cnt;
    struct svc_metrics m;
    int fault; /* non-zero: every sign gets this code (svc_set_fault) */
    char fault_reason[200];
};

const double svc_lat_bounds[SVC_LAT_BUCKETS] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                                0.025,  0.05,    0.1,    0.25,  0.5,    1.0};
static const uint64_t svc_lat_bounds_ns[SVC_LAT_BUCKETS] = {
    100000,   250000,   500000,    1000000,   2500000,   5000000,   10000000,
    25000000, 50000000, 100000000, 250000000, 500000000, 1000000000};

static uint64_t svc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void svc_metrics(const struct svc *s, struct svc_metrics *m)
{
    *m = s->m;
}

void svc_set_fault(struct svc *s, int code, const char *reason)
{
    s->fault = code;
    snprintf(s->fault_reason, sizeof s->fault_reason, "%s", code && reason ? reason : "");
}

static void svc_policy_free(struct svc_policy *p)
{
    for (size_t i = 0; i < p->npeer; i++)
        scope_free(&p->peer[i].scope);
    p->npeer = 0;
}

void svc_set_policy(struct svc *s, const struct svc_policy *pol)
{
    svc_policy_free(&s->pol);
    s->pol = *pol;
    s->pol_groups = pol->ngid > 0;
    for (size_t i = 0; i < pol->npeer; i++)
        s->pol_groups |= pol->peer[i].gid >= 0;
    s->pol_gen++;
}

int svc_new(struct cred_table *creds, const struct svc_policy *pol, uint32_t max_jobs,
            struct svc **out)
{
    struct svc *s = calloc(1, sizeof *s);
    if (!s)
        return STI_ENOMEM;
    s->creds = creds;
    svc_set_policy(s, pol);
    s->max_jobs = max_jobs;
    s->jobs = calloc(max_jobs, sizeof *s->jobs);
    s->free_jobs = calloc(max_jobs, sizeof *s->free_jobs);
    if (!s->jobs || !s->free_jobs) {
        svc_free(s);
        return STI_ENOMEM;
    }
    /* LIFO free list: the hottest slots are reused, the rest stay untouched. */
    for (uint32_t i = 0; i < max_jobs; i++)
        s->free_jobs[s->nfree++] = max_jobs - 1 - i;
    s->rnd_off = sizeof s->rnd;
    s->started = time(NULL);
    *out = s;
    return STI_OK;
}

void svc_free(struct svc *s)
{
    if (!s)
        return;
    svc_policy_free(&s->pol);
    free(s->jobs);
    free(s->free_jobs);
    free(s);
}

void svc_attach(struct svc *s, struct pool *pool, struct rpc_server *srv)
{
    s->pool = pool;
    s->srv = srv;
}

void svc_set_verifier(struct svc *s, struct verifier *v)
{
    s->vfy = v;
}

void svc_swap(struct svc *s, struct pool *pool, struct cred_table *creds)
{
    s->pool = pool;
    s->creds = creds;
}

void svc_counters(const struct svc *s, struct svc_counters *c)
{
    *c = s->cnt;
}

static int svc_random16(struct svc *s, uint8_t out[16])
{
    if (s->rnd_off + 16 > sizeof s->rnd) {
        if (getrandom(s->rnd, sizeof s->rnd, 0) != (ssize_t)sizeof s->rnd)
            return STI_EINTERNAL;
        s->rnd_off = 0;
    }
    memcpy(out, s->rnd + s->rnd_off, 16);
    memset(s->rnd + s->rnd_off, 0, 16);
    s->rnd_off += 16;
    return STI_OK;
}

static void svc_reply_error(struct rpc_conn *c, uint8_t op, uint32_t id, int code)
{
    uint8_t frame[512];
    struct buf_wr w;
    buf_wr_init(&w, frame, sizeof frame);
    if (wire_error_frame(&w, op, id, (uint16_t)code, sti_strerror(code)) == STI_OK)
        rpc_conn_send(c, frame, w.off);
}

/* 1 when every peer entry that applies to the client covers tn: the
 * narrowest applies (none applies: no peer limit). */
static int svc_peer_covers(const struct svc *s, uint32_t match, const char *tn)
{
    for (; match; match &= match - 1)
        if (!scope_covers_tn(&s->pol.peer[__builtin_ctz(match)].scope, tn))
            return 0;
    return 1;
}

/* Everything a sign request needs before the HSM: decode, normalise,
 * choose the credential, build and hash the signing input. */
static int svc_sign_prepare(struct svc *s, uint32_t match, const uint8_t *body, size_t n,
                            struct svc_job *job, uint8_t digest[32])
{
    struct wire_sign_req req;
    struct pp_claims cl;
    int rc;
    STI_TRY(wire_sign_req_decode(body, n, &req));
    memset(&cl, 0, sizeof cl);
    STI_TRY(tn_normalize(req.orig, strlen(req.orig), cl.orig));
    for (unsigned i = 0; i < req.ndest; i++)
        STI_TRY(tn_normalize(req.dest[i], strlen(req.dest[i]), cl.dest[i]));
    cl.ndest = req.ndest;
    cl.attest = req.attest;
    if (req.has_origid) {
        STI_TRY(uuid_normalize(req.origid, strlen(req.origid), cl.origid));
    } else {
        uint8_t r[16];
        STI_TRY(svc_random16(s, r));
        uuid_v4_format(r, cl.origid);
    }
    time_t now = time(NULL);
    /* Verifiers reject a future iat and a stale one: never sign either, and
     * never sign with a clock known to be wrong. */
    STI_CHECK(now >= s->pol.clock_floor, STI_ECLOCK);
    STI_CHECK(!req.has_iat || (req.iat <= (uint64_t)now + s->pol.iat_future_s &&
                               req.iat + s->pol.iat_past_s >= (uint64_t)now),
              STI_EIAT);
    cl.iat = req.has_iat ? (int64_t)req.iat : (int64_t)now;
    /* Checks the claims (exact codes) while encoding them. */
    STI_TRY(pp_claims_b64(&cl, job->claims, sizeof job->claims, &job->claims_len));
    STI_CHECK(svc_peer_covers(s, match, cl.orig), STI_ESCOPE_PEER);
    STI_TRY(cred_select(s->creds, cl.orig, now, &job->cred));
    pp_cred_digest(&job->cred->pp, job->claims, job->claims_len, digest);
    job->iat = cl.iat;
    memcpy(job->origid, cl.origid, sizeof job->origid);
out:
    return rc;
}

static void svc_sign(struct svc *s, struct rpc_conn *c, const struct svc_conn *sc,
                     const struct wire_hdr *h, const uint8_t *body, size_t n)
{
    uint8_t digest[32];
    if (s->fault) {
        s->cnt.failed++;
        svc_reply_error(c, WIRE_OP_SIGN, h->id, s->fault);
        return;
    }
    if (s->nfree == 0) {
        s->cnt.failed++;
        svc_reply_error(c, WIRE_OP_SIGN, h->id, STI_EBUSY);
        return;
    }
    uint32_t tag = s->free_jobs[s->nfree - 1];
    struct svc_job *job = &s->jobs[tag];
    int rc = svc_sign_prepare(s, sc->match, body, n, job, digest);
    if (rc == STI_OK)
        rc = s->pool ? pool_submit(s->pool, tag, job->cred->key_idx, digest) : STI_EHSM_UNAVAILABLE;
    if (rc) {
        s->cnt.failed++;
        svc_reply_error(c, WIRE_OP_SIGN, h->id, rc);
        return;
    }
    s->nfree--;
    job->conn = rpc_conn_ref(c);
    job->req_id = h->id;
    job->t0_ns = svc_now_ns();
    s->cnt.in_flight++;
    rpc_conn_hold(c);
}

void svc_on_result(void *arg, uint32_t tag, int status, const uint8_t *sig)
{
    struct svc *s = arg;
    struct svc_job *job = &s->jobs[tag];
    struct rpc_conn *c = rpc_conn_get(s->srv, job->conn);
    s->free_jobs[s->nfree++] = tag;
    s->cnt.in_flight--;
    uint64_t lat = svc_now_ns() - job->t0_ns;
    unsigned b = 0;
    while (b < SVC_LAT_BUCKETS && lat > svc_lat_bounds_ns[b])
        b++;
    s->m.lat_bucket[b]++;
    s->m.lat_sum_ns += lat;
    s->m.lat_count++;
    if (status) {
        s->cnt.failed++;
        ((struct cred *)job->cred)->sign_errors++;
        if (c) {
            svc_reply_error(c, WIRE_OP_SIGN, job->req_id, status);
            rpc_conn_release(c);
        }
        return;
    }
    s->cnt.signed_ok++;
    ((struct cred *)job->cred)->signed_ok++;
    if (!c)
        return; /* the client left; the signature is dropped, not misdelivered */
    static uint8_t frame[SVC_RESP_MAX];
    struct buf_wr w;
    buf_wr_init(&w, frame, sizeof frame);
    int rc = wire_frame_begin(&w, WIRE_OP_SIGN | WIRE_RESPONSE_BIT, 0, job->req_id);
    /* The Identity value is written straight into the frame. */
    size_t slot = 0, idlen = 0;
    if (!rc)
        rc = wire_nest_begin(&w, WIRE_T_IDENTITY, &slot);
    if (!rc)
        rc = pp_cred_identity(&job->cred->pp, job->claims, job->claims_len, sig,
                              (char *)w.p + w.off, w.cap - w.off, &idlen);
    if (!rc) {
        w.off += idlen;
        rc = wire_nest_end(&w, slot);
    }
    if (!rc)
        rc = wire_put_str(&w, WIRE_T_CRED, job->cred->name);
    if (!rc)
        rc = wire_put_str(&w, WIRE_T_USED_ORIGID, job->origid);
    if (!rc)
        rc = wire_put_u64(&w, WIRE_T_USED_IAT, (uint64_t)job->iat);
    if (!rc)
        rc = wire_frame_end(&w);
    if (rc)
        svc_reply_error(c, WIRE_OP_SIGN, job->req_id, STI_EINTERNAL);
    else
        rpc_conn_send(c, frame, w.off);
    rpc_conn_release(c);
}

void svc_on_pool_state(void *arg)
{
    struct svc *s = arg;
    struct pool_stats st;
    if (!s->pool)
        return;
    pool_stats(s->pool, &st);
    log_info("hsm workers ready: %u of %u", st.ready, st.workers);
}

static unsigned svc_valid_creds(const struct svc *s, time_t now)
{
    unsigned n = 0;
    for (size_t i = 0; i < s->creds->n; i++)
        n += cred_state(&s->creds->c[i], now) == WIRE_CRED_VALID;
    return n;
}

int svc_health_state(const struct svc *s, char *reason, size_t cap)
{
    struct pool_stats ps;
    time_t now = time(NULL);
    memset(&ps, 0, sizeof ps);
    if (s->pool)
        pool_stats(s->pool, &ps);
    unsigned valid = svc_valid_creds(s, now);
    int state = WIRE_STATE_READY;
    reason[0] = '\0';
    if (s->fault) {
        state = WIRE_STATE_DOWN;
        snprintf(reason, cap, "%s", s->fault_reason);
    } else if (!s->pool) {
        state = WIRE_STATE_DOWN;
        snprintf(reason, cap, "not provisioned: no token session (see the console)");
    } else if (ps.login_refused) {
        state = ps.ready ? WIRE_STATE_DEGRADED : WIRE_STATE_DOWN;
        snprintf(reason, cap, "%s: fix the PIN file and reload (%u of %u workers)",
                 ps.last_open_error == STI_EPINFILE ? "the PIN file cannot be used"
                                                    : "the token refused the PIN",
                 ps.ready, ps.workers);
    } else if (ps.ready == 0) {
        state = WIRE_STATE_DOWN;
        snprintf(reason, cap, "no HSM worker ready: %s",
                 ps.last_open_error ? sti_strerror(ps.last_open_error) : "starting");
    } else if (valid == 0) {
        state = WIRE_STATE_DOWN;
        snprintf(reason, cap, "no valid credential");
    } else if (ps.ready < ps.workers) {
        state = WIRE_STATE_DEGRADED;
        snprintf(reason, cap, "%u of %u HSM workers ready", ps.ready, ps.workers);
    } else if (ps.selftest_failures) {
        state = WIRE_STATE_DEGRADED;
        snprintf(reason, cap,
                 "%llu signature(s) failed the sampled verify and were withheld: check the token",
                 (unsigned long long)ps.selftest_failures);
    }
    return state;
}

static void svc_health(struct svc *s, struct rpc_conn *c, const struct wire_hdr *h,
                       const uint8_t *body, size_t n)
{
    uint8_t frame[1024];
    struct buf_wr w;
    struct pool_stats ps;
    int rc = wire_empty_req_decode(body, n);
    if (rc) {
        svc_reply_error(c, WIRE_OP_HEALTH, h->id, rc);
        return;
    }
    time_t now = time(NULL);
    memset(&ps, 0, sizeof ps);
    if (s->pool)
        pool_stats(s->pool, &ps);
    unsigned valid = svc_valid_creds(s, now);
    char reason[200] = "";
    uint8_t state = (uint8_t)svc_health_state(s, reason, sizeof reason);
    buf_wr_init(&w, frame, sizeof frame);
    rc = wire_frame_begin(&w, WIRE_OP_HEALTH | WIRE_RESPONSE_BIT, 0, h->id);
    if (!rc)
        rc = wire_put_u8(&w, WIRE_T_STATE, state);
    if (!rc)
        rc = wire_put_u32(&w, WIRE_T_WORKERS, ps.workers);
    if (!rc)
        rc = wire_put_u32(&w, WIRE_T_WORKERS_READY, ps.ready);
    if (!rc)
        rc = wire_put_u64(&w, WIRE_T_SIGNED, s->cnt.signed_ok);
    if (!rc)
        rc = wire_put_u64(&w, WIRE_T_FAILED, s->cnt.failed);
    if (!rc)
        rc = wire_put_u64(&w, WIRE_T_UPTIME, (uint64_t)(now - s->started));
    if (!rc)
        rc = wire_put_str(&w, WIRE_T_VERSION, STI_VERSION);
    if (!rc)
        rc = wire_put_u32(&w, WIRE_T_CREDS_VALID, valid);
    if (!rc)
        rc = wire_put_u64(&w, WIRE_T_HSM_ERRORS, ps.hsm_errors);
    if (!rc)
        rc = wire_put_u16(&w, WIRE_T_LAST_HSM_ERROR, (uint16_t)ps.last_error);
    if (!rc)
        rc = wire_put_u32(&w, WIRE_T_IN_FLIGHT, s->cnt.in_flight);
    if (!rc && reason[0])
        rc = wire_put_str(&w, WIRE_T_REASON, reason);
    if (!rc)
        rc = wire_frame_end(&w);
    if (rc)
        svc_reply_error(c, WIRE_OP_HEALTH, h->id, STI_EINTERNAL);
    else
        rpc_conn_send(c, frame, w.off);
}

static void svc_list_creds(struct svc *s, struct rpc_conn *c, const struct wire_hdr *h,
                           const uint8_t *body, size_t n)
{
    static uint8_t frame[WIRE_MAX_RESPONSE];
    struct buf_wr w;
    int rc = wire_empty_req_decode(body, n);
    if (rc) {
        svc_reply_error(c, WIRE_OP_LIST_CREDS, h->id, rc);
        return;
    }
    time_t now = time(NULL);
    buf_wr_init(&w, frame, sizeof frame);
    rc = wire_frame_begin(&w, WIRE_OP_LIST_CREDS | WIRE_RESPONSE_BIT, 0, h->id);
    for (size_t i = 0; !rc && i < s->creds->n; i++) {
        const struct cred *cr = &s->creds->c[i];
        size_t slot;
        rc = wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_C_LABEL, cr->name);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_C_X5U, cr->x5u);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_C_SUBJECT, cr->subject);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_C_SCOPE, cr->scope_text);
        if (!rc)
            rc = wire_put_u64(&w, WIRE_T_C_NOT_BEFORE, (uint64_t)cr->not_before);
        if (!rc)
            rc = wire_put_u64(&w, WIRE_T_C_NOT_AFTER, (uint64_t)cr->not_after);
        if (!rc)
            rc = wire_put_u8(&w, WIRE_T_C_STATE, (uint8_t)cred_state(cr, now));
        if (!rc)
            rc = wire_put_u64(&w, WIRE_T_C_SIGNED, cr->signed_ok);
        if (!rc)
            rc = wire_nest_end(&w, slot);
    }
    if (!rc)
        rc = wire_frame_end(&w);
    if (rc)
        svc_reply_error(c, WIRE_OP_LIST_CREDS, h->id, rc);
    else
        rpc_conn_send(c, frame, w.off);
}

static void svc_verify(struct svc *s, struct rpc_conn *c, const struct wire_hdr *h,
                       const uint8_t *body, size_t n)
{
    static struct wire_verify_req req;
    int rc = wire_verify_req_decode(body, n, &req);
    if (rc == STI_OK)
        rc = verifier_submit(s->vfy, rpc_conn_ref(c), h->id, req.identity, req.identity_len,
                             req.has_max_age ? req.max_age : 0);
    if (rc) {
        svc_reply_error(c, WIRE_OP_VERIFY, h->id, rc);
        return;
    }
    rpc_conn_hold(c);
}

void svc_on_verified(void *arg, struct rpc_conn_ref ref, uint32_t id, const struct vs_result *r)
{
    struct svc *s = arg;
    struct rpc_conn *c = rpc_conn_get(s->srv, ref);
    uint8_t frame[4096];
    struct buf_wr w;
    if (!c)
        return;
    buf_wr_init(&w, frame, sizeof frame);
    int rc = wire_frame_begin(&w, WIRE_OP_VERIFY | WIRE_RESPONSE_BIT, (uint16_t)r->code, id);
    if (!rc && r->code) {
        rc = wire_put_str(&w, WIRE_T_MESSAGE, sti_strerror(r->code));
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_V_CHECK, r->check);
        if (!rc && r->detail[0])
            rc = wire_put_str(&w, WIRE_T_V_DETAIL, r->detail);
    } else if (!rc) {
        const struct pp_claims *cl = &r->claims;
        rc = wire_put_u8(&w, WIRE_T_V_ATTEST, (uint8_t)cl->attest);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_V_ORIG, cl->orig);
        for (unsigned i = 0; !rc && i < cl->ndest; i++)
            rc = wire_put_str(&w, WIRE_T_V_DEST, cl->dest[i]);
        if (!rc)
            rc = wire_put_u64(&w, WIRE_T_V_IAT, (uint64_t)cl->iat);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_V_ORIGID, cl->origid);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_V_X5U, r->x5u);
        if (!rc)
            rc = wire_put_str(&w, WIRE_T_V_SUBJECT, r->subject);
        if (!rc)
            rc = wire_put_u8(&w, WIRE_T_V_REVOCATION, r->revocation);
    }
    if (!rc)
        rc = wire_frame_end(&w);
    if (rc)
        svc_reply_error(c, WIRE_OP_VERIFY, id, STI_EINTERNAL);
    else
        rpc_conn_send(c, frame, w.off);
    rpc_conn_release(c);
}

static int svc_id_in(long id, const long *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* The groups the user database gives uid: the group of its passwd entry
 * and every group that lists the user. No entry: no groups. These are
 * blocking NSS calls on the loop, once per connection (the appliance's
 * database is local files). */
static int svc_user_groups(uid_t uid, gid_t **out, int *n)
{
    struct passwd pw, *res = NULL;
    char *buf = NULL, *nb;
    gid_t *g = NULL, *ng;
    size_t cap = 1024;
    int rc, e, want, have = 32;
    *out = NULL;
    *n = 0;
    for (;;) {
        STI_CHECK((nb = realloc(buf, cap)) != NULL, STI_ENOMEM);
        buf = nb;
        e = getpwuid_r(uid, &pw, buf, cap, &res);
        if (e != ERANGE || cap >= (1u << 20))
            break;
        cap *= 2;
    }
    if (e == ENOENT || e == ESRCH) { /* some NSS modules say "no such user" so */
        e = 0;
        res = NULL;
    }
    STI_CHECK(e == 0, STI_EIO);
    if (res == NULL) { /* not in the database: in no group */
        rc = STI_OK;
        goto out;
    }
    for (;;) {
        STI_CHECK((ng = realloc(g, (size_t)have * sizeof *g)) != NULL, STI_ENOMEM);
        g = ng;
        want = have;
        if (getgrouplist(pw.pw_name, pw.pw_gid, g, &want) >= 0)
            break;
        /* Too small: want says how many there are. */
        STI_CHECK(want > have && want <= 65537, STI_EIO);
        have = want;
    }
    *out = g;
    *n = want;
    g = NULL;
    rc = STI_OK;
out:
    free(g);
    free(buf);
    return rc;
}

static int svc_member(const struct svc_conn *sc, long gid)
{
    for (int i = 0; i < sc->ngroups; i++)
        if ((long)sc->groups[i] == gid)
            return 1;
    return 0;
}

/* Judges a client by the policy in force: allowed, and which peer entries
 * apply. A lookup that fails refuses the client: fewer known groups would
 * mean fewer limits. */
static void svc_conn_resolve(struct svc *s, struct svc_conn *sc)
{
    const struct svc_policy *p = &s->pol;
    int rc;
    sc->gen = s->pol_gen;
    sc->match = 0;
    sc->allowed = 0;
    if (!sc->uid_known) { /* nothing to match it by */
        sc->allowed = !p->nuid && !p->ngid && !p->npeer;
        return;
    }
    if (s->pol_groups && !sc->groups_known) {
        if ((rc = svc_user_groups(sc->uid, &sc->groups, &sc->ngroups)) != STI_OK) {
            log_error("peer uid %ld: its groups could not be read from the user database (%s): "
                      "refused",
                      (long)sc->uid, sti_strerror(rc));
            return;
        }
        sc->groups_known = 1;
    }
    sc->allowed = (!p->nuid && !p->ngid) || svc_id_in((long)sc->uid, p->allow_uid, p->nuid);
    for (size_t i = 0; !sc->allowed && i < p->ngid; i++)
        sc->allowed = svc_member(sc, p->allow_gid[i]);
    for (size_t i = 0; i < p->npeer; i++)
        if ((p->peer[i].uid >= 0 && p->peer[i].uid == (long)sc->uid) ||
            (p->peer[i].gid >= 0 && svc_member(sc, p->peer[i].gid)))
            sc->match |= 1u << i;
}

static void svc_on_frame(void *arg, struct rpc_conn *c, const struct wire_hdr *h,
                         const uint8_t *body, size_t n)
{
    struct svc *s = arg;
    struct svc_conn *sc = rpc_conn_udata(c);
    /* A reload applies to open connections too, from this request on. */
    if (sc->gen != s->pol_gen)
        svc_conn_resolve(s, sc);
    if (!sc->allowed) {
        log_warn("peer uid %ld is no longer allowed (allow_uid/allow_gid reloaded): closed",
                 (long)sc->uid);
        svc_reply_error(c, h->op, h->id, STI_EDENIED);
        rpc_conn_close(c);
        return;
    }
    switch (h->op) {
    case WIRE_OP_SIGN:
        svc_sign(s, c, sc, h, body, n);
        break;
    case WIRE_OP_HEALTH:
        svc_health(s, c, h, body, n);
        break;
    case WIRE_OP_LIST_CREDS:
        svc_list_creds(s, c, h, body, n);
        break;
    case WIRE_OP_VERIFY:
        svc_verify(s, c, h, body, n);
        break;
    default:
        svc_reply_error(c, h->op, h->id, STI_EPROTO_OP);
    }
}

static void svc_conn_free(struct svc_conn *sc)
{
    if (sc)
        free(sc->groups);
    free(sc);
}

/* SO_PEERCRED check of a new client by its uid and its groups in the user
 * database, and the peer entries that apply to it. */
static int svc_on_accept(void *arg, struct rpc_conn *c, const struct rpc_peer *peer)
{
    struct svc *s = arg;
    struct svc_conn *sc = calloc(1, sizeof *sc);
    if (!sc)
        return STI_ENOMEM;
    sc->uid = peer->uid;
    sc->uid_known = peer->uid != (uid_t)-1;
    svc_conn_resolve(s, sc);
    if (!sc->allowed) {
        log_warn("refused peer pid %ld uid %ld (runs as gid %ld): not in allow_uid/allow_gid "
                 "(groups as the user database has them)",
                 (long)peer->pid, (long)peer->uid, (long)peer->gid);
        svc_conn_free(sc);
        return STI_EDENIED;
    }
    rpc_conn_set_udata(c, sc);
    return STI_OK;
}

static void svc_on_close(void *arg, struct rpc_conn *c)
{
    (void)arg;
    svc_conn_free(rpc_conn_udata(c));
}

void svc_handler(struct svc *s, struct rpc_handler *h)
{
    memset(h, 0, sizeof *h);
    h->on_frame = svc_on_frame;
    h->on_accept = svc_on_accept;
    h->on_close = svc_on_close;
    h->arg = s;
}
