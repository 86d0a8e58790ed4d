/* vsproto.c — codec of the front <-> verifier messages. */
#include "vsproto.h"

#include <string.h>

#include "buf.h"
#include "ipc.h"
#include "sti_err.h"
#include "wire.h"

_Static_assert(VS_IDENTITY_MAX == WIRE_V_IDENTITY_MAX, "a verify request must fit the verifier");

int vs_verify_encode(const struct vs_verify_req *q, uint8_t *out, size_t cap, size_t *len)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(q->identity_len >= 1 && q->identity_len <= VS_IDENTITY_MAX, STI_ETOOLONG);
    STI_TRY(buf_wr_u8(&w, VS_MSG_VERIFY));
    STI_TRY(buf_wr_u32(&w, q->id));
    STI_TRY(buf_wr_u32(&w, q->max_age));
    STI_TRY(buf_wr_u16(&w, (uint16_t)q->identity_len));
    STI_TRY(buf_wr_bytes(&w, q->identity, q->identity_len));
    *len = w.off;
out:
    return rc;
}

int vs_verify_decode(const uint8_t *p, size_t n, struct vs_verify_req *q)
{
    struct buf_rd r;
    uint8_t type;
    uint16_t len;
    const uint8_t *b;
    int rc;
    buf_rd_init(&r, p, n);
    STI_TRY(buf_rd_u8(&r, &type));
    STI_CHECK(type == VS_MSG_VERIFY, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u32(&r, &q->id));
    STI_TRY(buf_rd_u32(&r, &q->max_age));
    STI_TRY(buf_rd_u16(&r, &len));
    STI_CHECK(len >= 1 && len <= VS_IDENTITY_MAX, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_bytes(&r, len, &b));
    STI_CHECK(memchr(b, 0, len) == NULL, STI_EPROTO_FRAME);
    memcpy(q->identity, b, len);
    q->identity[len] = '\0';
    q->identity_len = len;
    rc = buf_rd_done(&r);
out:
    return rc;
}

int vs_result_encode(const struct vs_result *r, uint8_t *out, size_t cap, size_t *len)
{
    struct buf_wr w;
    int rc;
    const struct pp_claims *c = &r->claims;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, VS_MSG_RESULT));
    STI_TRY(buf_wr_u32(&w, r->id));
    STI_TRY(buf_wr_u16(&w, r->code));
    STI_TRY(buf_wr_u8(&w, r->revocation));
    STI_TRY(ipc_put_str(&w, r->check, sizeof r->check - 1));
    STI_TRY(ipc_put_str(&w, r->detail, sizeof r->detail - 1));
    if (r->code == STI_OK) {
        STI_CHECK(c->ndest >= 1 && c->ndest <= PP_MAX_DEST, STI_ETOOMANY);
        STI_TRY(buf_wr_u8(&w, (uint8_t)c->attest));
        STI_TRY(ipc_put_str(&w, c->orig, TN_MAX));
        STI_TRY(buf_wr_u8(&w, (uint8_t)c->ndest));
        for (unsigned i = 0; i < c->ndest; i++)
            STI_TRY(ipc_put_str(&w, c->dest[i], TN_MAX));
        STI_TRY(buf_wr_u64(&w, (uint64_t)c->iat));
        STI_TRY(ipc_put_str(&w, c->origid, UUID_STR_LEN));
        STI_TRY(ipc_put_str(&w, r->x5u, sizeof r->x5u - 1));
        STI_TRY(ipc_put_str(&w, r->subject, sizeof r->subject - 1));
    }
    *len = w.off;
out:
    return rc;
}

int vs_result_decode(const uint8_t *p, size_t n, struct vs_result *r)
{
    struct buf_rd rd;
    uint8_t type, u8;
    uint64_t iat;
    int rc;
    memset(r, 0, sizeof *r);
    buf_rd_init(&rd, p, n);
    STI_TRY(buf_rd_u8(&rd, &type));
    STI_CHECK(type == VS_MSG_RESULT, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u32(&rd, &r->id));
    STI_TRY(buf_rd_u16(&rd, &r->code));
    STI_CHECK(sti_err_known(r->code), STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u8(&rd, &r->revocation));
    STI_CHECK(r->revocation <= VS_REV_UNKNOWN, STI_EPROTO_FRAME);
    STI_TRY(ipc_get_str(&rd, r->check, sizeof r->check));
    STI_TRY(ipc_get_str(&rd, r->detail, sizeof r->detail));
    if (r->code == STI_OK) {
        struct pp_claims *c = &r->claims;
        STI_TRY(buf_rd_u8(&rd, &u8));
        c->attest = (char)u8;
        STI_TRY(ipc_get_str(&rd, c->orig, sizeof c->orig));
        STI_TRY(buf_rd_u8(&rd, &u8));
        STI_CHECK(u8 >= 1 && u8 <= PP_MAX_DEST, STI_EPROTO_FRAME);
        c->ndest = u8;
        for (unsigned i = 0; i < c->ndest; i++)
            STI_TRY(ipc_get_str(&rd, c->dest[i], sizeof c->dest[i]));
        STI_TRY(buf_rd_u64(&rd, &iat));
        c->iat = (int64_t)iat;
        STI_TRY(ipc_get_str(&rd, c->origid, sizeof c->origid));
        /* What the verifier calls valid must be well-formed claims too. */
        STI_CHECK(pp_claims_check(c) == STI_OK, STI_EPROTO_FRAME);
        STI_TRY(ipc_get_str(&rd, r->x5u, sizeof r->x5u));
        STI_TRY(ipc_get_str(&rd, r->subject, sizeof r->subject));
    }
    rc = buf_rd_done(&rd);
out:
    return rc;
}
