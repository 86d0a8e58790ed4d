/* test_wire.c — the RPC codec: frame header, fields, typed views, the sign
 * request, empty requests, error frames, nested fields. Hostile inputs are
 * hand-written bytes so a test never depends on the encoder it checks. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "sti_err.h"
#include "wire.h"

/* Literal bytes without the trailing NUL of the string literal. */
#define LIT(s) ((const uint8_t *)(s)), (sizeof(s) - 1)

static const char UUID1[] = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

/* A field with an arbitrary value, for the typed views. */
static struct wire_field field_of(uint8_t tag, const void *v, uint16_t len)
{
    struct wire_field f;
    f.tag = tag;
    f.len = len;
    f.v = v;
    return f;
}

/* ------------------------------------------------------------------ header */

TEST(hdr_decode_reads_every_field_big_endian)
{
    const uint8_t p[] = {0x00, 0x00, 0x01, 0x02, 0x01, 0x03, 0x00, 0x00, 0xde, 0xad, 0xbe, 0xef};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_OK);
    CHECK_INT(h.len, 0x0102);
    CHECK_INT(h.ver, WIRE_VERSION);
    CHECK_INT(h.op, WIRE_OP_LIST_CREDS);
    CHECK_INT(h.status, 0);
    CHECK_INT(h.id, 0xdeadbeefu);
}

TEST(accepts_length_equal_to_header)
{
    const uint8_t p[] = {0, 0, 0, 12, 1, 2, 0, 0, 0, 0, 0, 7};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_OK);
    CHECK_INT(h.len, WIRE_HDR_LEN);
}

TEST(rejects_length_below_header)
{
    const uint8_t p[] = {0, 0, 0, 11, 1, 1, 0, 0, 0, 0, 0, 9};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_FRAME);
    CHECK_INT(h.id, 9); /* still returned, so the error can echo it */
}

TEST(rejects_zero_length)
{
    const uint8_t p[] = {0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 1};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_FRAME);
}

TEST(accepts_length_equal_to_max)
{
    const uint8_t p[] = {0x00, 0x00, 0x20, 0x00, 1, 1, 0, 0, 0, 0, 0, 1};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_OK);
    CHECK_INT(h.len, WIRE_MAX_REQUEST);
}

TEST(rejects_length_one_above_max)
{
    const uint8_t p[] = {0x00, 0x00, 0x20, 0x01, 1, 1, 0, 0, 0, 0, 0, 5};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_TOOBIG);
    CHECK_INT(h.id, 5);
}

TEST(rejects_length_with_top_bit_set_as_toobig)
{
    const uint8_t p[] = {0xff, 0xff, 0xff, 0xff, 1, 1, 0, 0, 0, 0, 0, 1};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_RESPONSE, &h), STI_EPROTO_TOOBIG);
}

TEST(response_max_admits_what_request_max_refuses)
{
    const uint8_t p[] = {0x00, 0x01, 0x00, 0x00, 1, 0x81, 0, 0, 0, 0, 0, 1};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_TOOBIG);
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_RESPONSE, &h), STI_OK);
}

TEST(rejects_version_zero)
{
    const uint8_t p[] = {0, 0, 0, 12, 0, 1, 0, 0, 0, 0, 0, 3};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_VERSION);
    CHECK_INT(h.id, 3);
    CHECK_INT(h.op, WIRE_OP_SIGN);
}

TEST(rejects_version_two)
{
    const uint8_t p[] = {0, 0, 0, 12, 2, 1, 0, 0, 0, 0, 0, 3};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &h), STI_EPROTO_VERSION);
    CHECK_INT(h.ver, 2);
}

TEST(length_is_checked_before_version)
{
    const uint8_t small[] = {0, 0, 0, 4, 9, 1, 0, 0, 0, 0, 0, 3};
    const uint8_t big[] = {0, 1, 0, 0, 9, 1, 0, 0, 0, 0, 0, 3};
    struct wire_hdr h;
    CHECK_RC(wire_hdr_decode(small, WIRE_MAX_REQUEST, &h), STI_EPROTO_FRAME);
    CHECK_RC(wire_hdr_decode(big, WIRE_MAX_REQUEST, &h), STI_EPROTO_TOOBIG);
}

TEST(hdr_encode_writes_exact_bytes)
{
    const uint8_t want[] = {0x00, 0x00, 0x01, 0x2c, 0x01, 0x81, 0x00, 0xcc, 0x11, 0x22, 0x33, 0x44};
    struct wire_hdr h = {300, WIRE_VERSION, 0x81, 204, 0x11223344};
    uint8_t p[WIRE_HDR_LEN];
    wire_hdr_encode(p, &h);
    CHECK_MEM(p, want, sizeof want);
    struct wire_hdr back;
    CHECK_RC(wire_hdr_decode(p, WIRE_MAX_REQUEST, &back), STI_OK);
    CHECK_INT(back.len, 300);
    CHECK_INT(back.op, 0x81);
    CHECK_INT(back.status, STI_EPROTO_FIELD);
    CHECK_INT(back.id, 0x11223344);
}

/* ------------------------------------------------------------------ fields */

TEST(field_next_walks_fields_then_reports_end)
{
    const uint8_t body[] = {0x01, 0x00, 0x02, 'h', 'i', 0x85, 0x00, 0x00, 0x03, 0x00, 0x01, 'C'};
    struct buf_rd rd;
    struct wire_field f;
    int end = 7;
    buf_rd_init(&rd, body, sizeof body);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(end, 0);
    CHECK_INT(f.tag, 0x01);
    CHECK_INT(f.len, 2);
    CHECK(f.v == body + 3);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(end, 0);
    CHECK_INT(f.tag, 0x85);
    CHECK_INT(f.len, 0);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(f.tag, 0x03);
    CHECK_INT(f.len, 1);
    CHECK_INT(f.v[0], 'C');
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(end, 1);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK); /* end is sticky */
    CHECK_INT(end, 1);
}

TEST(field_next_on_empty_body_is_end)
{
    struct buf_rd rd;
    struct wire_field f;
    int end = 0;
    buf_rd_init(&rd, NULL, 0);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(end, 1);
}

TEST(rejects_field_header_cut_after_tag)
{
    const uint8_t body[] = {0x01};
    struct buf_rd rd;
    struct wire_field f;
    int end;
    buf_rd_init(&rd, body, sizeof body);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_EPROTO_FRAME);
    CHECK_INT(end, 0);
}

