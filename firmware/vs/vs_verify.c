/* vs_verify.c — a verification as a chain of cache answers. */
#include "vs_verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sti_err.h"

#define VS_PATH_MAX 16 /* certificates of a verified path, anchor included */

struct vs_job;

/* The answer for one certificate's CRL finds its job and its place. */
struct vs_crl_slot {
    struct vs_job *job;
    int idx;
};

struct vs_verifier {
    struct vs_cache *cache;
    const struct vs_verify_cfg *cfg;
    struct vs_job *jobs; /* waiting for the cache, to free them at the end */
};

struct vs_job {
    struct vs_verifier *v;
    struct vs_job *prev, *next;
    struct vs_cache *cache;
    const struct vs_verify_cfg *cfg;
    struct pki_vfy_opts opts;
    struct pki_vfy_result res;
    struct pki_vfy_ctx *ctx;
    vs_verify_cb cb;
    void *arg;
    int npath, pending;
    X509_CRL *crl[VS_PATH_MAX];
    struct vs_crl_slot slot[VS_PATH_MAX];
    char crl_why[160]; /* the first CRL that could not be had, and why */
};

static void job_free(struct vs_job *j)
{
    if (j->prev)
        j->prev->next = j->next;
    else
        j->v->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
    for (int i = 0; i < VS_PATH_MAX; i++)
        X509_CRL_free(j->crl[i]);
    pki_vfy_end(j->ctx);
    free(j);
}

static void job_end(struct vs_job *j, int rev)
{
    j->cb(j->arg, &j->res, rev);
    job_free(j);
}

/* A failure found here rather than by a pki step. */
static void job_fail(struct vs_job *j, const char *check, int code, const char *detail)
{
    j->res.code = code;
    snprintf(j->res.check, sizeof j->res.check, "%s", check);
    snprintf(j->res.detail, sizeof j->res.detail, "%s", detail ? detail : "");
    job_end(j, VS_REV_OFF);
}

static void job_revocation(struct vs_job *j)
{
    int unknown = 0;
    if (pki_vfy_revoked(j->ctx, j->crl, &unknown) != STI_OK) {
        job_end(j, VS_REV_OFF);
        return;
    }
    if (unknown && j->cfg->crl == VS_CRL_REQUIRE) {
        job_fail(j, "revocation", STI_EVFY_CRL, j->crl_why);
        return;
    }
    pki_vfy_finish(j->ctx);
    job_end(j, unknown ? VS_REV_UNKNOWN : VS_REV_CHECKED);
}

static void on_crl(void *arg, int rc, const char *detail, X509_CRL *crl, enum vs_from from)
{
    struct vs_crl_slot *s = arg;
    struct vs_job *j = s->job;
    (void)from;
    if (rc == STI_OK && crl != NULL && X509_CRL_up_ref(crl))
        j->crl[s->idx] = crl;
    else if (!j->crl_why[0])
        snprintf(j->crl_why, sizeof j->crl_why, "no CRL for certificate %d: %s%s%s", s->idx,
                 sti_strerror(rc), detail && detail[0] ? ": " : "", detail ? detail : "");
    if (--j->pending == 0)
        job_revocation(j);
}

/* Asks the cache for the CRL of every certificate below the anchor. The
 * count is raised before each ask, so answers that come in while the
 * loop is still asking never finish the job early. */
static void job_crls(struct vs_job *j)
{
    char url[VS_URL_MAX];
    j->npath = pki_vfy_path_len(j->ctx);
    if (j->npath > VS_PATH_MAX) {
        job_fail(j, "revocation", STI_EVFY_CHAIN, "path longer than 16 certificates");
        return;
    }
    j->pending = 1;
    for (int i = 0; i + 1 < j->npath; i++) {
        int rc = pki_vfy_crl_url(j->ctx, i, url, sizeof url);
        if (rc == STI_OK) {
            j->slot[i] = (struct vs_crl_slot){j, i};
            j->pending++;
            rc = vs_cache_crl(j->cache, url, on_crl, &j->slot[i]);
            if (rc != STI_OK)
                j->pending--;
        }
        if (rc != STI_OK && !j->crl_why[0])
            snprintf(j->crl_why, sizeof j->crl_why, "no CRL for certificate %d: %s", i,
                     rc == STI_ENOTFOUND ? "it names no CRL distribution point" : sti_strerror(rc));
    }
    if (--j->pending == 0)
        job_revocation(j);
}

static void on_chain(void *arg, int rc, const char *detail, STACK_OF(X509) * chain,
                     enum vs_from from)
{
    struct vs_job *j = arg;
    if (rc != STI_OK) {
        job_fail(j, "x5u", rc, detail);
        return;
    }
    j->res.from_cache = from != VS_FROM_FETCH;
    if (pki_vfy_chain(j->ctx, chain) != STI_OK) {
        job_end(j, VS_REV_OFF);
        return;
    }
    if (j->cfg->crl == VS_CRL_OFF) {
        pki_vfy_finish(j->ctx);
        job_end(j, VS_REV_OFF);
        return;
    }
    job_crls(j);
}

int vs_verifier_new(struct vs_cache *c, const struct vs_verify_cfg *cfg, struct vs_verifier **out)
{
    struct vs_verifier *v = calloc(1, sizeof *v);
    if (v == NULL)
        return STI_ENOMEM;
    v->cache = c;
    v->cfg = cfg;
    *out = v;
    return STI_OK;
}

void vs_verifier_free(struct vs_verifier *v)
{
    if (v == NULL)
        return;
    while (v->jobs)
        job_free(v->jobs);
    free(v);
}

int vs_verify_start(struct vs_verifier *v, const char *in, size_t n, uint32_t max_age, time_t now,
                    vs_verify_cb cb, void *arg)
{
    const struct vs_verify_cfg *cfg = v->cfg;
    struct vs_cache *c = v->cache;
    struct vs_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return STI_ENOMEM;
    j->v = v;
    j->next = v->jobs;
    if (v->jobs)
        v->jobs->prev = j;
    v->jobs = j;
    j->cache = c;
    j->cfg = cfg;
    j->cb = cb;
    j->arg = arg;
    /* A caller's max_age narrows the operator's window, never widens it. */
    long limit = cfg->max_age > 0 ? cfg->max_age : PKI_VFY_MAX_AGE_DEFAULT;
    j->opts.max_age = max_age && (long)max_age < limit ? (long)max_age : limit;
    j->opts.skew = cfg->skew;
    j->opts.now = now ? now : time(NULL);
    j->opts.spc_policy = cfg->spc_policy;
    j->opts.anchors = cfg->anchors;
    if (pki_vfy_begin(in, n, &j->opts, &j->res, &j->ctx) != STI_OK) {
        job_end(j, VS_REV_OFF);
        return STI_OK;
    }
    int rc = vs_cache_chain(c, j->res.x5u, on_chain, j);
    if (rc != STI_OK)
        job_fail(j, "x5u", rc,
                 rc == STI_EX5U ? "the x5u's host or port is not one this verifier fetches from"
                                : NULL);
    return STI_OK;
}
