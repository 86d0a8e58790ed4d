/* workproto.c — codec of the loop <-> HSM worker messages. */
#include "workproto.h"

#include <string.h>

#include "buf.h"
#include "sti_err.h"

static int wp_put_str(struct buf_wr *w, const char *s, size_t max)
{
    size_t n = strlen(s);
    int rc;
    if (n > max)
        return STI_ETOOLONG;
    if ((rc = buf_wr_u16(w, (uint16_t)n)))
        return rc;
    return buf_wr_bytes(w, s, n);
}

static int wp_get_str(struct buf_rd *r, char *out, size_t cap)
{
    uint16_t n;
    const uint8_t *b;
    int rc;
    if ((rc = buf_rd_u16(r, &n)))
        return rc;
    if (n >= cap || (rc = buf_rd_bytes(r, n, &b)) || memchr(b, 0, n))
        return STI_EPROTO_FRAME;
    memcpy(out, b, n);
    out[n] = '\0';
    return STI_OK;
}

int wp_config_encode(const struct wp_config *c, uint8_t *out, size_t cap, size_t *len)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_TRY(buf_wr_u8(&w, WP_CONFIG));
    STI_TRY(wp_put_str(&w, c->module, WP_PATH_MAX - 1));
    STI_TRY(wp_put_str(&w, c->token.label, HSM_LABEL_MAX));
    STI_TRY(wp_put_str(&w, c->token.serial, HSM_SERIAL_MAX));
    STI_CHECK(c->pin_len <= HSM_PIN_MAX, STI_ETOOLONG);
    STI_TRY(buf_wr_u16(&w, (uint16_t)c->pin_len));
    STI_TRY(buf_wr_bytes(&w, c->pin, c->pin_len));
    STI_CHECK(c->nkeys <= HSM_MAX_KEYS, STI_ETOOMANY);
    STI_TRY(buf_wr_u16(&w, c->nkeys));
    for (size_t i = 0; i < c->nkeys; i++) {
        STI_TRY(wp_put_str(&w, c->keys[i].label, HSM_OBJLABEL_MAX));
        STI_CHECK(c->keys[i].id_len <= HSM_ID_MAX, STI_ETOOLONG);
        STI_TRY(buf_wr_u16(&w, (uint16_t)c->keys[i].id_len));
        STI_TRY(buf_wr_bytes(&w, c->keys[i].id, c->keys[i].id_len));
    }
    STI_TRY(buf_wr_u32(&w, c->verify_sample));
    STI_TRY(buf_wr_u32(&w, c->flags));
    STI_CHECK(c->sandbox <= BSP_SANDBOX_OFF, STI_EINVAL);
    STI_TRY(buf_wr_u8(&w, c->sandbox));
    *len = w.off;
out:
    return rc;
}

int wp_config_decode(const uint8_t *p, size_t n, struct wp_config *c)
{
    struct buf_rd r;
    uint8_t type;
    uint16_t len;
    const uint8_t *b;
    int rc;
    memset(c, 0, sizeof *c);
    buf_rd_init(&r, p, n);
    STI_TRY(buf_rd_u8(&r, &type));
    STI_CHECK(type == WP_CONFIG, STI_EPROTO_FRAME);
    STI_TRY(wp_get_str(&r, c->module, sizeof c->module));
    STI_TRY(wp_get_str(&r, c->token.label, sizeof c->token.label));
    STI_TRY(wp_get_str(&r, c->token.serial, sizeof c->token.serial));
    STI_TRY(buf_rd_u16(&r, &len));
    STI_CHECK(len <= HSM_PIN_MAX, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_bytes(&r, len, &b));
    memcpy(c->pin, b, len);
    c->pin_len = len;
    STI_TRY(buf_rd_u16(&r, &c->nkeys));
    STI_CHECK(c->nkeys <= HSM_MAX_KEYS, STI_EPROTO_FRAME);
    for (size_t i = 0; i < c->nkeys; i++) {
        STI_TRY(wp_get_str(&r, c->keys[i].label, sizeof c->keys[i].label));
        STI_TRY(buf_rd_u16(&r, &len));
        STI_CHECK(len <= HSM_ID_MAX, STI_EPROTO_FRAME);
        STI_TRY(buf_rd_bytes(&r, len, &b));
        memcpy(c->keys[i].id, b, len);
        c->keys[i].id_len = len;
    }
    STI_TRY(buf_rd_u32(&r, &c->verify_sample));
    STI_TRY(buf_rd_u32(&r, &c->flags));
    STI_CHECK((c->flags & ~WP_KEY_COPY) == 0, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u8(&r, &c->sandbox));
    STI_CHECK(c->sandbox <= BSP_SANDBOX_OFF, STI_EPROTO_FRAME);
    rc = buf_rd_done(&r);
out:
    return rc;
}

int wp_ready_encode(const struct wp_ready *r, uint8_t *out, size_t cap, size_t *len)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(r->nkeys <= HSM_MAX_KEYS, STI_ETOOMANY);
    STI_TRY(buf_wr_u8(&w, WP_READY));
    STI_TRY(buf_wr_u16(&w, r->status));
    STI_TRY(buf_wr_u16(&w, r->nkeys));
    for (size_t i = 0; i < r->nkeys; i++) {
        STI_TRY(buf_wr_u16(&w, r->key_status[i]));
        STI_TRY(buf_wr_bytes(&w, r->point[i], HSM_EC_POINT_LEN));
    }
    *len = w.off;