TEST(rejects_field_header_cut_inside_length)
{
    const uint8_t body[] = {0x01, 0x00};
    struct buf_rd rd;
    struct wire_field f;
    int end;
    buf_rd_init(&rd, body, sizeof body);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_EPROTO_FRAME);
}

TEST(rejects_field_value_running_past_body)
{
    const uint8_t body[] = {0x01, 0x00, 0x05, 'a', 'b', 'c', 'd'};
    struct buf_rd rd;
    struct wire_field f;
    int end;
    buf_rd_init(&rd, body, sizeof body);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_EPROTO_FRAME);
}

TEST(rejects_field_length_ffff_in_short_body)
{
    const uint8_t body[] = {0x80, 0xff, 0xff, 0x00};
    struct buf_rd rd;
    struct wire_field f;
    int end;
    buf_rd_init(&rd, body, sizeof body);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_EPROTO_FRAME);
}

/* ------------------------------------------------------------- typed views */

TEST(reads_u8_u16_u32_u64_big_endian)
{
    const uint8_t b[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    struct wire_field f;
    uint8_t a;
    uint16_t s;
    uint32_t l;
    uint64_t q;
    f = field_of(0x80, b, 1);
    CHECK_RC(wire_field_u8(&f, &a), STI_OK);
    CHECK_INT(a, 0x01);
    f = field_of(0x80, b, 2);
    CHECK_RC(wire_field_u16(&f, &s), STI_OK);
    CHECK_INT(s, 0x0102);
    f = field_of(0x80, b, 4);
    CHECK_RC(wire_field_u32(&f, &l), STI_OK);
    CHECK_INT(l, 0x01020304);
    f = field_of(0x80, b, 8);
    CHECK_RC(wire_field_u64(&f, &q), STI_OK);
    CHECK(q == UINT64_C(0x0102030405060708));
}

TEST(reads_u64_with_top_bit_set)
{
    const uint8_t b[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    struct wire_field f = field_of(0x05, b, 8);
    uint64_t q;
    CHECK_RC(wire_field_u64(&f, &q), STI_OK);
    CHECK(q == UINT64_C(0xfffffffffffffffe));
}

TEST(rejects_u8_field_of_zero_or_two_bytes)
{
    const uint8_t b[] = {0x41, 0x41};
    struct wire_field f;
    uint8_t v = 9;
    f = field_of(0x03, b, 0);
    CHECK_RC(wire_field_u8(&f, &v), STI_EPROTO_FIELD);
    f = field_of(0x03, b, 2);
    CHECK_RC(wire_field_u8(&f, &v), STI_EPROTO_FIELD);
    CHECK_INT(v, 9); /* untouched on error */
}

TEST(rejects_u16_field_of_one_or_three_bytes)
{
    const uint8_t b[] = {1, 2, 3};
    struct wire_field f;
    uint16_t v;
    f = field_of(0x29, b, 1);
    CHECK_RC(wire_field_u16(&f, &v), STI_EPROTO_FIELD);
    f = field_of(0x29, b, 3);
    CHECK_RC(wire_field_u16(&f, &v), STI_EPROTO_FIELD);
}

TEST(rejects_u32_field_of_three_or_five_bytes)
{
    const uint8_t b[] = {1, 2, 3, 4, 5};
    struct wire_field f;
    uint32_t v;
    f = field_of(0x21, b, 3);
    CHECK_RC(wire_field_u32(&f, &v), STI_EPROTO_FIELD);
    f = field_of(0x21, b, 5);
    CHECK_RC(wire_field_u32(&f, &v), STI_EPROTO_FIELD);
}

TEST(rejects_u64_field_of_seven_bytes)
{
    const uint8_t b[] = {1, 2, 3, 4, 5, 6, 7};
    struct wire_field f = field_of(0x05, b, 7);
    uint64_t v = 42;
    CHECK_RC(wire_field_u64(&f, &v), STI_EPROTO_FIELD);
    CHECK(v == 42);
}

TEST(rejects_u64_field_of_nine_bytes)
{
    const uint8_t b[] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    struct wire_field f = field_of(0x05, b, 9);
    uint64_t v;
    CHECK_RC(wire_field_u64(&f, &v), STI_EPROTO_FIELD);
}

TEST(string_view_copies_and_terminates)
{
    const char s[] = "+1 202 555 0100";
    struct wire_field f = field_of(0x01, s, (uint16_t)strlen(s));
    char out[WIRE_STR_MAX + 1];
    memset(out, 'x', sizeof out);
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_OK);
    CHECK_STR(out, "+1 202 555 0100");
}

TEST(string_of_cap_minus_one_bytes_fits)
{
    char v[WIRE_STR_MAX];
    memset(v, '7', sizeof v);
    struct wire_field f = field_of(0x01, v, WIRE_STR_MAX);
    char out[WIRE_STR_MAX + 1];
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_OK);
    CHECK_INT(strlen(out), WIRE_STR_MAX);
}

TEST(rejects_string_of_cap_bytes)
{
    char v[WIRE_STR_MAX + 1];
    memset(v, '7', sizeof v);
    struct wire_field f = field_of(0x01, v, WIRE_STR_MAX + 1);
    char out[WIRE_STR_MAX + 1];
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_EPROTO_FIELD);
}

TEST(rejects_string_with_nul)
{
    const uint8_t v[] = {'1', '2', 0x00, '3'};
    struct wire_field f = field_of(0x01, v, sizeof v);
    char out[16];
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_EPROTO_FIELD);
}

TEST(rejects_string_with_trailing_nul)
{
    const uint8_t v[] = {'1', '2', '3', 0x00};
    struct wire_field f = field_of(0x01, v, sizeof v);
    char out[16];
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_EPROTO_FIELD);
}

TEST(rejects_string_into_zero_capacity)
{
    const char v[] = "a";
    struct wire_field f = field_of(0x01, v, 0);
    char out[1];
    CHECK_RC(wire_field_str(&f, out, 0), STI_EPROTO_FIELD);
}

TEST(empty_string_view_is_empty)
{
    const char v[] = "z";
    struct wire_field f = field_of(0x01, v, 0);
    char out[1] = {'q'};
    CHECK_RC(wire_field_str(&f, out, sizeof out), STI_OK);
    CHECK_STR(out, "");
}

/* ---------------------------------------------------------------- writers */

