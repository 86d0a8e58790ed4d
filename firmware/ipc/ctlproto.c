/* ctlproto.c — codec of the parent <-> front messages. */
#include "ctlproto.h"

#include <string.h>

#include "buf.h"
#include "ipc.h"
#include "sti_err.h"

/* Opens a reader on a message of the expected type. */
static int ctl_open(struct buf_rd *r, const uint8_t *p, size_t n, uint8_t want)
{
    uint8_t t;
    int rc;
    buf_rd_init(r, p, n);
    if ((rc = buf_rd_u8(r, &t)))
        return rc;
    return t == want ? STI_OK : STI_EPROTO_FRAME;
}

int ctl_type_of(const uint8_t *p, size_t n, uint8_t *type)
{
    if (n < 1)
        return STI_EPROTO_FRAME;
    *type = p[0];
    return STI_OK;
}

int ctl_file_encode(const char *path, const void *data, size_t len, uint8_t *out, size_t cap,
                    size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(len <= CTL_FILE_MAX, STI_ETOOLONG);
    STI_TRY(buf_wr_u8(&w, CTL_FILE));
    STI_TRY(ipc_put_str(&w, path, CTL_PATH_MAX - 1));
    STI_TRY(buf_wr_u32(&w, (uint32_t)len));
    STI_TRY(buf_wr_bytes(&w, data, len));
    *n = w.off;
out:
    return rc;
}

int ctl_file_decode(const uint8_t *p, size_t n, struct ctl_file *f)
{
    struct buf_rd r;
    uint32_t len;
    int rc;
    STI_TRY(ctl_open(&r, p, n, CTL_FILE));
    STI_TRY(ipc_get_str(&r, f->path, sizeof f->path));
    STI_CHECK(f->path[0] == '/', STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u32(&r, &len));
    STI_CHECK(len <= CTL_FILE_MAX, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_bytes(&r, len, &f->data));
    f->len = len;
    rc = buf_rd_done(&r);
out:
    return rc;
}

int ctl_files_end_encode(const struct ctl_files_end *e, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, CTL_FILES_END));
    STI_TRY(buf_wr_u32(&w, e->gen));
    STI_TRY(buf_wr_u16(&w, e->nfiles));
    *n = w.off;
out:
    return rc;
}

int ctl_files_end_decode(const uint8_t *p, size_t n, struct ctl_files_end *e)
{
    struct buf_rd r;
    int rc;
    STI_TRY(ctl_open(&r, p, n, CTL_FILES_END));
    STI_TRY(buf_rd_u32(&r, &e->gen));
    STI_TRY(buf_rd_u16(&r, &e->nfiles));
    STI_CHECK(e->gen >= 1, STI_EPROTO_FRAME);
    rc = buf_rd_done(&r);
out:
    return rc;
}

/* A message of one type byte and one u8 / u32. */
static int ctl_small_encode(uint8_t type, uint32_t v, int wide, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, type));
    if (wide)
        STI_TRY(buf_wr_u32(&w, v));
    else
        STI_TRY(buf_wr_u8(&w, (uint8_t)v));
    *n = w.off;
out:
    return rc;
}

static int ctl_small_decode(const uint8_t *p, size_t n, uint8_t type, int wide, uint32_t *v)
{
    struct buf_rd r;
    uint8_t b;
    int rc;
    STI_TRY(ctl_open(&r, p, n, type));
    if (wide) {
        STI_TRY(buf_rd_u32(&r, v));
    } else {
        STI_TRY(buf_rd_u8(&r, &b));
        *v = b;
    }
    rc = buf_rd_done(&r);
out:
    return rc;
}

int ctl_listener_encode(uint8_t kind, uint8_t *out, size_t cap, size_t *n)
{
    return ctl_small_encode(CTL_LISTENER, kind, 0, out, cap, n);
}

int ctl_listener_decode(const uint8_t *p, size_t n, uint8_t *kind)
{
    uint32_t v = 0;
    int rc = ctl_small_decode(p, n, CTL_LISTENER, 0, &v);
    if (rc == STI_OK && v != CTL_LISTEN_RPC && v != CTL_LISTEN_HTTP)
        rc = STI_EPROTO_FRAME;
    *kind = (uint8_t)v;
    return rc;
}