out:
    return rc;
}

int wp_ready_decode(const uint8_t *p, size_t n, struct wp_ready *r)
{
    struct buf_rd rd;
    uint8_t type;
    const uint8_t *b;
    int rc;
    memset(r, 0, sizeof *r);
    buf_rd_init(&rd, p, n);
    STI_TRY(buf_rd_u8(&rd, &type));
    STI_CHECK(type == WP_READY, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u16(&rd, &r->status));
    STI_TRY(buf_rd_u16(&rd, &r->nkeys));
    STI_CHECK(r->nkeys <= HSM_MAX_KEYS, STI_EPROTO_FRAME);
    for (size_t i = 0; i < r->nkeys; i++) {
        STI_TRY(buf_rd_u16(&rd, &r->key_status[i]));
        STI_TRY(buf_rd_bytes(&rd, HSM_EC_POINT_LEN, &b));
        memcpy(r->point[i], b, HSM_EC_POINT_LEN);
    }
    rc = buf_rd_done(&rd);
out:
    return rc;
}

int wp_sign_encode(const struct wp_job *jobs, size_t n, uint8_t *out, size_t cap, size_t *len)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(n >= 1 && n <= WP_BATCH, STI_ETOOMANY);
    STI_TRY(buf_wr_u8(&w, WP_SIGN));
    STI_TRY(buf_wr_u16(&w, (uint16_t)n));
    for (size_t i = 0; i < n; i++) {
        STI_TRY(buf_wr_u32(&w, jobs[i].tag));
        STI_TRY(buf_wr_u16(&w, jobs[i].key));
        STI_TRY(buf_wr_bytes(&w, jobs[i].digest, 32));
    }
    *len = w.off;
out:
    return rc;
}

int wp_sign_decode(const uint8_t *p, size_t len, struct wp_job *jobs, size_t *n)
{
    struct buf_rd r;
    uint8_t type;
    uint16_t cnt;
    const uint8_t *b;
    int rc;
    buf_rd_init(&r, p, len);
    STI_TRY(buf_rd_u8(&r, &type));
    STI_CHECK(type == WP_SIGN, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u16(&r, &cnt));
    STI_CHECK(cnt >= 1 && cnt <= WP_BATCH, STI_EPROTO_FRAME);
    /* The exact size is known from the count: check it before reading. */
    STI_CHECK(len == 3 + (size_t)cnt * 38, STI_EPROTO_FRAME);
    for (size_t i = 0; i < cnt; i++) {
        STI_TRY(buf_rd_u32(&r, &jobs[i].tag));
        STI_TRY(buf_rd_u16(&r, &jobs[i].key));
        STI_TRY(buf_rd_bytes(&r, 32, &b));
        memcpy(jobs[i].digest, b, 32);
    }
    *n = cnt;
    rc = buf_rd_done(&r);
out:
    return rc;
}

int wp_result_encode(const struct wp_result *res, size_t n, uint8_t *out, size_t cap,
                     size_t *len)
{
    struct buf_wr w;
    int rc;
    buf_wr_init(&w, out, cap);
    STI_CHECK(n >= 1 && n <= WP_BATCH, STI_ETOOMANY);
    STI_TRY(buf_wr_u8(&w, WP_RESULT));
    STI_TRY(buf_wr_u16(&w, (uint16_t)n));
    for (size_t i = 0; i < n; i++) {
        STI_TRY(buf_wr_u32(&w, res[i].tag));
        STI_TRY(buf_wr_u16(&w, res[i].status));
        STI_TRY(buf_wr_bytes(&w, res[i].sig, HSM_SIG_LEN));
    }
    *len = w.off;
out:
    return rc;
}

int wp_result_decode(const uint8_t *p, size_t len, struct wp_result *res, size_t *n)
{
    struct buf_rd r;
    uint8_t type;
    uint16_t cnt;
    const uint8_t *b;
    int rc;
    buf_rd_init(&r, p, len);
    STI_TRY(buf_rd_u8(&r, &type));
    STI_CHECK(type == WP_RESULT, STI_EPROTO_FRAME);
    STI_TRY(buf_rd_u16(&r, &cnt));
    STI_CHECK(cnt >= 1 && cnt <= WP_BATCH, STI_EPROTO_FRAME);
    STI_CHECK(len == 3 + (size_t)cnt * (6 + HSM_SIG_LEN), STI_EPROTO_FRAME);
    for (size_t i = 0; i < cnt; i++) {
        STI_TRY(buf_rd_u32(&r, &res[i].tag));
        STI_TRY(buf_rd_u16(&r, &res[i].status));
        STI_TRY(buf_rd_bytes(&r, HSM_SIG_LEN, &b));
        memcpy(res[i].sig, b, HSM_SIG_LEN);
    }
    *n = cnt;
    rc = buf_rd_done(&r);
out:
    return rc;
}