TEST(put_writes_tag_length_value)
{
    const uint8_t want[] = {0x80, 0x00, 0x01, 0xab,                               /* u8 */
                            0x29, 0x00, 0x02, 0x01, 0x94,                         /* u16 404 */
                            0x21, 0x00, 0x04, 0x00, 0x01, 0x00, 0x02,             /* u32 */
                            0x23, 0x00, 0x08, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, /* u64 */
                            0x07, 0x08,                                           /* ... */
                            0x26, 0x00, 0x03, '0',  '.',  '1',                    /* str */
                            0x90, 0x00, 0x00};                                    /* bytes */
    uint8_t out[64];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_put_u8(&w, 0x80, 0xab), STI_OK);
    CHECK_RC(wire_put_u16(&w, WIRE_T_LAST_HSM_ERROR, STI_EHSM_SIGN), STI_OK);
    CHECK_RC(wire_put_u32(&w, WIRE_T_WORKERS, 0x00010002), STI_OK);
    CHECK_RC(wire_put_u64(&w, WIRE_T_SIGNED, UINT64_C(0x0102030405060708)), STI_OK);
    CHECK_RC(wire_put_str(&w, WIRE_T_VERSION, "0.1"), STI_OK);
    CHECK_RC(wire_put_bytes(&w, 0x90, NULL, 0), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
}

TEST(put_is_all_or_nothing_when_full)
{
    uint8_t out[8];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_put_u8(&w, 0x80, 1), STI_OK);
    CHECK_INT(w.off, 4);
    /* header would fit, value would not: nothing is left behind */
    CHECK_RC(wire_put_str(&w, 0x01, "abc"), STI_ETOOLONG);
    CHECK_INT(w.off, 4);
    CHECK_RC(wire_put_u64(&w, 0x05, 1), STI_ETOOLONG);
    CHECK_INT(w.off, 4);
    CHECK_RC(wire_put_u8(&w, 0x80, 2), STI_OK);
    CHECK_INT(w.off, 8);
}

TEST(put_rejects_value_longer_than_u16)
{
    static uint8_t big[UINT16_MAX + 1];
    static uint8_t out[UINT16_MAX + 16];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_put_bytes(&w, 0x80, big, sizeof big), STI_ETOOLONG);
    CHECK_INT(w.off, 0);
    CHECK_RC(wire_put_bytes(&w, 0x80, big, UINT16_MAX), STI_OK);
    CHECK_INT(w.off, 3 + UINT16_MAX);
}

TEST(nested_length_is_filled)
{
    const uint8_t want[] = {0x30, 0x00, 0x0b, 0x31, 0x00, 0x01, 'k',  0x36, 0x00, 0x01, 0x00,
                            0x80, 0x00, 0x00, 0x27, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01};
    uint8_t out[64];
    struct buf_wr w;
    size_t slot;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot), STI_OK);
    CHECK_INT(slot, 1);
    CHECK_RC(wire_put_str(&w, WIRE_T_C_LABEL, "k"), STI_OK);
    CHECK_RC(wire_put_u8(&w, WIRE_T_C_STATE, WIRE_CRED_VALID), STI_OK);
    CHECK_RC(wire_put_bytes(&w, 0x80, NULL, 0), STI_OK);
    CHECK_RC(wire_nest_end(&w, slot), STI_OK);
    CHECK_RC(wire_put_u32(&w, WIRE_T_CREDS_VALID, 1), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);

    /* and it parses back as one field holding three */
    struct buf_rd rd, in;
    struct wire_field f, g;
    int end, n = 0;
    buf_rd_init(&rd, out, w.off);
    CHECK_RC(wire_field_next(&rd, &f, &end), STI_OK);
    CHECK_INT(f.tag, WIRE_T_CRED_ENTRY);
    CHECK_INT(f.len, 11);
    buf_rd_init(&in, f.v, f.len);
    for (;;) {
        CHECK_RC(wire_field_next(&in, &g, &end), STI_OK);
        if (end)
            break;
        n++;
    }
    CHECK_INT(n, 3);
}

TEST(empty_nest_has_length_zero)
{
    const uint8_t want[] = {0x30, 0x00, 0x00};
    uint8_t out[8];
    struct buf_wr w;
    size_t slot;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot), STI_OK);
    CHECK_RC(wire_nest_end(&w, slot), STI_OK);
    CHECK_INT(w.off, 3);
    CHECK_MEM(out, want, sizeof want);
}

TEST(nests_inside_nests)
{
    const uint8_t want[] = {0xa0, 0x00, 0x07, 0xa1, 0x00, 0x04, 0x80, 0x00, 0x01, 0x05};
    uint8_t out[16];
    struct buf_wr w;
    size_t outer, inner;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_nest_begin(&w, 0xa0, &outer), STI_OK);
    CHECK_RC(wire_nest_begin(&w, 0xa1, &inner), STI_OK);
    CHECK_RC(wire_put_u8(&w, 0x80, 5), STI_OK);
    CHECK_RC(wire_nest_end(&w, inner), STI_OK);
    CHECK_RC(wire_nest_end(&w, outer), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
}

TEST(nest_begin_fails_when_no_room_for_length)
{
    uint8_t out[2];
    struct buf_wr w;
    size_t slot;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot), STI_ETOOLONG);
}

TEST(rejects_nest_longer_than_u16)
{
    static uint8_t out[3 + 2 * (3 + 40000)];
    static uint8_t big[40000];
    struct buf_wr w;
    size_t slot;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot), STI_OK);
    CHECK_RC(wire_put_bytes(&w, 0x80, big, sizeof big), STI_OK);
    CHECK_RC(wire_put_bytes(&w, 0x80, big, sizeof big), STI_OK);
    CHECK_RC(wire_nest_end(&w, slot), STI_ETOOLONG);
}

/* ------------------------------------------------------------------ frames */

TEST(frame_end_fills_length_in_header)
{
    const uint8_t want[] = {0x00, 0x00, 0x00, 0x10, 0x01, 0x02, 0x00, 0x00,
                            0x00, 0x00, 0x00, 0x2a, 0x80, 0x00, 0x01, 0x07};
    uint8_t out[64];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_HEALTH, 0, 42), STI_OK);
    CHECK_INT(w.off, WIRE_HDR_LEN);
    CHECK_RC(wire_put_u8(&w, 0x80, 7), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
}

