/* wire.c — the RPC codec: frame headers, fields, the sign request. */
#include "wire.h"

#include <string.h>

#include "sti_err.h"

int wire_hdr_decode(const uint8_t *p, uint32_t max, struct wire_hdr *h)
{
    h->len = buf_get_u32(p);
    h->ver = p[4];
    h->op = p[5];
    h->status = buf_get_u16(p + 6);
    h->id = buf_get_u32(p + 8);
    if (h->len > max)
        return STI_EPROTO_TOOBIG;
    if (h->len < WIRE_HDR_LEN)
        return STI_EPROTO_FRAME;
    if (h->ver != WIRE_VERSION)
        return STI_EPROTO_VERSION;
    return STI_OK;
}

void wire_hdr_encode(uint8_t *p, const struct wire_hdr *h)
{
    buf_put_u32(p, h->len);
    p[4] = h->ver;
    p[5] = h->op;
    buf_put_u16(p + 6, h->status);
    buf_put_u32(p + 8, h->id);
}

int wire_field_next(struct buf_rd *body, struct wire_field *f, int *end)
{
    int rc;
    *end = 0;
    if (buf_rd_left(body) == 0) {
        *end = 1;
        return STI_OK;
    }
    if ((rc = buf_rd_u8(body, &f->tag)) || (rc = buf_rd_u16(body, &f->len)) ||
        (rc = buf_rd_bytes(body, f->len, &f->v)))
        return STI_EPROTO_FRAME;
    return STI_OK;
}

static int wire_field_be(const struct wire_field *f, size_t n, uint64_t *v)
{
    if (f->len != n)
        return STI_EPROTO_FIELD;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | f->v[i];
    *v = x;
    return STI_OK;
}

int wire_field_u8(const struct wire_field *f, uint8_t *v)
{
    uint64_t x;
    int rc = wire_field_be(f, 1, &x);
    if (!rc)
        *v = (uint8_t)x;
    return rc;
}

int wire_field_u16(const struct wire_field *f, uint16_t *v)
{
    uint64_t x;
    int rc = wire_field_be(f, 2, &x);
    if (!rc)
        *v = (uint16_t)x;
    return rc;
}

int wire_field_u32(const struct wire_field *f, uint32_t *v)
{
    uint64_t x;
    int rc = wire_field_be(f, 4, &x);
    if (!rc)
        *v = (uint32_t)x;
    return rc;
}

int wire_field_u64(const struct wire_field *f, uint64_t *v)
{
    return wire_field_be(f, 8, v);
}

int wire_field_str(const struct wire_field *f, char *out, size_t cap)
{
    if (cap == 0 || f->len > cap - 1 || memchr(f->v, 0, f->len) != NULL)
        return STI_EPROTO_FIELD;
    memcpy(out, f->v, f->len);
    out[f->len] = '\0';
    return STI_OK;
}

static int wire_put_hdr(struct buf_wr *w, uint8_t tag, size_t n)
{
    int rc;
    if (n > UINT16_MAX)
        return STI_ETOOLONG;
    if ((rc = buf_wr_u8(w, tag)) || (rc = buf_wr_u16(w, (uint16_t)n)))
        return rc;
    return STI_OK;
}

int wire_put_bytes(struct buf_wr *w, uint8_t tag, const void *v, size_t n)
{
    size_t start = w->off;
    int rc = wire_put_hdr(w, tag, n);
    if (!rc)
        rc = buf_wr_bytes(w, v, n);
    if (rc)
        w->off = start; /* all or nothing, so a caller can skip a field */
    return rc;
}

int wire_put_str(struct buf_wr *w, uint8_t tag, const char *s)
{
    return wire_put_bytes(w, tag, s, strlen(s));
}

static int wire_put_be(struct buf_wr *w, uint8_t tag, size_t n, uint64_t v)
{
    uint8_t b[8];
    for (size_t i = 0; i < n; i++)
        b[n - 1 - i] = (uint8_t)(v >> (8 * i));
    return wire_put_bytes(w, tag, b, n);
}

int wire_put_u8(struct buf_wr *w, uint8_t tag, uint8_t v)
{
    return wire_put_be(w, tag, 1, v);
}

int wire_put_u16(struct buf_wr *w, uint8_t tag, uint16_t v)
{
    return wire_put_be(w, tag, 2, v);
}

int wire_put_u32(struct buf_wr *w, uint8_t tag, uint32_t v)
{
    return wire_put_be(w, tag, 4, v);
}

int wire_put_u64(struct buf_wr *w, uint8_t tag, uint64_t v)
{
    return wire_put_be(w, tag, 8, v);
}

int wire_nest_begin(struct buf_wr *w, uint8_t tag, size_t *slot)
{
    int rc = buf_wr_u8(w, tag);
    if (!rc)
        rc = buf_wr_reserve(w, 2, slot);
    return rc;
}

int wire_nest_end(struct buf_wr *w, size_t slot)
{
    size_t n = w->off - (slot + 2);
    if (n > UINT16_MAX)
        return STI_ETOOLONG;
    buf_wr_put_u16_at(w, slot, (uint16_t)n);
    return STI_OK;
}

int wire_frame_begin(struct buf_wr *w, uint8_t op, uint16_t status, uint32_t id)
{
    size_t slot;
    if (w->off != 0)
        return STI_EINVAL;
    int rc = buf_wr_reserve(w, WIRE_HDR_LEN, &slot);
    if (rc)
        return rc;
    struct wire_hdr h = {0, WIRE_VERSION, op, status, id};
    wire_hdr_encode(w->p + slot, &h);
    return STI_OK;
}

int wire_frame_end(struct buf_wr *w)
{
    if (w->off < WIRE_HDR_LEN || w->off > UINT32_MAX)
        return STI_EINTERNAL;
    buf_put_u32(w->p, (uint32_t)w->off);
    return STI_OK;
}

