/*
 * test_tnauth.c — the TNAuthList DER codec (firmware/pki/tnauth.c).
 *
 * The four pinned vectors below were derived by hand (derivation next to
 * each), then checked twice with OpenSSL's command line:
 *   - `openssl asn1parse -inform DER` on the hand bytes shows the expected
 *     tree (SEQUENCE / cont [n] / IA5STRING or SEQUENCE{IA5STRING,INTEGER});
 *   - `openssl asn1parse -genconf` with EXPLICIT tags generates the same
 *     bytes independently, e.g. for the mixed list:
 *         asn1=SEQUENCE:tnal
 *         [tnal]
 *         e0=EXP:0,IA5STRING:709J
 *         e1=EXP:1,SEQUENCE:rng
 *         e2=EXP:2,IA5STRING:12025550123
 *         [rng]
 *         start=IA5STRING:13035550000
 *         count=INTEGER:200
 *     (spc/range/one: the same with only the one matching line).
 * All four generated files compared equal (cmp) to the arrays here.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "pki.h"
#include "sti_err.h"

/* SPC "709J" — the deployed example from the RFC 8226 ecosystem.
 *   IA5String "709J"        16 04 37 30 39 4a              (6 bytes)
 *   [0] EXPLICIT            a0 06 <6>                      (8 bytes)
 *   SEQUENCE OF             30 08 <8>                      (10 bytes) */
static const uint8_t V_SPC[] = {0x30, 0x08, 0xa0, 0x06, 0x16, 0x04, 0x37, 0x30, 0x39, 0x4a};

/* range start "12025550100" count 100.
 *   IA5String 11 chars      16 0b 31 32 30 32 35 35 35 30 31 30 30   (13)
 *   INTEGER 100 = 0x64      02 01 64  (top bit clear: one byte)      (3)
 *   SEQUENCE                30 10 <16>                                (18)
 *   [1] EXPLICIT            a1 12 <18>                                (20)
 *   SEQUENCE OF             30 14 <20>                                (22) */
static const uint8_t V_RANGE[] = {0x30, 0x14, 0xa1, 0x12, 0x30, 0x10, 0x16, 0x0b,
                                  0x31, 0x32, 0x30, 0x32, 0x35, 0x35, 0x35, 0x30,
                                  0x31, 0x30, 0x30, 0x02, 0x01, 0x64};

/* one "12025550123".
 *   IA5String               16 0b 31 32 30 32 35 35 35 30 31 32 33   (13)
 *   [2] EXPLICIT            a2 0d <13>                                (15)
 *   SEQUENCE OF             30 0f <15>                                (17) */
static const uint8_t V_ONE[] = {0x30, 0x0f, 0xa2, 0x0d, 0x16, 0x0b, 0x31, 0x32, 0x30,
                                0x32, 0x35, 0x35, 0x35, 0x30, 0x31, 0x32, 0x33};

/* spc "709J", range "13035550000"/200, one "12025550123", in that order.
 *   spc entry as above                         a0 06 ...               (8)
 *   INTEGER 200 = 0xc8: top bit set, so DER
 *   prepends 00 to stay positive               02 02 00 c8             (4)
 *   IA5String                                  16 0b 31 33 30 33 35 35 35 30 30 30 30 (13)
 *   SEQUENCE                                   30 11 <17>              (19)
 *   [1] EXPLICIT                               a1 13 <19>              (21)
 *   one entry as above                         a2 0d ...               (15)
 *   SEQUENCE OF, 8 + 21 + 15 = 44 = 0x2c       30 2c <44>              (46) */
static const uint8_t V_MIXED[] = {
    0x30, 0x2c, 0xa0, 0x06, 0x16, 0x04, 0x37, 0x30, 0x39, 0x4a, 0xa1, 0x13, 0x30, 0x11, 0x16, 0x0b,
    0x31, 0x33, 0x30, 0x33, 0x35, 0x35, 0x35, 0x30, 0x30, 0x30, 0x30, 0x02, 0x02, 0x00, 0xc8, 0xa2,
    0x0d, 0x16, 0x0b, 0x31, 0x32, 0x30, 0x32, 0x35, 0x35, 0x35, 0x30, 0x31, 0x32, 0x33};