TEST(frame_with_no_fields_is_header_only)
{
    const uint8_t want[] = {0, 0, 0, 12, 1, 0x83, 0x01, 0x2d, 0xff, 0xff, 0xff, 0xff};
    uint8_t out[WIRE_HDR_LEN];
    struct buf_wr w;
    struct wire_hdr h;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, 0x83, STI_ENOCRED, 0xffffffffu), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_MEM(out, want, sizeof want);
    CHECK_RC(wire_hdr_decode(out, WIRE_MAX_RESPONSE, &h), STI_OK);
    CHECK_INT(h.status, STI_ENOCRED);
}

TEST(frame_begin_rejects_writer_smaller_than_header)
{
    uint8_t out[WIRE_HDR_LEN - 1];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_SIGN, 0, 1), STI_ETOOLONG);
    CHECK_INT(w.off, 0);
}

TEST(frame_end_rejects_writer_without_header)
{
    uint8_t out[WIRE_HDR_LEN];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_end(&w), STI_EINTERNAL);
}

TEST(error_frame_has_status_and_message)
{
    const uint8_t want[] = {0x00, 0x00, 0x00, 0x17, 0x01, 0x81, 0x01, 0x2c, 0x00, 0x00, 0x30, 0x39,
                            0x0f, 0x00, 0x08, 'n',  'o',  't',  ' ',  'h',  'e',  'r',  'e'};
    uint8_t out[128];
    struct buf_wr w;
    struct wire_hdr h;
    buf_wr_init(&w, out, sizeof out);
    w.off = 50; /* leftovers of an earlier reply are discarded */
    CHECK_RC(wire_error_frame(&w, WIRE_OP_SIGN, 12345, STI_ESCOPE, "not here"), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
    CHECK_RC(wire_hdr_decode(out, WIRE_MAX_RESPONSE, &h), STI_OK);
    CHECK_INT(h.op, WIRE_OP_SIGN | WIRE_RESPONSE_BIT);
    CHECK_INT(h.status, STI_ESCOPE);
    CHECK_INT(h.id, 12345);
}

TEST(error_frame_keeps_response_bit_when_already_set)
{
    uint8_t out[64];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_error_frame(&w, 0x82, 1, STI_EBUSY, ""), STI_OK);
    CHECK_INT(out[5], 0x82);
    CHECK_INT(w.off, WIRE_HDR_LEN + 3);
}

TEST(error_frame_rejects_message_too_long_for_writer)
{
    uint8_t out[WIRE_HDR_LEN + 4];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_error_frame(&w, WIRE_OP_SIGN, 1, STI_EINVAL, "12"), STI_ETOOLONG);
    CHECK_RC(wire_error_frame(&w, WIRE_OP_SIGN, 1, STI_EINVAL, "1"), STI_OK);
    CHECK_INT(w.off, sizeof out);
}

/* ------------------------------------------------------------ sign request */

/* ORIG "12025550100", DEST "12025550199", ATTEST 'A' */
#define MIN_SIGN_BODY                                                                              \
    "\x01\x00\x0b"                                                                                 \
    "12025550100"                                                                                  \
    "\x02\x00\x0b"                                                                                 \
    "12025550199"                                                                                  \
    "\x03\x00\x01"                                                                                 \
    "A"

TEST(sign_request_decodes_minimal_body)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY), &r), STI_OK);
    CHECK_STR(r.orig, "12025550100");
    CHECK_INT(r.ndest, 1);
    CHECK_STR(r.dest[0], "12025550199");
    CHECK_INT(r.attest, 'A');
    CHECK_INT(r.has_origid, 0);
    CHECK_INT(r.has_iat, 0);
}

TEST(sign_request_decodes_every_field)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x05\x00\x08\x00\x00\x00\x00\x65\x53\xf1\x00" /* iat */
                                      "\x04\x00\x24"
                                      "3fa85f64-5717-4562-b3fc-2c963f66afa6"
                                      "\x03\x00\x01"
                                      "C"
                                      "\x02\x00\x01"
                                      "1"
                                      "\x01\x00\x02"
                                      "+1"
                                      "\x02\x00\x01"
                                      "2"),
                                  &r),
             STI_OK);
    CHECK_STR(r.orig, "+1");
    CHECK_INT(r.ndest, 2);
    CHECK_STR(r.dest[0], "1");
    CHECK_STR(r.dest[1], "2");
    CHECK_INT(r.attest, 'C');
    CHECK_INT(r.has_origid, 1);
    CHECK_STR(r.origid, UUID1);
    CHECK_INT(r.has_iat, 1);
    CHECK(r.iat == 1700000000u);
}

TEST(sign_request_decode_clears_previous_contents)
{
    struct wire_sign_req r;
    memset(&r, 0x5a, sizeof r);
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY), &r), STI_OK);
    CHECK_INT(r.has_origid, 0);
    CHECK_INT(r.has_iat, 0);
    CHECK(r.iat == 0);
    CHECK_STR(r.origid, "");
    CHECK_STR(r.dest[1], "");
}

TEST(skips_unknown_optional_field)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x80\x00\x03xyz" MIN_SIGN_BODY "\xff\x00\x00"), &r), STI_OK);
    CHECK_STR(r.orig, "12025550100");
    CHECK_INT(r.ndest, 1);
}

TEST(skips_optional_field_holding_nul_and_garbage)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x81\x00\x04\x00\x01\x02\x00"), &r), STI_OK);
}

TEST(rejects_unknown_critical_field)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x06\x00\x00"), &r), STI_EPROTO_FIELD);
}

TEST(rejects_highest_critical_tag)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x7f\x00\x01z" MIN_SIGN_BODY), &r), STI_EPROTO_FIELD);
}

TEST(rejects_tag_zero)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x00\x00\x00"), &r), STI_EPROTO_FIELD);
}

TEST(rejects_response_field_in_request)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x10\x00\x01x"), &r), STI_EPROTO_FIELD);
}

TEST(rejects_duplicate_orig)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x01\x00\x0b"
                                                    "12025550100"),
                                  &r),
             STI_EPROTO_DUP);
}

TEST(rejects_duplicate_attest)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x03\x00\x01"
                                                    "B"),
                                  &r),
             STI_EPROTO_DUP);
}

TEST(rejects_duplicate_origid)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x04\x00\x01x\x04\x00\x01y"), &r),
             STI_EPROTO_DUP);
}

