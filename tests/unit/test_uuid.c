/* test_uuid.c — RFC 4122 v4 formatting and origid normalisation. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "sti_err.h"
#include "uuid.h"

TEST(formats_all_zero_bytes_with_version_and_variant)
{
    uint8_t rnd[16] = {0};
    char out[UUID_BUF];
    uuid_v4_format(rnd, out);
    CHECK_STR(out, "00000000-0000-4000-8000-000000000000");
}

TEST(formats_all_ones_clearing_version_and_variant_bits)
{
    uint8_t rnd[16];
    char out[UUID_BUF];
    memset(rnd, 0xff, sizeof rnd);
    uuid_v4_format(rnd, out);
    CHECK_STR(out, "ffffffff-ffff-4fff-bfff-ffffffffffff");
}

TEST(formats_byte_sequence_lowercase)
{
    uint8_t rnd[16];
    char out[UUID_BUF];
    for (int i = 0; i < 16; i++)
        rnd[i] = (uint8_t)(i * 0x11);
    uuid_v4_format(rnd, out);
    /* byte 6 0x66 -> 0x46, byte 8 0x88 -> 0x88 (already 10xx) */
    CHECK_STR(out, "00112233-4455-4677-8899-aabbccddeeff");
    CHECK_INT(strlen(out), UUID_STR_LEN);
}

TEST(does_not_modify_input_bytes)
{
    uint8_t rnd[16], copy[16];
    char out[UUID_BUF];
    memset(rnd, 0xff, sizeof rnd);
    memcpy(copy, rnd, sizeof rnd);
    uuid_v4_format(rnd, out);
    CHECK_MEM(rnd, copy, sizeof rnd);
}

TEST(formatted_uuid_normalizes_to_itself)
{
    uint8_t rnd[16] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    char out[UUID_BUF], norm[UUID_BUF];
    uuid_v4_format(rnd, out);
    CHECK_RC(uuid_normalize(out, strlen(out), norm), STI_OK);
    CHECK_STR(norm, out);
}

TEST(normalize_lowercases_uppercase_hex)
{
    char out[UUID_BUF];
    const char *in = "123E4567-E89B-12D3-A456-426614174000";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_OK);
    CHECK_STR(out, "123e4567-e89b-12d3-a456-426614174000");
}

TEST(normalize_accepts_any_version)
{
    char out[UUID_BUF];
    const char *in = "123e4567-e89b-12d3-a456-426614174000";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_OK);
}

TEST(rejects_missing_hyphens)
{
    char out[UUID_BUF];
    const char *in = "123e4567e89b12d3a456426614174000";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_EORIGID);
}

TEST(rejects_hyphen_in_wrong_place)
{
    char out[UUID_BUF];
    const char *in = "123e456-7e89b-12d3-a456-426614174000";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_EORIGID);
    CHECK_STR(out, "");
}

TEST(rejects_non_hex_digit)
{
    char out[UUID_BUF];
    const char *in = "123e4567-e89b-12d3-a456-42661417400g";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_EORIGID);
}

TEST(rejects_braced_form)
{
    char out[UUID_BUF];
    const char *in = "{123e4567-e89b-12d3-a456-426614174000}";
    CHECK_RC(uuid_normalize(in, strlen(in), out), STI_EORIGID);
}

TEST(rejects_short_and_long_lengths)
{
    char out[UUID_BUF];
    const char *in = "123e4567-e89b-12d3-a456-4266141740001";
    CHECK_RC(uuid_normalize(in, 35, out), STI_EORIGID);
    CHECK_RC(uuid_normalize(in, 37, out), STI_EORIGID);
    CHECK_RC(uuid_normalize("", 0, out), STI_EORIGID);
}

TEST(rejects_null_arguments)
{
    char out[UUID_BUF];
    CHECK_RC(uuid_normalize(NULL, 36, out), STI_EORIGID);
    CHECK_RC(uuid_normalize("x", 1, NULL), STI_EINVAL);
}

CHECK_MAIN(CASE(formats_all_zero_bytes_with_version_and_variant),
           CASE(formats_all_ones_clearing_version_and_variant_bits),
           CASE(formats_byte_sequence_lowercase), CASE(does_not_modify_input_bytes),
           CASE(formatted_uuid_normalizes_to_itself), CASE(normalize_lowercases_uppercase_hex),
           CASE(normalize_accepts_any_version), CASE(rejects_missing_hyphens),
           CASE(rejects_hyphen_in_wrong_place), CASE(rejects_non_hex_digit),
           CASE(rejects_braced_form), CASE(rejects_short_and_long_lengths),
           CASE(rejects_null_arguments))