/* ---- helpers ---- */

static struct scope_entry spc(const char *s)
{
    struct scope_entry e;
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_SPC;
    strncpy(e.spc, s, sizeof e.spc - 1);
    return e;
}

static struct scope_entry one(const char *tn)
{
    struct scope_entry e;
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_ONE;
    strncpy(e.tn, tn, sizeof e.tn - 1);
    return e;
}

static struct scope_entry range(const char *start, uint64_t count)
{
    struct scope_entry e = one(start);
    e.kind = SCOPE_RANGE;
    e.count = count;
    return e;
}

static int decode_rc(const uint8_t *der, size_t n)
{
    struct scope s;
    scope_init(&s);
    int rc = pki_tnauth_decode(der, n, &s);
    scope_free(&s);
    return rc;
}

/* Short-form TLV (content < 128 bytes), for building near-valid inputs. */
static size_t tlv(uint8_t *out, uint8_t tag, const void *content, size_t n)
{
    out[0] = tag;
    out[1] = (uint8_t)n;
    memmove(out + 2, content, n);
    return n + 2;
}

/* SEQUENCE OF { [tag] EXPLICIT <inner_tag> str } with one entry. */
static size_t list_one_string(uint8_t *out, uint8_t ctx_tag, uint8_t inner_tag, const char *str,
                              size_t len)
{
    uint8_t a[128], b[128];
    size_t n = tlv(a, inner_tag, str, len);
    n = tlv(b, ctx_tag, a, n);
    return tlv(out, 0x30, b, n);
}

/* SEQUENCE OF { [1] EXPLICIT SEQUENCE { IA5String start, INTEGER <int_bytes> } } */
static size_t list_range(uint8_t *out, const char *start, const uint8_t *int_bytes, size_t int_len)
{
    uint8_t a[128], b[128];
    size_t n = tlv(a, 0x16, start, strlen(start));
    n += tlv(a + n, 0x02, int_bytes, int_len);
    n = tlv(b, 0x30, a, n);
    n = tlv(a, 0xa1, b, n);
    return tlv(out, 0x30, a, n);
}

#define CHECK_ENCODES(scope_ptr, vec)                                                              \
    do {                                                                                           \
        uint8_t *der_ = NULL;                                                                      \
        size_t n_ = 0;                                                                             \
        CHECK_RC(pki_tnauth_encode((scope_ptr), &der_, &n_), STI_OK);                              \
        int same_ = n_ == sizeof(vec) && memcmp(der_, (vec), n_) == 0;                             \
        free(der_);                                                                                \
        CHECK_INT(n_, sizeof(vec));                                                                \
        CHECK(same_);                                                                              \
    } while (0)

/* ---- pinned vectors, both directions ---- */

TEST(encodes_spc_709J_to_deployed_vector)
{
    struct scope s;
    scope_init(&s);
    struct scope_entry e = spc("709J");
    CHECK_RC(scope_add(&s, &e), STI_OK);
    CHECK_ENCODES(&s, V_SPC);
    scope_free(&s);
}

TEST(decodes_deployed_spc_vector)
{
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_SPC, sizeof V_SPC, &s), STI_OK);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.e[0].kind, SCOPE_SPC);
    CHECK_STR(s.e[0].spc, "709J");
    scope_free(&s);
}

TEST(encodes_range_to_explicit_vector)
{
    struct scope s;
    scope_init(&s);
    struct scope_entry e = range("12025550100", 100);
    CHECK_RC(scope_add(&s, &e), STI_OK);
    CHECK_ENCODES(&s, V_RANGE);
    scope_free(&s);
}

TEST(decodes_range_vector)
{
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_RANGE, sizeof V_RANGE, &s), STI_OK);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.e[0].kind, SCOPE_RANGE);
    CHECK_STR(s.e[0].tn, "12025550100");
    CHECK_INT(s.e[0].count, 100);
    scope_free(&s);
}