TEST(rejects_duplicate_iat)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x05\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01"
                                                    "\x05\x00\x08\x00\x00\x00\x00\x00\x00\x00\x01"),
                                  &r),
             STI_EPROTO_DUP);
}

/* ORIG, ATTEST and n DEST fields "1", "2", ... into p; returns the length. */
static size_t sign_body_with_dests(uint8_t *p, unsigned n)
{
    size_t off = 0;
    memcpy(p,
           "\x01\x00\x01"
           "9\x03\x00\x01"
           "B",
           8);
    off = 8;
    for (unsigned i = 0; i < n; i++) {
        p[off++] = WIRE_T_DEST;
        p[off++] = 0;
        p[off++] = 2;
        p[off++] = (uint8_t)('0' + i / 10);
        p[off++] = (uint8_t)('0' + i % 10);
    }
    return off;
}

TEST(accepts_sixteen_dests)
{
    uint8_t body[8 + 17 * 5];
    struct wire_sign_req r;
    size_t n = sign_body_with_dests(body, PP_MAX_DEST);
    CHECK_RC(wire_sign_req_decode(body, n, &r), STI_OK);
    CHECK_INT(r.ndest, PP_MAX_DEST);
    CHECK_STR(r.dest[0], "00");
    CHECK_STR(r.dest[15], "15");
}

TEST(rejects_seventeenth_dest)
{
    uint8_t body[8 + 17 * 5];
    struct wire_sign_req r;
    size_t n = sign_body_with_dests(body, PP_MAX_DEST + 1);
    CHECK_RC(wire_sign_req_decode(body, n, &r), STI_ETOOMANY);
}

TEST(rejects_missing_orig)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x02\x00\x01"
                                      "1\x03\x00\x01"
                                      "A"),
                                  &r),
             STI_EPROTO_MISSING);
}

TEST(rejects_missing_dest)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x03\x00\x01"
                                      "A"),
                                  &r),
             STI_EPROTO_MISSING);
}

TEST(rejects_missing_attest)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x02\x00\x01"
                                      "2"),
                                  &r),
             STI_EPROTO_MISSING);
}

TEST(rejects_empty_sign_body)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(NULL, 0, &r), STI_EPROTO_MISSING);
}

TEST(rejects_body_of_only_optional_fields)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x80\x00\x00\x81\x00\x01x"), &r), STI_EPROTO_MISSING);
}

TEST(rejects_two_byte_attest)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x02\x00\x01"
                                      "2\x03\x00\x02"
                                      "AB"),
                                  &r),
             STI_EPROTO_FIELD);
}

TEST(rejects_empty_attest)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x02\x00\x01"
                                      "2\x03\x00\x00"),
                                  &r),
             STI_EPROTO_FIELD);
}

TEST(rejects_seven_byte_iat)
{
    struct wire_sign_req r;
    CHECK_RC(
        wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x05\x00\x07\x00\x00\x00\x65\x53\xf1\x00"), &r),
        STI_EPROTO_FIELD);
}

TEST(iat_of_all_ones_is_passed_through)
{
    /* range is the signer's job (STI_EIAT there), not the codec's */
    struct wire_sign_req r;
    CHECK_RC(
        wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x05\x00\x08\xff\xff\xff\xff\xff\xff\xff\xff"), &r),
        STI_OK);
    CHECK(r.iat == UINT64_MAX);
}

TEST(accepts_orig_of_sixty_four_bytes)
{
    uint8_t body[3 + 64 + 8];
    struct wire_sign_req r;
    body[0] = WIRE_T_ORIG;
    body[1] = 0;
    body[2] = 64;
    memset(body + 3, '5', 64);
    memcpy(body + 67,
           "\x02\x00\x01"
           "1\x03\x00\x01"
           "A",
           8);
    CHECK_RC(wire_sign_req_decode(body, sizeof body, &r), STI_OK);
    CHECK_INT(strlen(r.orig), 64);
}

/* docs/protocol.md 4.1.3: a value too long for its kind is that kind's error */
TEST(reports_orig_of_sixty_five_bytes_as_bad_tn)
{
    uint8_t body[3 + 65 + 8];
    struct wire_sign_req r;
    body[0] = WIRE_T_ORIG;
    body[1] = 0;
    body[2] = 65;
    memset(body + 3, '5', 65);
    memcpy(body + 68,
           "\x02\x00\x01"
           "1\x03\x00\x01"
           "A",
           8);
    CHECK_RC(wire_sign_req_decode(body, sizeof body, &r), STI_ETN);
}

TEST(reports_dest_of_sixty_five_bytes_as_bad_tn)
{
    uint8_t body[8 + 3 + 65];
    struct wire_sign_req r;
    memcpy(body,
           "\x01\x00\x01"
           "1\x03\x00\x01"
           "A",
           8);
    body[8] = WIRE_T_DEST;
    body[9] = 0;
    body[10] = 65;
    memset(body + 11, '5', 65);
    CHECK_RC(wire_sign_req_decode(body, sizeof body, &r), STI_ETN);
    body[20] = 0; /* length decides before content */
    CHECK_RC(wire_sign_req_decode(body, sizeof body, &r), STI_ETN);
}

TEST(rejects_orig_with_nul)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x03"
                                      "1\x00"
                                      "2\x02\x00\x01"
                                      "2\x03\x00\x01"
                                      "A"),
                                  &r),
             STI_EPROTO_FIELD);
}

TEST(reports_origid_of_thirty_seven_bytes_as_bad_origid)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x04\x00\x25"
                                                    "3fa85f64-5717-4562-b3fc-2c963f66afa6x"),
                                  &r),
             STI_EORIGID);
}

TEST(empty_orig_and_dest_are_left_to_the_signer)
{
    /* 1..15 digits is checked at normalisation (101 there), not here */
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x00\x02\x00\x00\x03\x00\x01"
                                      "A"),
                                  &r),
             STI_OK);
    CHECK_STR(r.orig, "");
    CHECK_INT(r.ndest, 1);
    CHECK_STR(r.dest[0], "");
}

TEST(short_origid_is_left_to_the_signer)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x04\x00\x03xyz"), &r), STI_OK);
    CHECK_INT(r.has_origid, 1);
    CHECK_STR(r.origid, "xyz");
}

