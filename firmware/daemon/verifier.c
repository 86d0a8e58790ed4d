/* verifier.c — the front's channels to the verifier process. */
#include "verifier.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "ipc.h"
#include "log.h"
#include "sti_err.h"

struct vslot {
    struct rpc_conn_ref conn;
    uint32_t rpc_id;
    uint16_t gen; /* the channel it was sent on */
    int used;
};

/* One channel to one verifier process. */
struct vchan {
    struct verifier *v;
    int fd;
    pid_t pid;
    uint16_t gen;
    unsigned pending;
    struct event *rd;
};

struct verifier {
    struct event_base *base;
    unsigned max_pending;
    verifier_done_fn done;
    void *arg;
    struct vchan cur, old; /* new requests go to cur; old finishes what it holds */
    uint16_t next_gen;
    struct vslot *slot;
    unsigned *free_slots, nfree;
    struct verifier_stats st;
    uint8_t rx[VS_RESULT_MAX + 1];
};

static void vfy_answer(struct verifier *v, unsigned i, const struct vs_result *r)
{
    struct vslot s = v->slot[i];
    v->slot[i].used = 0;
    v->free_slots[v->nfree++] = i;
    v->st.pending--;
    v->done(v->arg, s.conn, s.rpc_id, r);
}

/* Closes a channel; every request it still held is answered. */
static void vchan_close(struct vchan *c, const char *why)
{
    struct verifier *v = c->v;
    if (c->fd < 0)
        return;
    if (c->rd)
        event_free(c->rd);
    c->rd = NULL;
    close(c->fd);
    c->fd = -1;
    c->pid = 0;
    if (c == &v->cur)
        v->st.pid = 0;
    if (!c->pending)
        return;
    struct vs_result r;
    memset(&r, 0, sizeof r);
    r.code = STI_EVFY_UNAVAILABLE;
    snprintf(r.check, sizeof r.check, "verifier");
    snprintf(r.detail, sizeof r.detail, "the verifier process stopped (%s); it is restarted", why);
    log_warn("verifier: %s; %u request(s) answered %d", why, c->pending, STI_EVFY_UNAVAILABLE);
    for (unsigned i = 0; i < v->max_pending; i++)
        if (v->slot[i].used && v->slot[i].gen == c->gen)
            vfy_answer(v, i, &r);
    c->pending = 0;
}

static void vchan_read(evutil_socket_t fd, short what, void *arg)
{
    struct vchan *c = arg;
    struct verifier *v = c->v;
    struct vs_result r;
    (void)what;
    for (int k = 0; k < 64 && c->fd >= 0; k++) {
        size_t n;
        unsigned i;
        int rc = ipc_recv(fd, v->rx, sizeof v->rx, &n, NULL);
        if (rc == STI_EBUSY)
            return;
        if (rc != STI_OK) {
            vchan_close(c, rc == STI_ECLOSED ? "it closed its channel" : "oversized message");
            return;
        }
        if (vs_result_decode(v->rx, n, &r) != STI_OK || (r.id >> 16) != c->gen ||
            (i = r.id & 0xffff) >= v->max_pending || !v->slot[i].used || v->slot[i].gen != c->gen) {
            vchan_close(c, "it sent a malformed or unexpected answer");
            return;
        }
        c->pending--;
        vfy_answer(v, i, &r);
        /* A retired channel goes once it owes nothing. */
        if (c == &v->old && !c->pending)
            vchan_close(c, "retired");
    }
}

void verifier_attach(struct verifier *v, int fd, pid_t pid)
{
    vchan_close(&v->old, "replaced twice before it finished");
    if (v->cur.fd >= 0) {
        /* The event points at cur: the retiring channel gets its own. */
        struct vchan prev = v->cur;
        event_free(prev.rd);
        v->cur.fd = -1;
        v->cur.rd = NULL;
        v->old = prev;
        v->old.rd = event_new(v->base, prev.fd, EV_READ | EV_PERSIST, vchan_read, &v->old);
        if (v->old.rd)
            event_add(v->old.rd, NULL);
        if (!v->old.pending || !v->old.rd)
            vchan_close(&v->old, "retired");
    }
    struct vchan *c = &v->cur;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->fd = fd;
    c->pid = pid;
    c->gen = v->next_gen++;
    c->pending = 0;
    c->rd = event_new(v->base, fd, EV_READ | EV_PERSIST, vchan_read, c);
    if (!c->rd) {
        close(fd);
        c->fd = -1;
        return;
    }
    event_add(c->rd, NULL);
    v->st.pid = pid;
    v->st.attached++;
}

int verifier_new(struct event_base *base, unsigned max_pending, verifier_done_fn done, void *arg,
                 struct verifier **out)
{
    int rc;
    struct verifier *v = calloc(1, sizeof *v);
    STI_CHECK(v, STI_ENOMEM);
    v->base = base;
    v->max_pending = max_pending;
    v->done = done;
    v->arg = arg;
    v->cur = (struct vchan){v, -1, 0, 0, 0, NULL};
    v->old = (struct vchan){v, -1, 0, 0, 0, NULL};
    STI_CHECK(max_pending >= 1 && max_pending <= 65536, STI_ECONFIG);
    v->slot = calloc(max_pending, sizeof *v->slot);
    v->free_slots = calloc(max_pending, sizeof *v->free_slots);
    STI_CHECK(v->slot && v->free_slots, STI_ENOMEM);
    for (unsigned i = max_pending; i-- > 0;)
        v->free_slots[v->nfree++] = i;
    *out = v;
    v = NULL;
    rc = STI_OK;
out:
    verifier_free(v);
    return rc;
}

void verifier_free(struct verifier *v)
{
    if (!v)
        return;
    struct vchan *cs[] = {&v->cur, &v->old};
    for (int i = 0; i < 2; i++) {
        if (cs[i]->rd)
            event_free(cs[i]->rd);
        if (cs[i]->fd >= 0)
            close(cs[i]->fd); /* the process sees its channel close and leaves */
    }
    free(v->slot);
    free(v->free_slots);
    free(v);
}

int verifier_submit(struct verifier *v, struct rpc_conn_ref conn, uint32_t id, const char *identity,
                    size_t n, uint32_t max_age)
{
    static struct vs_verify_req q;
    uint8_t msg[VS_VERIFY_MAX];
    size_t len;
    if (!v)
        return STI_ECONFIG;
    if (v->cur.fd < 0)
        return STI_EVFY_UNAVAILABLE;
    if (v->nfree == 0)
        return STI_EBUSY;
    if (n == 0 || n > VS_IDENTITY_MAX)
        return STI_ETOOLONG;
    unsigned i = v->free_slots[v->nfree - 1];
    q.id = ((uint32_t)v->cur.gen << 16) | i;
    q.max_age = max_age;
    memcpy(q.identity, identity, n);
    q.identity_len = n;
    int rc = vs_verify_encode(&q, msg, sizeof msg, &len);
    if (rc == STI_OK)
        rc = ipc_send(v->cur.fd, msg, len, -1);
    if (rc == STI_ECLOSED) {
        vchan_close(&v->cur, "its channel is closed");
        return STI_EVFY_UNAVAILABLE;
    }
    if (rc)
        return rc;
    v->nfree--;
    v->slot[i] = (struct vslot){conn, id, v->cur.gen, 1};
    v->cur.pending++;
    v->st.pending++;
    return STI_OK;
}

void verifier_stats(const struct verifier *v, struct verifier_stats *st)
{
    *st = v->st;
}