TEST(encodes_single_tn_to_explicit_vector)
{
    struct scope s;
    scope_init(&s);
    struct scope_entry e = one("12025550123");
    CHECK_RC(scope_add(&s, &e), STI_OK);
    CHECK_ENCODES(&s, V_ONE);
    scope_free(&s);
}

TEST(decodes_single_tn_vector)
{
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_ONE, sizeof V_ONE, &s), STI_OK);
    CHECK_INT(s.n, 1);
    CHECK_INT(s.e[0].kind, SCOPE_ONE);
    CHECK_STR(s.e[0].tn, "12025550123");
    scope_free(&s);
}

TEST(encodes_mixed_list_in_order_with_padded_integer)
{
    struct scope s;
    scope_init(&s);
    struct scope_entry e[3] = {spc("709J"), range("13035550000", 200), one("12025550123")};
    for (int i = 0; i < 3; i++)
        CHECK_RC(scope_add(&s, &e[i]), STI_OK);
    CHECK_ENCODES(&s, V_MIXED);
    scope_free(&s);
}

TEST(decodes_mixed_list_in_order)
{
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_MIXED, sizeof V_MIXED, &s), STI_OK);
    CHECK_INT(s.n, 3);
    CHECK_INT(s.e[0].kind, SCOPE_SPC);
    CHECK_STR(s.e[0].spc, "709J");
    CHECK_INT(s.e[1].kind, SCOPE_RANGE);
    CHECK_STR(s.e[1].tn, "13035550000");
    CHECK_INT(s.e[1].count, 200);
    CHECK_INT(s.e[2].kind, SCOPE_ONE);
    CHECK_STR(s.e[2].tn, "12025550123");
    scope_free(&s);
}

/* ---- accepted edges ---- */

TEST(round_trips_range_count_at_ten_to_the_fifteen)
{
    /* 000000000000000 .. 999999999999999: the one range that big can be. */
    struct scope s, back;
    scope_init(&s);
    scope_init(&back);
    struct scope_entry e = range("000000000000000", 1000000000000000ULL);
    CHECK_RC(scope_add(&s, &e), STI_OK);
    uint8_t *der = NULL;
    size_t n = 0;
    CHECK_RC(pki_tnauth_encode(&s, &der, &n), STI_OK);
    int rc = pki_tnauth_decode(der, n, &back);
    free(der);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(back.n, 1);
    CHECK_INT(back.e[0].count, 1000000000000000ULL);
    scope_free(&s);
    scope_free(&back);
}

TEST(accepts_single_tn_with_hash_and_star)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "*67#", 4);
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(der, n, &s), STI_OK);
    CHECK_STR(s.e[0].tn, "*67#");
    scope_free(&s);
}

TEST(accepts_spc_of_32_chars)
{
    const char *s32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa0, 0x16, s32, 32);
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(der, n, &s), STI_OK);
    CHECK_STR(s.e[0].spc, s32);
    scope_free(&s);
}

TEST(decode_appends_to_existing_scope)
{
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_SPC, sizeof V_SPC, &s), STI_OK);
    CHECK_RC(pki_tnauth_decode(V_ONE, sizeof V_ONE, &s), STI_OK);
    CHECK_INT(s.n, 2);
    CHECK_STR(s.e[1].tn, "12025550123");
    scope_free(&s);
}

/* ---- rejected: encoding form ---- */