TEST(first_problem_in_body_order_decides)
{
    struct wire_sign_req r;
    /* unknown critical tag, then a duplicate ORIG */
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x06\x00\x00\x01\x00\x01"
                                      "1"),
                                  &r),
             STI_EPROTO_FIELD);
    /* duplicate ORIG, then a truncated field */
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x01\x00\x01"
                                      "1\x02\x00\x09"
                                      "1"),
                                  &r),
             STI_EPROTO_DUP);
    /* a duplicate ORIG too long to be a TN is still a duplicate */
    uint8_t body[4 + 3 + 70];
    memcpy(body,
           "\x01\x00\x01"
           "1",
           4);
    body[4] = WIRE_T_ORIG;
    body[5] = 0;
    body[6] = 70;
    memset(body + 7, '2', 70);
    CHECK_RC(wire_sign_req_decode(body, sizeof body, &r), STI_EPROTO_DUP);
    /* a missing ATTEST is only noticed after a clean body */
    CHECK_RC(wire_sign_req_decode(LIT("\x01\x00\x01"
                                      "1\x02\x00\x01"
                                      "2\x7f\x00\x00"),
                                  &r),
             STI_EPROTO_FIELD);
}

TEST(rejects_sign_body_with_truncated_field)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x04\x00\x24"
                                                    "3fa85f64"),
                                  &r),
             STI_EPROTO_FRAME);
}

TEST(rejects_sign_body_with_one_trailing_byte)
{
    struct wire_sign_req r;
    CHECK_RC(wire_sign_req_decode(LIT(MIN_SIGN_BODY "\x80"), &r), STI_EPROTO_FRAME);
}

TEST(every_strict_prefix_of_a_sign_body_fails)
{
    /* ATTEST last, so no strict prefix holds every required field */
    static const char body[] = "\x05\x00\x08\x00\x00\x00\x00\x65\x53\xf1\x00" MIN_SIGN_BODY;
    struct wire_sign_req r;
    for (size_t n = 0; n < sizeof body - 1; n++) {
        int rc = wire_sign_req_decode((const uint8_t *)body, n, &r);
        CHECK(rc == STI_EPROTO_FRAME || rc == STI_EPROTO_MISSING);
    }
    CHECK_RC(wire_sign_req_decode((const uint8_t *)body, sizeof body - 1, &r), STI_OK);
}

static void fill_full_request(struct wire_sign_req *r)
{
    memset(r, 0, sizeof *r);
    strcpy(r->orig, "12025550100");
    strcpy(r->dest[0], "12025550199");
    r->ndest = 1;
    r->attest = 'A';
    strcpy(r->origid, UUID1);
    r->has_origid = 1;
    r->iat = 1700000000;
    r->has_iat = 1;
}

TEST(sign_request_frame_matches_known_bytes)
{
    /* clang-format off */
    static const uint8_t want[] = {
        0x00, 0x00, 0x00, 0x5e, 0x01, 0x01, 0x00, 0x00, 0x01, 0x02, 0x03, 0x04, /* header, len 94 */
        0x01, 0x00, 0x0b, '1', '2', '0', '2', '5', '5', '5', '0', '1', '0', '0', /* ORIG */
        0x02, 0x00, 0x0b, '1', '2', '0', '2', '5', '5', '5', '0', '1', '9', '9', /* DEST */
        0x03, 0x00, 0x01, 'A',                                                   /* ATTEST */
        0x04, 0x00, 0x24,                                                        /* ORIGID */
        '3', 'f', 'a', '8', '5', 'f', '6', '4', '-', '5', '7', '1', '7', '-', '4', '5', '6', '2',
        '-', 'b', '3', 'f', 'c', '-', '2', 'c', '9', '6', '3', 'f', '6', '6', 'a', 'f', 'a', '6',
        0x05, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x00};      /* IAT 1700000000 */
    /* clang-format on */
    struct wire_sign_req r;
    uint8_t out[WIRE_MAX_REQUEST];
    struct buf_wr w;
    fill_full_request(&r);
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_SIGN, 0, 0x01020304), STI_OK);
    CHECK_RC(wire_sign_req_encode(&w, &r), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_INT(sizeof want, 94);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
}

TEST(sign_request_round_trips)
{
    struct wire_sign_req r, back;
    uint8_t out[WIRE_MAX_REQUEST];
    struct buf_wr w;
    struct wire_hdr h;
    fill_full_request(&r);
    for (unsigned i = 0; i < PP_MAX_DEST; i++) {
        memset(r.dest[i], (int)('0' + i % 10), WIRE_STR_MAX);
        r.dest[i][WIRE_STR_MAX] = '\0';
    }
    r.ndest = PP_MAX_DEST;
    r.iat = UINT64_MAX;
    r.attest = (char)0xff; /* any byte survives; validation is the signer's */
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_SIGN, 0, 77), STI_OK);
    CHECK_RC(wire_sign_req_encode(&w, &r), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_RC(wire_hdr_decode(out, WIRE_MAX_REQUEST, &h), STI_OK);
    CHECK_INT(h.len, w.off);
    memset(&back, 0xee, sizeof back);
    CHECK_RC(wire_sign_req_decode(out + WIRE_HDR_LEN, h.len - WIRE_HDR_LEN, &back), STI_OK);
    CHECK_MEM(&back, &r, sizeof r);
}

TEST(sign_request_without_optionals_round_trips)
{
    struct wire_sign_req r, back;
    uint8_t out[256];
    struct buf_wr w;
    memset(&r, 0, sizeof r);
    strcpy(r.orig, "1");
    strcpy(r.dest[0], "2");
    strcpy(r.dest[1], "3");
    r.ndest = 2;
    r.attest = 'B';
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_sign_req_encode(&w, &r), STI_OK);
    CHECK_INT(w.off, 4 + 4 + 4 + 4);
    CHECK_RC(wire_sign_req_decode(out, w.off, &back), STI_OK);
    CHECK_MEM(&back, &r, sizeof r);
}

TEST(sign_request_encode_fails_when_writer_full)
{
    struct wire_sign_req r;
    uint8_t out[40];
    struct buf_wr w;
    fill_full_request(&r);
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_sign_req_encode(&w, &r), STI_ETOOLONG);
}