int ctl_verifier_encode(uint32_t pid, uint8_t *out, size_t cap, size_t *n)
{
    return ctl_small_encode(CTL_VERIFIER, pid, 1, out, cap, n);
}

int ctl_verifier_decode(const uint8_t *p, size_t n, uint32_t *pid)
{
    return ctl_small_decode(p, n, CTL_VERIFIER, 1, pid);
}

int ctl_kill_encode(uint32_t pid, uint8_t *out, size_t cap, size_t *n)
{
    return ctl_small_encode(CTL_KILL, pid, 1, out, cap, n);
}

int ctl_kill_decode(const uint8_t *p, size_t n, uint32_t *pid)
{
    int rc = ctl_small_decode(p, n, CTL_KILL, 1, pid);
    return rc == STI_OK && *pid == 0 ? STI_EPROTO_FRAME : rc;
}

int ctl_stop_encode(uint8_t *out, size_t cap, size_t *n)
{
    if (cap < 1)
        return STI_ETOOLONG;
    out[0] = CTL_STOP;
    *n = 1;
    return STI_OK;
}

int ctl_stop_decode(const uint8_t *p, size_t n)
{
    return n == 1 && p[0] == CTL_STOP ? STI_OK : STI_EPROTO_FRAME;
}

int ctl_worker_encode(const struct ctl_worker *wk, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, CTL_WORKER));
    STI_TRY(buf_wr_u32(&w, wk->pool));
    STI_TRY(buf_wr_u16(&w, wk->index));
    STI_TRY(buf_wr_u32(&w, wk->pid));
    STI_TRY(buf_wr_u16(&w, wk->status));
    *n = w.off;
out:
    return rc;
}

int ctl_worker_decode(const uint8_t *p, size_t n, struct ctl_worker *wk)
{
    struct buf_rd r;
    int rc;
    STI_TRY(ctl_open(&r, p, n, CTL_WORKER));
    STI_TRY(buf_rd_u32(&r, &wk->pool));
    STI_TRY(buf_rd_u16(&r, &wk->index));
    STI_TRY(buf_rd_u32(&r, &wk->pid));
    STI_TRY(buf_rd_u16(&r, &wk->status));
    STI_CHECK(sti_err_known(wk->status) && (wk->status == 0) == (wk->pid != 0), STI_EPROTO_FRAME);
    rc = buf_rd_done(&r);
out:
    return rc;
}

int ctl_spawn_encode(const struct ctl_spawn *s, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, CTL_SPAWN));
    STI_TRY(buf_wr_u32(&w, s->pool));
    STI_TRY(buf_wr_u16(&w, s->index));
    STI_TRY(buf_wr_u32(&w, s->gen));
    STI_TRY(buf_wr_u16(&w, (uint16_t)s->cpu));
    STI_TRY(buf_wr_u8(&w, s->sched_other));
    *n = w.off;
out:
    return rc;
}

int ctl_spawn_decode(const uint8_t *p, size_t n, struct ctl_spawn *s)
{
    struct buf_rd r;
    uint16_t cpu;
    int rc;
    STI_TRY(ctl_open(&r, p, n, CTL_SPAWN));
    STI_TRY(buf_rd_u32(&r, &s->pool));
    STI_TRY(buf_rd_u16(&r, &s->index));
    STI_TRY(buf_rd_u32(&r, &s->gen));
    STI_TRY(buf_rd_u16(&r, &cpu));
    s->cpu = (int16_t)cpu;
    STI_TRY(buf_rd_u8(&r, &s->sched_other));
    STI_CHECK(s->cpu >= -1 && s->sched_other <= 1 && s->index < 256, STI_EPROTO_FRAME);
    rc = buf_rd_done(&r);
out:
    return rc;
}