TEST(rejects_implicit_tagged_spc)
{
    static const uint8_t der[] = {0x30, 0x06, 0x80, 0x04, 0x37, 0x30, 0x39, 0x4a};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_implicit_tagged_range)
{
    /* [1] IMPLICIT SEQUENCE: a1 carries start and count directly. */
    static const uint8_t der[] = {0x30, 0x12, 0xa1, 0x10, 0x16, 0x0b, 0x31, 0x32, 0x30, 0x32,
                                  0x35, 0x35, 0x35, 0x30, 0x31, 0x30, 0x30, 0x02, 0x01, 0x64};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_implicit_tagged_single_tn)
{
    static const uint8_t der[] = {0x30, 0x0d, 0x82, 0x0b, 0x31, 0x32, 0x30, 0x32, 0x35,
                                  0x35, 0x35, 0x30, 0x31, 0x32, 0x33};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_empty_list)
{
    static const uint8_t der[] = {0x30, 0x00};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_empty_input)
{
    CHECK_RC(decode_rc(V_SPC, 0), STI_EPKI_TNAUTH);
}

TEST(rejects_truncated_input)
{
    CHECK_RC(decode_rc(V_MIXED, sizeof V_MIXED - 1), STI_EPKI_TNAUTH);
}

TEST(rejects_trailing_byte)
{
    uint8_t der[sizeof V_SPC + 1];
    memcpy(der, V_SPC, sizeof V_SPC);
    der[sizeof V_SPC] = 0x00;
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_long_form_length)
{
    static const uint8_t der[] = {0x30, 0x81, 0x08, 0xa0, 0x06, 0x16, 0x04, 0x37, 0x30, 0x39, 0x4a};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_indefinite_length)
{
    static const uint8_t der[] = {0x30, 0x80, 0xa0, 0x06, 0x16, 0x04, 0x37,
                                  0x30, 0x39, 0x4a, 0x00, 0x00};
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_non_minimal_integer_count)
{
    static const uint8_t cnt[] = {0x00, 0x64};
    uint8_t der[64];
    size_t n = list_range(der, "12025550100", cnt, sizeof cnt);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_set_instead_of_sequence)
{
    uint8_t der[sizeof V_SPC];
    memcpy(der, V_SPC, sizeof der);
    der[0] = 0x31;
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_unknown_choice_tag_three)
{
    uint8_t der[sizeof V_SPC];
    memcpy(der, V_SPC, sizeof der);
    der[2] = 0xa3;
    CHECK_RC(decode_rc(der, sizeof der), STI_EPKI_TNAUTH);
}

TEST(rejects_utf8string_instead_of_ia5string)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa0, 0x0c, "709J", 4);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

/* ---- rejected: values ---- */

TEST(rejects_range_count_below_two)
{
    static const uint8_t c1[] = {0x01}, c0[] = {0x00};
    uint8_t der[64];
    size_t n = list_range(der, "12025550100", c1, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
    n = list_range(der, "12025550100", c0, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_negative_range_count)
{
    static const uint8_t cm[] = {0xff}; /* -1 */
    uint8_t der[64];
    size_t n = list_range(der, "12025550100", cm, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_range_count_above_ten_to_the_fifteen)
{
    /* 10^15 + 1 = 0x038d7ea4c68001 */
    static const uint8_t c[] = {0x03, 0x8d, 0x7e, 0xa4, 0xc6, 0x80, 0x01};
    uint8_t der[64];
    size_t n = list_range(der, "000000000000000", c, sizeof c);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_range_count_wider_than_64_bits)
{
    static const uint8_t c[] = {0x01, 0, 0, 0, 0, 0, 0, 0, 0x02};
    uint8_t der[64];
    size_t n = list_range(der, "12025550100", c, sizeof c);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_range_start_with_hash_or_star)
{
    static const uint8_t c[] = {0x64};
    uint8_t der[64];
    size_t n = list_range(der, "#2025550100", c, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
    n = list_range(der, "1202555010*", c, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_range_running_past_its_digit_length)
{
    /* 99 + 2 numbers would need a third digit: scope_add refuses it. */
    static const uint8_t c[] = {0x02};
    uint8_t der[64];
    size_t n = list_range(der, "99", c, 1);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_tn_with_letter)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "1202555O123", 11);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_tn_with_plus_sign)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "+12025550123", 12);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_tn_of_sixteen_digits)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "1234567890123456", 16);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_empty_tn)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "", 0);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_tn_with_embedded_nul)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa2, 0x16, "1202\0" "555", 8);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_empty_spc)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa0, 0x16, "", 0);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_spc_of_33_chars)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa0, 0x16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456", 33);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(rejects_spc_with_control_char)
{
    uint8_t der[64];
    size_t n = list_one_string(der, 0xa0, 0x16, "70\n9", 4);
    CHECK_RC(decode_rc(der, n), STI_EPKI_TNAUTH);
}