/* Bytes from a hex string, spaces ignored (the docs/protocol.md notation). */
static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = 0;
    int hi = -1;
    for (const char *p = hex; *p; p++) {
        int v;
        if (*p >= '0' && *p <= '9')
            v = *p - '0';
        else if (*p >= 'a' && *p <= 'f')
            v = *p - 'a' + 10;
        else
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            if (n == cap)
                return 0;
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

TEST(sign_request_matches_protocol_example_7_1)
{
    uint8_t want[64], out[64];
    size_t n = unhex("0000002c 01 01 0000 00000001 01 000b 3132303235353530313233 02 000b "
                     "3132303235353530313939 03 0001 41",
                     want, sizeof want);
    struct wire_sign_req r;
    struct buf_wr w;
    CHECK_INT(n, 44);
    memset(&r, 0, sizeof r);
    strcpy(r.orig, "12025550123");
    strcpy(r.dest[0], "12025550199");
    r.ndest = 1;
    r.attest = 'A';
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_SIGN, 0, 1), STI_OK);
    CHECK_RC(wire_sign_req_encode(&w, &r), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_INT(w.off, n);
    CHECK_MEM(out, want, n);
}

TEST(error_frame_matches_protocol_example_7_3)
{
    uint8_t want[128], out[128];
    size_t n = unhex("0000003e 01 81 012c 00000001 0f 002f 63616c6c696e6720544e206e6f7420696e20"
                     "73636f7065206f6620616e792076616c69642063726564656e7469616c",
                     want, sizeof want);
    struct buf_wr w;
    CHECK_INT(n, 62);
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_error_frame(&w, WIRE_OP_SIGN, 1, STI_ESCOPE, sti_strerror(STI_ESCOPE)), STI_OK);
    CHECK_INT(w.off, n);
    CHECK_MEM(out, want, n);
}

TEST(health_request_matches_protocol_example_7_4)
{
    uint8_t want[16], out[16];
    size_t n = unhex("0000000c 01 02 0000 00000002", want, sizeof want);
    struct buf_wr w;
    struct wire_hdr h;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_HEALTH, 0, 2), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_INT(w.off, n);
    CHECK_MEM(out, want, n);
    CHECK_RC(wire_hdr_decode(want, WIRE_MAX_REQUEST, &h), STI_OK);
    CHECK_RC(wire_empty_req_decode(want + WIRE_HDR_LEN, h.len - WIRE_HDR_LEN), STI_OK);
}

TEST(nested_cred_entry_matches_protocol_example_7_5)
{
    uint8_t want[256], out[256];
    size_t n = unhex("00000097 01 83 0000 00000003 30 0088 31 0004 61636d65 32 001f "
                     "68747470733a2f2f63722e6578616d706c652e636f6d2f61636d652e70656d 37 001f "
                     "2f433d55532f4f3d7374697369676e2069742f434e3d5348414b454e204954 33 0015 "
                     "72616e67653a31323032353535303130302f313030 34 0008 000000006b048af7 35 0008 "
                     "000000006ce5be77 36 0001 00 38 0008 0000000000000001",
                     want, sizeof want);
    struct buf_wr w;
    size_t slot;
    CHECK_INT(n, 151);
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(wire_frame_begin(&w, WIRE_OP_LIST_CREDS | WIRE_RESPONSE_BIT, 0, 3), STI_OK);
    CHECK_RC(wire_nest_begin(&w, WIRE_T_CRED_ENTRY, &slot), STI_OK);
    CHECK_RC(wire_put_str(&w, WIRE_T_C_LABEL, "acme"), STI_OK);
    CHECK_RC(wire_put_str(&w, WIRE_T_C_X5U, "https://cr.example.com/acme.pem"), STI_OK);
    CHECK_RC(wire_put_str(&w, WIRE_T_C_SUBJECT, "/C=US/O=stisign it/CN=SHAKEN IT"), STI_OK);
    CHECK_RC(wire_put_str(&w, WIRE_T_C_SCOPE, "range:12025550100/100"), STI_OK);
    CHECK_RC(wire_put_u64(&w, WIRE_T_C_NOT_BEFORE, 1795459831u), STI_OK);
    CHECK_RC(wire_put_u64(&w, WIRE_T_C_NOT_AFTER, 1826995831u), STI_OK);
    CHECK_RC(wire_put_u8(&w, WIRE_T_C_STATE, WIRE_CRED_VALID), STI_OK);
    CHECK_RC(wire_put_u64(&w, WIRE_T_C_SIGNED, 1), STI_OK);
    CHECK_RC(wire_nest_end(&w, slot), STI_OK);
    CHECK_RC(wire_frame_end(&w), STI_OK);
    CHECK_INT(w.off, n);
    CHECK_MEM(out, want, n);
}

/* ----------------------------------------------------------- empty request */

TEST(empty_request_accepts_no_fields)
{
    CHECK_RC(wire_empty_req_decode(NULL, 0), STI_OK);
}

TEST(empty_request_skips_optional_fields)
{
    CHECK_RC(wire_empty_req_decode(LIT("\x80\x00\x02hi\xfe\x00\x00")), STI_OK);
}

TEST(empty_request_rejects_critical_field)
{
    CHECK_RC(wire_empty_req_decode(LIT("\x80\x00\x00\x01\x00\x01"
                                       "1")),
             STI_EPROTO_FIELD);
}

TEST(empty_request_rejects_truncated_optional_field)
{
    CHECK_RC(wire_empty_req_decode(LIT("\x80\x00\x05"
                                       "abc")),
             STI_EPROTO_FRAME);
}

TEST(empty_request_rejects_stray_byte)
{
    CHECK_RC(wire_empty_req_decode(LIT("\x80\x00\x00\x80")), STI_EPROTO_FRAME);
}

TEST(verify_request_round_trips)
{
    static struct wire_verify_req a, b;
    uint8_t buf[8192];
    struct buf_wr w;
    memset(&a, 0, sizeof a);
    strcpy(a.identity, "h.c.s;info=<https://x.example/c.pem>;alg=ES256;ppt=shaken");
    a.identity_len = strlen(a.identity);
    a.max_age = 30;
    a.has_max_age = 1;
    buf_wr_init(&w, buf, sizeof buf);
    CHECK_RC(wire_verify_req_encode(&w, &a), STI_OK);
    CHECK_RC(wire_verify_req_decode(buf, w.off, &b), STI_OK);
    CHECK_STR(b.identity, a.identity);
    CHECK_INT(b.identity_len, a.identity_len);
    CHECK_INT(b.max_age, 30);
    CHECK_INT(b.has_max_age, 1);
}

