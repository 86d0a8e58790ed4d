/* buf.c — bounded reader and writer. */
#include "buf.h"

#include <string.h>

#include "sti_err.h"

void buf_rd_init(struct buf_rd *r, const void *p, size_t len)
{
    r->p = p;
    r->len = len;
    r->off = 0;
}

size_t buf_rd_left(const struct buf_rd *r)
{
    return r->len - r->off;
}

int buf_rd_bytes(struct buf_rd *r, size_t n, const uint8_t **v)
{
    if (buf_rd_left(r) < n)
        return STI_EPROTO_FRAME;
    *v = r->p + r->off;
    r->off += n;
    return STI_OK;
}

static int buf_rd_be(struct buf_rd *r, size_t n, uint64_t *v)
{
    const uint8_t *b;
    int rc = buf_rd_bytes(r, n, &b);
    if (rc)
        return rc;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | b[i];
    *v = x;
    return STI_OK;
}

int buf_rd_u8(struct buf_rd *r, uint8_t *v)
{
    uint64_t x;
    int rc = buf_rd_be(r, 1, &x);
    if (!rc)
        *v = (uint8_t)x;
    return rc;
}

int buf_rd_u16(struct buf_rd *r, uint16_t *v)
{
    uint64_t x;
    int rc = buf_rd_be(r, 2, &x);
    if (!rc)
        *v = (uint16_t)x;
    return rc;
}

int buf_rd_u32(struct buf_rd *r, uint32_t *v)
{
    uint64_t x;
    int rc = buf_rd_be(r, 4, &x);
    if (!rc)
        *v = (uint32_t)x;
    return rc;
}

int buf_rd_u64(struct buf_rd *r, uint64_t *v)
{
    return buf_rd_be(r, 8, v);
}

int buf_rd_sub(struct buf_rd *r, size_t n, struct buf_rd *sub)
{
    const uint8_t *b;
    int rc = buf_rd_bytes(r, n, &b);
    if (rc)
        return rc;
    buf_rd_init(sub, b, n);
    return STI_OK;
}

int buf_rd_done(const struct buf_rd *r)
{
    return buf_rd_left(r) == 0 ? STI_OK : STI_EPROTO_FRAME;
}

void buf_wr_init(struct buf_wr *w, void *p, size_t cap)
{
    w->p = p;
    w->cap = cap;
    w->off = 0;
}

int buf_wr_bytes(struct buf_wr *w, const void *v, size_t n)
{
    if (w->cap - w->off < n)
        return STI_ETOOLONG;
    if (n)
        memcpy(w->p + w->off, v, n);
    w->off += n;
    return STI_OK;
}

static int buf_wr_be(struct buf_wr *w, size_t n, uint64_t v)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[n - 1 - i] = (uint8_t)(v >> (8 * i));
    return buf_wr_bytes(w, b, n);
}

int buf_wr_u8(struct buf_wr *w, uint8_t v)
{
    return buf_wr_be(w, 1, v);
}

int buf_wr_u16(struct buf_wr *w, uint16_t v)
{
    return buf_wr_be(w, 2, v);
}

int buf_wr_u32(struct buf_wr *w, uint32_t v)
{
    return buf_wr_be(w, 4, v);
}

int buf_wr_u64(struct buf_wr *w, uint64_t v)
{
    return buf_wr_be(w, 8, v);
}

int buf_wr_reserve(struct buf_wr *w, size_t n, size_t *slot)
{
    if (w->cap - w->off < n)
        return STI_ETOOLONG;
    *slot = w->off;
    memset(w->p + w->off, 0, n);
    w->off += n;
    return STI_OK;
}

void buf_wr_put_u16_at(struct buf_wr *w, size_t slot, uint16_t v)
{
    buf_put_u16(w->p + slot, v);
}

void buf_wr_put_u32_at(struct buf_wr *w, size_t slot, uint32_t v)
{
    buf_put_u32(w->p + slot, v);
}

uint16_t buf_get_u16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

uint32_t buf_get_u32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

void buf_put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

void buf_put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}