int ctl_health_encode(const struct ctl_health *h, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(h->ncreds <= CTL_CREDS_MAX, STI_ETOOMANY);
    STI_TRY(buf_wr_u8(&w, CTL_HEALTH));
    STI_TRY(buf_wr_u8(&w, h->state));
    STI_TRY(ipc_put_str(&w, h->reason, CTL_REASON_MAX - 1));
    STI_TRY(buf_wr_u32(&w, h->gen));
    STI_TRY(buf_wr_u64(&w, h->signed_ok));
    STI_TRY(buf_wr_u64(&w, h->failed));
    STI_TRY(buf_wr_u64(&w, h->hsm_errors));
    STI_TRY(buf_wr_u64(&w, h->worker_deaths));
    STI_TRY(buf_wr_u32(&w, h->in_flight));
    STI_TRY(buf_wr_u32(&w, h->workers));
    STI_TRY(buf_wr_u32(&w, h->ready));
    STI_TRY(buf_wr_u16(&w, h->last_error));
    STI_TRY(buf_wr_u8(&w, h->selftest));
    STI_TRY(buf_wr_u8(&w, h->have_pool));
    STI_TRY(buf_wr_u16(&w, h->ncreds));
    for (unsigned i = 0; i < h->ncreds; i++) {
        const struct ctl_cred_state *c = &h->cred[i];
        STI_TRY(ipc_put_str(&w, c->name, CTL_NAME_MAX));
        STI_TRY(ipc_put_str(&w, c->x5u, CTL_X5U_MAX - 1));
        STI_TRY(buf_wr_u8(&w, c->bound));
        STI_TRY(buf_wr_u8(&w, c->state));
        STI_TRY(buf_wr_bytes(&w, c->leaf_sha256, 32));
        STI_TRY(buf_wr_u64(&w, c->signed_ok));
    }
    *n = w.off;
out:
    return rc;
}

int ctl_health_decode(const uint8_t *p, size_t n, struct ctl_health *h)
{
    struct buf_rd r;
    const uint8_t *b;
    int rc;
    memset(h, 0, sizeof *h);
    STI_TRY(ctl_open(&r, p, n, CTL_HEALTH));
    STI_TRY(buf_rd_u8(&r, &h->state));
    STI_TRY(ipc_get_str(&r, h->reason, sizeof h->reason));
    STI_TRY(buf_rd_u32(&r, &h->gen));
    STI_TRY(buf_rd_u64(&r, &h->signed_ok));
    STI_TRY(buf_rd_u64(&r, &h->failed));
    STI_TRY(buf_rd_u64(&r, &h->hsm_errors));
    STI_TRY(buf_rd_u64(&r, &h->worker_deaths));
    STI_TRY(buf_rd_u32(&r, &h->in_flight));
    STI_TRY(buf_rd_u32(&r, &h->workers));
    STI_TRY(buf_rd_u32(&r, &h->ready));
    STI_TRY(buf_rd_u16(&r, &h->last_error));
    STI_TRY(buf_rd_u8(&r, &h->selftest));
    STI_TRY(buf_rd_u8(&r, &h->have_pool));
    STI_TRY(buf_rd_u16(&r, &h->ncreds));
    STI_CHECK(h->state <= 2 && h->selftest <= 3 && h->have_pool <= 1 &&
                  h->ncreds <= CTL_CREDS_MAX && h->ready <= h->workers,
              STI_EPROTO_FRAME);
    for (unsigned i = 0; i < h->ncreds; i++) {
        struct ctl_cred_state *c = &h->cred[i];
        STI_TRY(ipc_get_str(&r, c->name, sizeof c->name));
        STI_TRY(ipc_get_str(&r, c->x5u, sizeof c->x5u));
        STI_TRY(buf_rd_u8(&r, &c->bound));
        STI_TRY(buf_rd_u8(&r, &c->state));
        STI_CHECK(c->bound <= 1 && c->state <= 3, STI_EPROTO_FRAME);
        STI_TRY(buf_rd_bytes(&r, 32, &b));
        memcpy(c->leaf_sha256, b, 32);
        STI_TRY(buf_rd_u64(&r, &c->signed_ok));
    }
    rc = buf_rd_done(&r);
out:
    return rc;
}

int ctl_ready_encode(const struct ctl_ready *rd, uint8_t *out, size_t cap, size_t *n)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, CTL_READY));
    STI_TRY(buf_wr_u32(&w, rd->gen));
    STI_TRY(buf_wr_u16(&w, rd->status));
    *n = w.off;
out:
    return rc;
}

int ctl_ready_decode(const uint8_t *p, size_t n, struct ctl_ready *rd)
{
    struct buf_rd r;
    int rc;
    STI_TRY(ctl_open(&r, p, n, CTL_READY));
    STI_TRY(buf_rd_u32(&r, &rd->gen));
    STI_TRY(buf_rd_u16(&r, &rd->status));
    STI_CHECK(sti_err_known(rd->status), STI_EPROTO_FRAME);
    rc = buf_rd_done(&r);
out:
    return rc;
}
