/* test_b64u.c — strict base64url without padding. */
#include <stdint.h>
#include <string.h>

#include "b64u.h"
#include "check.h"
#include "sti_err.h"

/* RFC 4648 §10 test vectors; padding removed as base64url requires. */
static const struct {
    const char *plain;
    const char *enc;
} rfc4648[] = {
    {"", ""},           {"f", "Zg"},          {"fo", "Zm8"},          {"foo", "Zm9v"},
    {"foob", "Zm9vYg"}, {"fooba", "Zm9vYmE"}, {"foobar", "Zm9vYmFy"},
};

static int dec(const char *s, uint8_t *out, size_t cap, size_t *n)
{
    return b64u_decode(s, strlen(s), out, cap, n);
}

TEST(encodes_rfc4648_vectors_without_padding)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char out[16];
        size_t n = 99;
        size_t len = strlen(rfc4648[i].plain);
        CHECK_RC(b64u_encode((const uint8_t *)rfc4648[i].plain, len, out, sizeof out, &n), STI_OK);
        CHECK_STR(out, rfc4648[i].enc);
        CHECK_INT(n, strlen(rfc4648[i].enc));
        CHECK_INT(n, B64U_ENC_LEN(len));
    }
}

TEST(decodes_rfc4648_vectors)
{
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        uint8_t out[16];
        size_t n = 99;
        CHECK_RC(dec(rfc4648[i].enc, out, sizeof out, &n), STI_OK);
        CHECK_INT(n, strlen(rfc4648[i].plain));
        CHECK_MEM(out, rfc4648[i].plain, n);
    }
}

TEST(uses_url_alphabet_for_62_and_63)
{
    /* fb ef be -> "++++" in standard base64, "----" in base64url; ff ff ff
     * -> "////" and "____". */
    const uint8_t in[] = {0xfb, 0xef, 0xbe, 0xfb, 0xef, 0xbe};
    char out[16];
    CHECK_RC(b64u_encode(in, sizeof in, out, sizeof out, NULL), STI_OK);
    CHECK_STR(out, "--------");
    const uint8_t in2[] = {0xff, 0xff, 0xff};
    CHECK_RC(b64u_encode(in2, sizeof in2, out, sizeof out, NULL), STI_OK);
    CHECK_STR(out, "____");
    uint8_t back[4];
    size_t n;
    CHECK_RC(dec("-_-_", back, sizeof back, &n), STI_OK);
    CHECK_INT(n, 3);
    CHECK_INT(back[0], 0xfb);
    CHECK_INT(back[1], 0xff);
    CHECK_INT(back[2], 0xbf);
}

TEST(round_trips_every_byte_value)
{
    uint8_t in[256], back[256];
    char enc[B64U_ENC_LEN(256) + 1];
    for (int i = 0; i < 256; i++)
        in[i] = (uint8_t)i;
    for (size_t len = 0; len <= 256; len += 17) {
        size_t n, m;
        CHECK_RC(b64u_encode(in, len, enc, sizeof enc, &n), STI_OK);
        CHECK_RC(b64u_decode(enc, n, back, sizeof back, &m), STI_OK);
        CHECK_INT(m, len);
        CHECK_MEM(back, in, len);
    }
}

TEST(encode_needs_room_for_terminator)
{
    char out[5];
    const uint8_t in[] = "foo";
    CHECK_RC(b64u_encode(in, 3, out, 4, NULL), STI_ETOOLONG);
    CHECK_RC(b64u_encode(in, 3, out, 5, NULL), STI_OK);
    CHECK_STR(out, "Zm9v");
}

TEST(rejects_padding)
{
    uint8_t out[8];
    CHECK_RC(dec("Zg==", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zm8=", out, sizeof out, NULL), STI_EINVAL);
}

TEST(rejects_standard_alphabet_plus_and_slash)
{
    uint8_t out[8];
    CHECK_RC(dec("++++", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("////", out, sizeof out, NULL), STI_EINVAL);
}

TEST(rejects_whitespace_and_bad_characters)
{
    uint8_t out[8];
    CHECK_RC(dec("Zm9 v", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zm9v\n", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zm.v", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(b64u_decode("Zm\0v", 4, out, sizeof out, NULL), STI_EINVAL);
}

TEST(rejects_length_one_mod_four)
{
    uint8_t out[8];
    CHECK_RC(dec("Z", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zm9vY", out, sizeof out, NULL), STI_EINVAL);
}

TEST(rejects_nonzero_trailing_bits_after_one_byte)
{
    uint8_t out[8];
    /* "Zg" is canonical for "f"; "Zh" decodes to "f" with stray bits. */
    CHECK_RC(dec("Zh", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zv", out, sizeof out, NULL), STI_EINVAL);
}

TEST(rejects_nonzero_trailing_bits_after_two_bytes)
{
    uint8_t out[8];
    /* "Zm8" is canonical for "fo"; "Zm9" carries a set unused bit. */
    CHECK_RC(dec("Zm9", out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(dec("Zm-", out, sizeof out, NULL), STI_EINVAL);
}

TEST(decode_reports_short_capacity)
{
    uint8_t out[8];
    size_t n;
    CHECK_RC(dec("Zm9vYmFy", out, 5, &n), STI_ETOOLONG);
    CHECK_RC(dec("Zm9vYmFy", out, 6, &n), STI_OK);
    CHECK_INT(n, 6);
}

TEST(decode_of_empty_input_is_empty)
{
    size_t n = 99;
    CHECK_RC(b64u_decode("", 0, NULL, 0, &n), STI_OK);
    CHECK_INT(n, 0);
}

TEST(invalid_input_wins_over_short_capacity)
{
    uint8_t out[1];
    CHECK_RC(dec("Zm9v====", out, sizeof out, NULL), STI_EINVAL);
}

CHECK_MAIN(CASE(encodes_rfc4648_vectors_without_padding), CASE(decodes_rfc4648_vectors),
           CASE(uses_url_alphabet_for_62_and_63), CASE(round_trips_every_byte_value),
           CASE(encode_needs_room_for_terminator), CASE(rejects_padding),
           CASE(rejects_standard_alphabet_plus_and_slash),
           CASE(rejects_whitespace_and_bad_characters), CASE(rejects_length_one_mod_four),
           CASE(rejects_nonzero_trailing_bits_after_one_byte),
           CASE(rejects_nonzero_trailing_bits_after_two_bytes), CASE(decode_reports_short_capacity),
           CASE(decode_of_empty_input_is_empty), CASE(invalid_input_wins_over_short_capacity))
