/*
 * fuzz_frame.c — the RPC frame decoders, as the server meets them.
 *
 * 1. The first WIRE_HDR_LEN bytes go to wire_hdr_decode with the request
 *    maximum. Every header field must come back whatever the verdict (the
 *    server echoes the id), so re-encoding must reproduce the bytes.
 * 2. When the header is good and the whole frame is present, its body is
 *    copied to storage of exactly its size (so a read past the body is an
 *    ASan report, not a silent read of the next frame) and goes to the
 *    field walker, the sign request decoder and the empty request decoder.
 * 3. A sign request that decodes is encoded again into a frame and decoded
 *    again; both structs must be equal, and the encoding no longer than the
 *    input. The three verdicts must agree with each other.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sti_err.h"
#include "wire.h"

/* Walks the fields of body; every step must consume exactly 3 + len bytes.
 * Returns the walker's verdict. Nested CRED_ENTRY values are walked too. */
static int walk_fields(const uint8_t *body, size_t n, int depth)
{
    struct buf_rd rd;
    struct wire_field f;
    int end = 0, rc;
    buf_rd_init(&rd, body, n);
    for (;;) {
        size_t before = rd.off;
        rc = wire_field_next(&rd, &f, &end);
        if (rc != STI_OK) {
            if (rc != STI_EPROTO_FRAME || end)
                abort();
            return rc;
        }
        if (end) {
            if (rd.off != n)
                abort();
            return STI_OK;
        }
        if (rd.off != before + 3 + (size_t)f.len || f.v != body + before + 3 || rd.off > n)
            abort();

        /* typed views: a fixed-size view succeeds exactly at its size */
        uint8_t a;
        uint16_t b;
        uint32_t c;
        uint64_t d;
        char s[WIRE_STR_MAX + 1];
        if ((wire_field_u8(&f, &a) == STI_OK) != (f.len == 1))
            abort();
        if ((wire_field_u16(&f, &b) == STI_OK) != (f.len == 2))
            abort();
        if ((wire_field_u32(&f, &c) == STI_OK) != (f.len == 4))
            abort();
        if ((wire_field_u64(&f, &d) == STI_OK) != (f.len == 8))
            abort();
        int src = wire_field_str(&f, s, sizeof s);
        int fits = f.len <= WIRE_STR_MAX && memchr(f.v, 0, f.len) == NULL;
        if ((src == STI_OK) != fits)
            abort();
        if (src == STI_OK && (strlen(s) != f.len || memcmp(s, f.v, f.len) != 0))
            abort();
        if (src != STI_OK && src != STI_EPROTO_FIELD)
            abort();

        if (f.tag == WIRE_T_CRED_ENTRY && depth < 2)
            (void)walk_fields(f.v, f.len, depth + 1);
    }
}

static void check_sign_round_trip(const struct wire_sign_req *r, size_t body_len)
{
    static uint8_t out[WIRE_MAX_REQUEST];
    struct buf_wr w;
    struct wire_hdr h;
    struct wire_sign_req back;

    /* what the decoder promises */
    if (r->ndest < 1 || r->ndest > PP_MAX_DEST || strlen(r->orig) > WIRE_STR_MAX)
        abort();
    if ((r->has_origid != 0 && r->has_origid != 1) || (r->has_iat != 0 && r->has_iat != 1))
        abort();

    buf_wr_init(&w, out, sizeof out);
    if (wire_frame_begin(&w, WIRE_OP_SIGN, 0, 0x5157u) != STI_OK ||
        wire_sign_req_encode(&w, r) != STI_OK || wire_frame_end(&w) != STI_OK)
        abort(); /* anything decoded must fit a request frame */
    if (w.off - WIRE_HDR_LEN > body_len)
        abort(); /* every encoded field was in the input, at the same size */
    if (wire_hdr_decode(out, WIRE_MAX_REQUEST, &h) != STI_OK || h.len != w.off ||
        h.op != WIRE_OP_SIGN || h.id != 0x5157u || h.status != 0)
        abort();
    memset(&back, 0, sizeof back);
    if (wire_sign_req_decode(out + WIRE_HDR_LEN, h.len - WIRE_HDR_LEN, &back) != STI_OK)
        abort();
    if (memcmp(&back, r, sizeof back) != 0)
        abort();
}

/* The sign decoder's codes (docs/protocol.md 4.1.3 step 1-2): an over-long
 * ORIG/DEST is a bad TN and an over-long ORIGID a bad origid. */
static int known_rc(int rc)
{
    return rc == STI_OK || rc == STI_EPROTO_FRAME || rc == STI_EPROTO_FIELD ||
           rc == STI_EPROTO_DUP || rc == STI_EPROTO_MISSING || rc == STI_ETOOMANY ||
           rc == STI_ETN || rc == STI_EORIGID;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct wire_hdr h;
    uint8_t again[WIRE_HDR_LEN];
    if (size < WIRE_HDR_LEN)
        return 0;
    int hrc = wire_hdr_decode(data, WIRE_MAX_REQUEST, &h);
    wire_hdr_encode(again, &h);
    if (memcmp(again, data, WIRE_HDR_LEN) != 0)
        abort(); /* the header fields must come back even on error */
    if (hrc != STI_OK) {
        if (hrc != STI_EPROTO_FRAME && hrc != STI_EPROTO_TOOBIG && hrc != STI_EPROTO_VERSION)
            abort();
        return 0;
    }
    if (h.len < WIRE_HDR_LEN || h.len > WIRE_MAX_REQUEST || h.ver != WIRE_VERSION)
        abort();
    if (size < h.len)
        return 0;

    size_t n = h.len - WIRE_HDR_LEN;
    uint8_t *body = malloc(n ? n : 1);
    if (!body)
        return 0;
    memcpy(body, data + WIRE_HDR_LEN, n);

    int wrc = walk_fields(body, n, 0);

    struct wire_sign_req r;
    memset(&r, 0, sizeof r);
    int src = wire_sign_req_decode(body, n, &r);
    int erc = wire_empty_req_decode(body, n);
    /* The verify request decoder reads the same bodies. */
    static struct wire_verify_req vr;
    int vrc = wire_verify_req_decode(body, n, &vr);
    if (vrc == STI_OK && (vr.identity_len == 0 || vr.identity_len > WIRE_V_IDENTITY_MAX ||
                          strlen(vr.identity) != vr.identity_len))
        abort();
    if (!known_rc(src) || (erc != STI_OK && erc != STI_EPROTO_FRAME && erc != STI_EPROTO_FIELD))
        abort();

    /* verdicts agree: a body the walker refuses nobody accepts; an empty
     * request (only optional fields) is a sign request missing everything;
     * a good sign request holds critical fields, so is not empty */
    if (wrc != STI_OK && (src == STI_OK || erc == STI_OK))
        abort();
    if (erc == STI_OK && src != STI_EPROTO_MISSING)
        abort();
    if (src == STI_OK && erc != STI_EPROTO_FIELD)
        abort();

    if (src == STI_OK)
        check_sign_round_trip(&r, n);
    free(body);
    return 0;
}