TEST(failed_decode_leaves_scope_untouched)
{
    /* First entry valid, second a 16-digit TN: nothing may be appended. */
    static const uint8_t der[] = {0x30, 0x1a, 0xa0, 0x06, 0x16, 0x04, 0x37, 0x30, 0x39, 0x4a,
                                  0xa2, 0x12, 0x16, 0x10, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36,
                                  0x37, 0x38, 0x39, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36};
    struct scope s;
    scope_init(&s);
    CHECK_RC(pki_tnauth_decode(V_ONE, sizeof V_ONE, &s), STI_OK);
    CHECK_RC(pki_tnauth_decode(der, sizeof der, &s), STI_EPKI_TNAUTH);
    CHECK_INT(s.n, 1);
    scope_free(&s);
}

/* ---- encode arguments ---- */

TEST(encode_rejects_empty_scope)
{
    struct scope s;
    scope_init(&s);
    uint8_t *der = NULL;
    size_t n = 0;
    CHECK_RC(pki_tnauth_encode(&s, &der, &n), STI_EINVAL);
    CHECK(der == NULL);
}

TEST(encode_rejects_entry_decode_would_refuse)
{
    /* Built by hand past scope_add: a range of one number. */
    struct scope_entry e = range("12025550100", 1);
    struct scope s = {&e, 1, 1};
    uint8_t *der = NULL;
    size_t n = 0;
    CHECK_RC(pki_tnauth_encode(&s, &der, &n), STI_EPKI_TNAUTH);
    CHECK(der == NULL);
}

CHECK_MAIN(CASE(encodes_spc_709J_to_deployed_vector), CASE(decodes_deployed_spc_vector),
           CASE(encodes_range_to_explicit_vector), CASE(decodes_range_vector),
           CASE(encodes_single_tn_to_explicit_vector), CASE(decodes_single_tn_vector),
           CASE(encodes_mixed_list_in_order_with_padded_integer), CASE(decodes_mixed_list_in_order),
           CASE(round_trips_range_count_at_ten_to_the_fifteen),
           CASE(accepts_single_tn_with_hash_and_star), CASE(accepts_spc_of_32_chars),
           CASE(decode_appends_to_existing_scope), CASE(rejects_implicit_tagged_spc),
           CASE(rejects_implicit_tagged_range), CASE(rejects_implicit_tagged_single_tn),
           CASE(rejects_empty_list), CASE(rejects_empty_input), CASE(rejects_truncated_input),
           CASE(rejects_trailing_byte), CASE(rejects_long_form_length),
           CASE(rejects_indefinite_length), CASE(rejects_non_minimal_integer_count),
           CASE(rejects_set_instead_of_sequence), CASE(rejects_unknown_choice_tag_three),
           CASE(rejects_utf8string_instead_of_ia5string), CASE(rejects_range_count_below_two),
           CASE(rejects_negative_range_count), CASE(rejects_range_count_above_ten_to_the_fifteen),
           CASE(rejects_range_count_wider_than_64_bits),
           CASE(rejects_range_start_with_hash_or_star),
           CASE(rejects_range_running_past_its_digit_length), CASE(rejects_tn_with_letter),
           CASE(rejects_tn_with_plus_sign), CASE(rejects_tn_of_sixteen_digits),
           CASE(rejects_empty_tn), CASE(rejects_tn_with_embedded_nul), CASE(rejects_empty_spc),
           CASE(rejects_spc_of_33_chars), CASE(rejects_spc_with_control_char),
           CASE(failed_decode_leaves_scope_untouched), CASE(encode_rejects_empty_scope),
           CASE(encode_rejects_entry_decode_would_refuse))