/* Unknown must-understand tags fail; optional ones are skipped. */
static int wire_unknown(const struct wire_field *f)
{
    return (f->tag & WIRE_TAG_OPTIONAL) ? STI_OK : STI_EPROTO_FIELD;
}

int wire_sign_req_decode(const uint8_t *body, size_t n, struct wire_sign_req *r)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end, seen_orig = 0, seen_attest = 0;
    memset(r, 0, sizeof *r);
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            break;
        switch (f.tag) {
        /* A value too long for its kind is reported as that kind's error
         * (a TN that cannot be a TN, an origid that cannot be a UUID). */
        case WIRE_T_ORIG:
            if (seen_orig++)
                return STI_EPROTO_DUP;
            if ((rc = wire_field_str(&f, r->orig, sizeof r->orig)))
                return f.len > WIRE_STR_MAX ? STI_ETN : rc;
            break;
        case WIRE_T_DEST:
            if (r->ndest == PP_MAX_DEST)
                return STI_ETOOMANY;
            if ((rc = wire_field_str(&f, r->dest[r->ndest], sizeof r->dest[0])))
                return f.len > WIRE_STR_MAX ? STI_ETN : rc;
            r->ndest++;
            break;
        case WIRE_T_ATTEST: {
            uint8_t a;
            if (seen_attest++)
                return STI_EPROTO_DUP;
            if ((rc = wire_field_u8(&f, &a)))
                return rc;
            r->attest = (char)a;
            break;
        }
        case WIRE_T_ORIGID:
            if (r->has_origid++)
                return STI_EPROTO_DUP;
            if ((rc = wire_field_str(&f, r->origid, sizeof r->origid)))
                return f.len > UUID_STR_LEN ? STI_EORIGID : rc;
            break;
        case WIRE_T_IAT:
            if (r->has_iat++)
                return STI_EPROTO_DUP;
            if ((rc = wire_field_u64(&f, &r->iat)))
                return rc;
            break;
        default:
            if ((rc = wire_unknown(&f)))
                return rc;
        }
    }
    if (!seen_orig || !r->ndest || !seen_attest)
        return STI_EPROTO_MISSING;
    return STI_OK;
}

int wire_sign_req_encode(struct buf_wr *w, const struct wire_sign_req *r)
{
    int rc;
    if (r->ndest == 0 || r->ndest > PP_MAX_DEST || strlen(r->orig) > WIRE_STR_MAX)
        return STI_EINVAL;
    for (unsigned i = 0; i < r->ndest; i++)
        if (strlen(r->dest[i]) > WIRE_STR_MAX)
            return STI_EINVAL;
    if ((rc = wire_put_str(w, WIRE_T_ORIG, r->orig)))
        return rc;
    for (unsigned i = 0; i < r->ndest; i++)
        if ((rc = wire_put_str(w, WIRE_T_DEST, r->dest[i])))
            return rc;
    if ((rc = wire_put_u8(w, WIRE_T_ATTEST, (uint8_t)r->attest)))
        return rc;
    if (r->has_origid && (rc = wire_put_str(w, WIRE_T_ORIGID, r->origid)))
        return rc;
    if (r->has_iat && (rc = wire_put_u64(w, WIRE_T_IAT, r->iat)))
        return rc;
    return STI_OK;
}

int wire_verify_req_decode(const uint8_t *body, size_t n, struct wire_verify_req *r)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end, seen = 0;
    r->identity[0] = '\0';
    r->identity_len = 0;
    r->max_age = 0;
    r->has_max_age = 0;
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            break;
        switch (f.tag) {
        case WIRE_T_V_IDENTITY:
            if (seen++)
                return STI_EPROTO_DUP;
            if (f.len > WIRE_V_IDENTITY_MAX)
                return STI_ETOOLONG;
            if ((rc = wire_field_str(&f, r->identity, sizeof r->identity)))
                return rc;
            r->identity_len = f.len;
            break;
        case WIRE_T_V_MAX_AGE:
            if (r->has_max_age++)
                return STI_EPROTO_DUP;
            if ((rc = wire_field_u32(&f, &r->max_age)))
                return rc;
            break;
        default:
            if ((rc = wire_unknown(&f)))
                return rc;
        }
    }
    return seen && r->identity_len ? STI_OK : STI_EPROTO_MISSING;
}

int wire_verify_req_encode(struct buf_wr *w, const struct wire_verify_req *r)
{
    int rc;
    if (r->identity_len == 0 || r->identity_len > WIRE_V_IDENTITY_MAX)
        return STI_EINVAL;
    if ((rc = wire_put_bytes(w, WIRE_T_V_IDENTITY, r->identity, r->identity_len)))
        return rc;
    if (r->has_max_age && (rc = wire_put_u32(w, WIRE_T_V_MAX_AGE, r->max_age)))
        return rc;
    return STI_OK;
}

int wire_empty_req_decode(const uint8_t *body, size_t n)
{
    struct buf_rd rd;
    struct wire_field f;
    int rc, end;
    buf_rd_init(&rd, body, n);
    for (;;) {
        if ((rc = wire_field_next(&rd, &f, &end)))
            return rc;
        if (end)
            return STI_OK;
        if ((rc = wire_unknown(&f)))
            return rc;
    }
}

int wire_error_frame(struct buf_wr *w, uint8_t op, uint32_t id, uint16_t status, const char *msg)
{
    int rc;
    w->off = 0;
    if ((rc = wire_frame_begin(w, (uint8_t)(op | WIRE_RESPONSE_BIT), status, id)))
        return rc;
    if ((rc = wire_put_str(w, WIRE_T_MESSAGE, msg)))
        return rc;
    return wire_frame_end(w);
}
