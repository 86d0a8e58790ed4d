/* test_buf.c — bounded reader/writer and the error table. */
#include <stdint.h>
#include <string.h>

#include "buf.h"
#include "check.h"
#include "sti_err.h"

TEST(reads_big_endian_integers_byte_by_byte)
{
    const uint8_t in[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                          0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    struct buf_rd r;
    uint8_t a;
    uint16_t b;
    uint32_t c;
    uint64_t d;
    buf_rd_init(&r, in, sizeof in);
    CHECK_RC(buf_rd_u8(&r, &a), STI_OK);
    CHECK_RC(buf_rd_u16(&r, &b), STI_OK);
    CHECK_RC(buf_rd_u32(&r, &c), STI_OK);
    CHECK_RC(buf_rd_u64(&r, &d), STI_OK);
    CHECK_INT(a, 0x01);
    CHECK_INT(b, 0x0203);
    CHECK_INT(c, 0x04050607);
    CHECK(d == UINT64_C(0x08090a0b0c0d0e0f));
    CHECK_RC(buf_rd_done(&r), STI_OK);
}

TEST(reader_overrun_fails_without_moving)
{
    const uint8_t in[] = {0xaa, 0xbb, 0xcc};
    struct buf_rd r;
    uint32_t v = 7;
    buf_rd_init(&r, in, sizeof in);
    CHECK_RC(buf_rd_u32(&r, &v), STI_EPROTO_FRAME);
    CHECK_INT(v, 7);
    CHECK_INT(r.off, 0);
    CHECK_INT(buf_rd_left(&r), 3);
}

TEST(done_fails_on_trailing_bytes)
{
    const uint8_t in[] = {1, 2};
    struct buf_rd r;
    uint8_t v;
    buf_rd_init(&r, in, sizeof in);
    CHECK_RC(buf_rd_u8(&r, &v), STI_OK);
    CHECK_RC(buf_rd_done(&r), STI_EPROTO_FRAME);
}

TEST(sub_reader_is_bounded_to_its_length)
{
    const uint8_t in[] = {2, 0xde, 0xad, 0x99};
    struct buf_rd r, sub;
    uint8_t n;
    uint16_t v;
    uint8_t x;
    buf_rd_init(&r, in, sizeof in);
    CHECK_RC(buf_rd_u8(&r, &n), STI_OK);
    CHECK_RC(buf_rd_sub(&r, n, &sub), STI_OK);
    CHECK_RC(buf_rd_u16(&sub, &v), STI_OK);
    CHECK_INT(v, 0xdead);
    CHECK_RC(buf_rd_u8(&sub, &x), STI_EPROTO_FRAME);
    CHECK_RC(buf_rd_done(&sub), STI_OK);
    CHECK_RC(buf_rd_u8(&r, &x), STI_OK);
    CHECK_INT(x, 0x99);
    CHECK_RC(buf_rd_done(&r), STI_OK);
}

TEST(sub_reader_longer_than_input_is_refused)
{
    const uint8_t in[] = {5, 1, 2};
    struct buf_rd r, sub;
    buf_rd_init(&r, in + 1, 2);
    CHECK_RC(buf_rd_sub(&r, in[0], &sub), STI_EPROTO_FRAME);
    CHECK_INT(r.off, 0);
}

TEST(bytes_points_into_input_without_copy)
{
    const uint8_t in[] = {1, 2, 3, 4};
    struct buf_rd r;
    const uint8_t *p = NULL;
    buf_rd_init(&r, in, sizeof in);
    CHECK_RC(buf_rd_bytes(&r, 3, &p), STI_OK);
    CHECK(p == in);
    CHECK_RC(buf_rd_bytes(&r, 2, &p), STI_EPROTO_FRAME);
    CHECK_RC(buf_rd_bytes(&r, 1, &p), STI_OK);
    CHECK(p == in + 3);
}

TEST(writes_big_endian_integers)
{
    uint8_t out[15];
    struct buf_wr w;
    const uint8_t want[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
                            0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(buf_wr_u8(&w, 0x01), STI_OK);
    CHECK_RC(buf_wr_u16(&w, 0x0203), STI_OK);
    CHECK_RC(buf_wr_u32(&w, 0x04050607), STI_OK);
    CHECK_RC(buf_wr_u64(&w, UINT64_C(0x08090a0b0c0d0e0f)), STI_OK);
    CHECK_INT(w.off, sizeof want);
    CHECK_MEM(out, want, sizeof want);
}

TEST(writer_overflow_fails_without_moving)
{
    uint8_t out[3] = {0x55, 0x55, 0x55};
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(buf_wr_u32(&w, 0x01020304), STI_ETOOLONG);
    CHECK_INT(w.off, 0);
    CHECK_INT(out[0], 0x55);
    CHECK_RC(buf_wr_bytes(&w, "abc", 3), STI_OK);
    CHECK_RC(buf_wr_u8(&w, 1), STI_ETOOLONG);
    CHECK_RC(buf_wr_bytes(&w, NULL, 0), STI_OK);
}

TEST(reserved_length_slot_is_filled_later)
{
    uint8_t out[8];
    struct buf_wr w;
    size_t slot16, slot32;
    const uint8_t want[] = {0x00, 0x03, 0xaa, 0x00, 0x00, 0x00, 0x01};
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(buf_wr_reserve(&w, 2, &slot16), STI_OK);
    CHECK_RC(buf_wr_u8(&w, 0xaa), STI_OK);
    CHECK_RC(buf_wr_reserve(&w, 4, &slot32), STI_OK);
    CHECK_RC(buf_wr_reserve(&w, 2, &slot32), STI_ETOOLONG);
    buf_wr_put_u16_at(&w, slot16, 3);
    buf_wr_put_u32_at(&w, 3, 1);
    CHECK_INT(w.off, 7);
    CHECK_MEM(out, want, sizeof want);
}

TEST(plain_helpers_are_big_endian)
{
    uint8_t b[4];
    buf_put_u16(b, 0xbeef);
    CHECK_INT(b[0], 0xbe);
    CHECK_INT(b[1], 0xef);
    CHECK_INT(buf_get_u16(b), 0xbeef);
    buf_put_u32(b, 0xfeedf00dU);
    CHECK_INT(b[0], 0xfe);
    CHECK_INT(b[3], 0x0d);
    CHECK(buf_get_u32(b) == 0xfeedf00dU);
}

TEST(error_table_names_and_messages)
{
    CHECK_STR(sti_errname(STI_ETN), "STI_ETN");
    CHECK_STR(sti_errname(STI_OK), "STI_OK");
    CHECK_STR(sti_strerror(STI_ESCOPE_OUTSIDE), "scope not contained in issuer scope");
    CHECK_STR(sti_errname(12345), "STI_E?");
    CHECK_STR(sti_strerror(-1), "unknown error");
    CHECK_INT(sti_err_known(STI_EINTERNAL), 1);
    CHECK_INT(sti_err_known(99), 0);
}

TEST(error_numbers_are_stable)
{
    /* These go on the wire: a renumbering must fail here. */
    CHECK_INT(STI_EINVAL, 100);
    CHECK_INT(STI_ETN, 101);
    CHECK_INT(STI_EX5U, 111);
    CHECK_INT(STI_EPROTO_FRAME, 201);
    CHECK_INT(STI_ESCOPE_SYNTAX, 302);
    CHECK_INT(STI_ESCOPE_OUTSIDE, 303);
    CHECK_INT(STI_ENOMEM, 900);
}

CHECK_MAIN(CASE(reads_big_endian_integers_byte_by_byte), CASE(reader_overrun_fails_without_moving),
           CASE(done_fails_on_trailing_bytes), CASE(sub_reader_is_bounded_to_its_length),
           CASE(sub_reader_longer_than_input_is_refused),
           CASE(bytes_points_into_input_without_copy), CASE(writes_big_endian_integers),
           CASE(writer_overflow_fails_without_moving), CASE(reserved_length_slot_is_filled_later),
           CASE(plain_helpers_are_big_endian), CASE(error_table_names_and_messages),
           CASE(error_numbers_are_stable))
