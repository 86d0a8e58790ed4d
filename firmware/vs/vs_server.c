/* vs_server.c — the verifier's end of the front <-> verifier channel. */
#include "vs_server.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "sti_err.h"

struct vs_out {
    struct vs_out *next;
    size_t n;
    uint8_t msg[];
};

struct vs_req {
    struct vs_server *s;
    uint32_t id;
};

struct vs_server {
    struct event_base *base;
    int fd;
    struct vs_verifier *v;
    unsigned max_pending, pending;
    struct event *rd, *wr;
    struct vs_out *out_head, *out_tail;
    struct vs_req **reqs; /* every live request, to detach them on free */
    unsigned nreqs;
    uint8_t rx[VS_VERIFY_MAX + 1];
};

static void vs_server_stop(struct vs_server *s)
{
    event_del(s->rd);
    event_del(s->wr);
    event_base_loopexit(s->base, NULL);
}

static void vs_flush(struct vs_server *s)
{
    while (s->out_head) {
        struct vs_out *o = s->out_head;
        int rc = ipc_send(s->fd, o->msg, o->n, -1);
        if (rc == STI_EBUSY) {
            event_add(s->wr, NULL);
            return;
        }
        s->out_head = o->next;
        if (!s->out_head)
            s->out_tail = NULL;
        free(o);
        if (rc != STI_OK) {
            vs_server_stop(s);
            return;
        }
    }
}

static void vs_answer(struct vs_server *s, const struct vs_result *r)
{
    uint8_t msg[VS_RESULT_MAX];
    size_t n;
    if (vs_result_encode(r, msg, sizeof msg, &n) != STI_OK) {
        struct vs_result e = {.id = r->id, .code = STI_EINTERNAL};
        snprintf(e.check, sizeof e.check, "%s", r->check);
        if (vs_result_encode(&e, msg, sizeof msg, &n) != STI_OK)
            return;
    }
    struct vs_out *o = malloc(sizeof *o + n);
    if (!o) {
        vs_server_stop(s); /* the front sees the channel close: explicit errors */
        return;
    }
    o->next = NULL;
    o->n = n;
    memcpy(o->msg, msg, n);
    if (s->out_tail)
        s->out_tail->next = o;
    else
        s->out_head = o;
    s->out_tail = o;
    if (s->out_head == o)
        vs_flush(s);
}

static void vs_req_forget(struct vs_server *s, struct vs_req *q)
{
    for (unsigned i = 0; i < s->nreqs; i++)
        if (s->reqs[i] == q) {
            s->reqs[i] = s->reqs[--s->nreqs];
            return;
        }
}

static void on_verified(void *arg, const struct pki_vfy_result *pr, int rev)
{
    struct vs_req *q = arg;
    struct vs_server *s = q->s;
    {
        struct vs_result r;
        memset(&r, 0, sizeof r);
        r.id = q->id;
        r.code = (uint16_t)pr->code;
        r.revocation = (uint8_t)rev;
        snprintf(r.check, sizeof r.check, "%s", pr->check);
        snprintf(r.detail, sizeof r.detail, "%s", pr->detail);
        if (pr->code == STI_OK) {
            r.claims = pr->claims.c;
            snprintf(r.x5u, sizeof r.x5u, "%s", pr->x5u);
            snprintf(r.subject, sizeof r.subject, "%s", pr->leaf_subject);
        }
        s->pending--;
        vs_req_forget(s, q);
        vs_answer(s, &r);
    }
    free(q);
}

static void vs_refuse(struct vs_server *s, uint32_t id, int code, const char *detail)
{
    struct vs_result r;
    memset(&r, 0, sizeof r);
    r.id = id;
    r.code = (uint16_t)code;
    snprintf(r.check, sizeof r.check, "verifier");
    snprintf(r.detail, sizeof r.detail, "%s", detail);
    vs_answer(s, &r);
}

static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct vs_server *s = arg;
    static struct vs_verify_req q;
    (void)what;
    /* A bounded number per wake-up keeps answers flowing under load. */
    for (int k = 0; k < 64; k++) {
        size_t n;
        int rc = ipc_recv(fd, s->rx, sizeof s->rx, &n, NULL);
        if (rc == STI_EBUSY)
            return;
        if (rc != STI_OK || vs_verify_decode(s->rx, n, &q) != STI_OK) {
            vs_server_stop(s);
            return;
        }
        if (s->pending >= s->max_pending) {
            vs_refuse(s, q.id, STI_EBUSY, "too many verifications at once");
            continue;
        }
        struct vs_req *r = calloc(1, sizeof *r);
        if (!r) {
            vs_refuse(s, q.id, STI_ENOMEM, "");
            continue;
        }
        r->s = s;
        r->id = q.id;
        s->reqs[s->nreqs++] = r;
        s->pending++;
        if (vs_verify_start(s->v, q.identity, q.identity_len, q.max_age, 0, on_verified, r) !=
            STI_OK) {
            s->pending--;
            vs_req_forget(s, r);
            free(r);
            vs_refuse(s, q.id, STI_ENOMEM, "");
        }
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    vs_flush(arg);
}

int vs_server_new(struct event_base *base, int fd, struct vs_verifier *v, unsigned max_pending,
                  struct vs_server **out)
{
    int rc;
    struct vs_server *s = calloc(1, sizeof *s);
    STI_CHECK(s, STI_ENOMEM);
    STI_CHECK(max_pending >= 1, STI_ECONFIG);
    s->base = base;
    s->fd = fd;
    s->v = v;
    s->max_pending = max_pending;
    /* Read until empty, then wait: never block inside the loop. */
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    s->reqs = calloc(max_pending, sizeof *s->reqs);
    s->rd = event_new(base, fd, EV_READ | EV_PERSIST, on_read, s);
    s->wr = event_new(base, fd, EV_WRITE, on_write, s);
    STI_CHECK(s->reqs && s->rd && s->wr, STI_ENOMEM);
    event_add(s->rd, NULL);
    *out = s;
    s = NULL;
    rc = STI_OK;
out:
    vs_server_free(s);
    return rc;
}

void vs_server_free(struct vs_server *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->nreqs; i++)
        free(s->reqs[i]); /* their callbacks never run (vs_server.h) */
    while (s->out_head) {
        struct vs_out *o = s->out_head;
        s->out_head = o->next;
        free(o);
    }
    if (s->rd)
        event_free(s->rd);
    if (s->wr)
        event_free(s->wr);
    free(s->reqs);
    free(s);
}