TEST(verify_request_rules_have_exact_codes)
{
    static struct wire_verify_req r;
    static uint8_t big[3 + WIRE_V_IDENTITY_MAX + 1];
    CHECK_RC(wire_verify_req_decode((const uint8_t *)"", 0, &r), STI_EPROTO_MISSING);
    CHECK_RC(wire_verify_req_decode((const uint8_t *)"\x41\x00\x04\x00\x00\x00\x05", 7, &r),
             STI_EPROTO_MISSING);
    CHECK_RC(wire_verify_req_decode((const uint8_t *)"\x40\x00\x01x\x40\x00\x01y", 8, &r),
             STI_EPROTO_DUP);
    CHECK_RC(wire_verify_req_decode((const uint8_t *)"\x40\x00\x01x\x41\x00\x02\x00\x01", 9, &r),
             STI_EPROTO_FIELD);
    CHECK_RC(wire_verify_req_decode((const uint8_t *)"\x40\x00\x00", 3, &r), STI_EPROTO_MISSING);
    big[0] = 0x40;
    big[1] = (uint8_t)((WIRE_V_IDENTITY_MAX + 1) >> 8);
    big[2] = (uint8_t)(WIRE_V_IDENTITY_MAX + 1);
    memset(big + 3, 'a', WIRE_V_IDENTITY_MAX + 1);
    CHECK_RC(wire_verify_req_decode(big, sizeof big, &r), STI_ETOOLONG);
}

CHECK_MAIN(CASE(verify_request_round_trips), CASE(verify_request_rules_have_exact_codes),
           
    CASE(hdr_decode_reads_every_field_big_endian), CASE(accepts_length_equal_to_header),
    CASE(rejects_length_below_header), CASE(rejects_zero_length), CASE(accepts_length_equal_to_max),
    CASE(rejects_length_one_above_max), CASE(rejects_length_with_top_bit_set_as_toobig),
    CASE(response_max_admits_what_request_max_refuses), CASE(rejects_version_zero),
    CASE(rejects_version_two), CASE(length_is_checked_before_version),
    CASE(hdr_encode_writes_exact_bytes), CASE(field_next_walks_fields_then_reports_end),
    CASE(field_next_on_empty_body_is_end), CASE(rejects_field_header_cut_after_tag),
    CASE(rejects_field_header_cut_inside_length), CASE(rejects_field_value_running_past_body),
    CASE(rejects_field_length_ffff_in_short_body), CASE(reads_u8_u16_u32_u64_big_endian),
    CASE(reads_u64_with_top_bit_set), CASE(rejects_u8_field_of_zero_or_two_bytes),
    CASE(rejects_u16_field_of_one_or_three_bytes), CASE(rejects_u32_field_of_three_or_five_bytes),
    CASE(rejects_u64_field_of_seven_bytes), CASE(rejects_u64_field_of_nine_bytes),
    CASE(string_view_copies_and_terminates), CASE(string_of_cap_minus_one_bytes_fits),
    CASE(rejects_string_of_cap_bytes), CASE(rejects_string_with_nul),
    CASE(rejects_string_with_trailing_nul), CASE(rejects_string_into_zero_capacity),
    CASE(empty_string_view_is_empty), CASE(put_writes_tag_length_value),
    CASE(put_is_all_or_nothing_when_full), CASE(put_rejects_value_longer_than_u16),
    CASE(nested_length_is_filled), CASE(empty_nest_has_length_zero), CASE(nests_inside_nests),
    CASE(nest_begin_fails_when_no_room_for_length), CASE(rejects_nest_longer_than_u16),
    CASE(frame_end_fills_length_in_header), CASE(frame_with_no_fields_is_header_only),
    CASE(frame_begin_rejects_writer_smaller_than_header),
    CASE(frame_end_rejects_writer_without_header), CASE(error_frame_has_status_and_message),
    CASE(error_frame_keeps_response_bit_when_already_set),
    CASE(error_frame_rejects_message_too_long_for_writer), CASE(sign_request_decodes_minimal_body),
    CASE(sign_request_decodes_every_field), CASE(sign_request_decode_clears_previous_contents),
    CASE(skips_unknown_optional_field), CASE(skips_optional_field_holding_nul_and_garbage),
    CASE(rejects_unknown_critical_field), CASE(rejects_highest_critical_tag),
    CASE(rejects_tag_zero), CASE(rejects_response_field_in_request), CASE(rejects_duplicate_orig),
    CASE(rejects_duplicate_attest), CASE(rejects_duplicate_origid), CASE(rejects_duplicate_iat),
    CASE(accepts_sixteen_dests), CASE(rejects_seventeenth_dest), CASE(rejects_missing_orig),
    CASE(rejects_missing_dest), CASE(rejects_missing_attest), CASE(rejects_empty_sign_body),
    CASE(rejects_body_of_only_optional_fields), CASE(rejects_two_byte_attest),
    CASE(rejects_empty_attest), CASE(rejects_seven_byte_iat),
    CASE(iat_of_all_ones_is_passed_through), CASE(accepts_orig_of_sixty_four_bytes),
    CASE(reports_orig_of_sixty_five_bytes_as_bad_tn),
    CASE(reports_dest_of_sixty_five_bytes_as_bad_tn), CASE(rejects_orig_with_nul),
    CASE(reports_origid_of_thirty_seven_bytes_as_bad_origid),
    CASE(empty_orig_and_dest_are_left_to_the_signer), CASE(short_origid_is_left_to_the_signer),
    CASE(first_problem_in_body_order_decides), CASE(rejects_sign_body_with_truncated_field),
    CASE(rejects_sign_body_with_one_trailing_byte), CASE(every_strict_prefix_of_a_sign_body_fails),
    CASE(sign_request_frame_matches_known_bytes), CASE(sign_request_round_trips),
    CASE(sign_request_without_optionals_round_trips),
    CASE(sign_request_encode_fails_when_writer_full),
    CASE(sign_request_matches_protocol_example_7_1), CASE(error_frame_matches_protocol_example_7_3),
    CASE(health_request_matches_protocol_example_7_4),
    CASE(nested_cred_entry_matches_protocol_example_7_5), CASE(empty_request_accepts_no_fields),
    CASE(empty_request_skips_optional_fields), CASE(empty_request_rejects_critical_field),
    CASE(empty_request_rejects_truncated_optional_field), CASE(empty_request_rejects_stray_byte))
