/* test_tn.c — telephone number normalisation and canonical check. */
#include <string.h>

#include "check.h"
#include "sti_err.h"
#include "tn.h"

/* Normalise a NUL-terminated literal. */
static int norm(const char *in, char out[TN_BUF])
{
    return tn_normalize(in, strlen(in), out);
}

TEST(keeps_canonical_number)
{
    char out[TN_BUF];
    CHECK_RC(norm("12025550100", out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(strips_plus_spaces_parens_and_dashes)
{
    char out[TN_BUF];
    CHECK_RC(norm("+1 (202) 555-0100", out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(strips_tel_scheme_and_plus)
{
    char out[TN_BUF];
    CHECK_RC(norm("tel:+12025550100", out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(strips_tel_scheme_in_any_case)
{
    char out[TN_BUF];
    CHECK_RC(norm("TeL:+1.202.555.0100", out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(strips_dashes_without_plus)
{
    char out[TN_BUF];
    CHECK_RC(norm("1-202-555-0100", out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(accepts_plus_after_leading_separators)
{
    char out[TN_BUF];
    CHECK_RC(norm(" +44 20 7946 0000", out), STI_OK);
    CHECK_STR(out, "442079460000");
}

TEST(keeps_hash_and_star)
{
    char out[TN_BUF];
    CHECK_RC(norm("*67#", out), STI_OK);
    CHECK_STR(out, "*67#");
}

TEST(accepts_fifteen_digits)
{
    char out[TN_BUF];
    CHECK_RC(norm("+123 456 789 012 345", out), STI_OK);
    CHECK_STR(out, "123456789012345");
}

TEST(accepts_single_digit)
{
    char out[TN_BUF];
    CHECK_RC(norm("tel:7", out), STI_OK);
    CHECK_STR(out, "7");
}

TEST(rejects_sixteen_digits)
{
    char out[TN_BUF];
    CHECK_RC(norm("1234567890123456", out), STI_ETN);
    CHECK_STR(out, "");
}

TEST(rejects_letters)
{
    char out[TN_BUF];
    CHECK_RC(norm("1-800-FLOWERS", out), STI_ETN);
}

TEST(rejects_tel_uri_parameters)
{
    char out[TN_BUF];
    CHECK_RC(norm("tel:+12025550100;phone-context=example.com", out), STI_ETN);
}

TEST(rejects_sip_uri_at_sign)
{
    char out[TN_BUF];
    CHECK_RC(norm("12025550100@example.com", out), STI_ETN);
}

TEST(rejects_second_plus)
{
    char out[TN_BUF];
    CHECK_RC(norm("++12025550100", out), STI_ETN);
}

TEST(rejects_plus_after_digits)
{
    char out[TN_BUF];
    CHECK_RC(norm("1+2025550100", out), STI_ETN);
}

TEST(rejects_empty_input)
{
    char out[TN_BUF];
    CHECK_RC(tn_normalize("", 0, out), STI_ETN);
}

TEST(rejects_separators_only)
{
    char out[TN_BUF];
    CHECK_RC(norm(" ( ) - . ", out), STI_ETN);
}

TEST(rejects_bare_tel_scheme_and_plus)
{
    char out[TN_BUF];
    CHECK_RC(norm("tel:+", out), STI_ETN);
}

TEST(rejects_tel_scheme_not_at_start)
{
    char out[TN_BUF];
    CHECK_RC(norm(" tel:12025550100", out), STI_ETN);
}

TEST(rejects_tab_and_other_whitespace)
{
    char out[TN_BUF];
    CHECK_RC(norm("1202\t5550100", out), STI_ETN);
}

TEST(rejects_embedded_nul_within_length)
{
    char out[TN_BUF];
    CHECK_RC(tn_normalize("1202\0005550100", 12, out), STI_ETN);
}

TEST(reads_only_inlen_bytes)
{
    char out[TN_BUF];
    CHECK_RC(tn_normalize("12025550100xyz", 11, out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(accepts_input_of_exactly_input_max)
{
    char in[TN_INPUT_MAX + 1];
    char out[TN_BUF];
    memset(in, ' ', TN_INPUT_MAX);
    memcpy(in + TN_INPUT_MAX - 11, "12025550100", 11);
    CHECK_RC(tn_normalize(in, TN_INPUT_MAX, out), STI_OK);
    CHECK_STR(out, "12025550100");
}

TEST(rejects_input_longer_than_input_max)
{
    char in[TN_INPUT_MAX + 2];
    char out[TN_BUF];
    memset(in, ' ', TN_INPUT_MAX + 1);
    memcpy(in + TN_INPUT_MAX + 1 - 11, "12025550100", 11);
    CHECK_RC(tn_normalize(in, TN_INPUT_MAX + 1, out), STI_ETN);
}

TEST(rejects_null_input)
{
    char out[TN_BUF];
    CHECK_RC(tn_normalize(NULL, 3, out), STI_ETN);
    CHECK_RC(tn_normalize("123", 3, NULL), STI_EINVAL);
}

TEST(check_accepts_canonical_forms)
{
    CHECK_RC(tn_check("12025550100", 11), STI_OK);
    CHECK_RC(tn_check("*67#", 4), STI_OK);
    CHECK_RC(tn_check("123456789012345", 15), STI_OK);
}

TEST(check_rejects_non_canonical_forms)
{
    CHECK_RC(tn_check("", 0), STI_ETN);
    CHECK_RC(tn_check("+12025550100", 12), STI_ETN);
    CHECK_RC(tn_check("1 202", 5), STI_ETN);
    CHECK_RC(tn_check("1234567890123456", 16), STI_ETN);
    CHECK_RC(tn_check(NULL, 1), STI_ETN);
}

CHECK_MAIN(CASE(keeps_canonical_number), CASE(strips_plus_spaces_parens_and_dashes),
           CASE(strips_tel_scheme_and_plus), CASE(strips_tel_scheme_in_any_case),
           CASE(strips_dashes_without_plus), CASE(accepts_plus_after_leading_separators),
           CASE(keeps_hash_and_star), CASE(accepts_fifteen_digits), CASE(accepts_single_digit),
           CASE(rejects_sixteen_digits), CASE(rejects_letters), CASE(rejects_tel_uri_parameters),
           CASE(rejects_sip_uri_at_sign), CASE(rejects_second_plus),
           CASE(rejects_plus_after_digits), CASE(rejects_empty_input),
           CASE(rejects_separators_only), CASE(rejects_bare_tel_scheme_and_plus),
           CASE(rejects_tel_scheme_not_at_start), CASE(rejects_tab_and_other_whitespace),
           CASE(rejects_embedded_nul_within_length), CASE(reads_only_inlen_bytes),
           CASE(accepts_input_of_exactly_input_max), CASE(rejects_input_longer_than_input_max),
           CASE(rejects_null_input), CASE(check_accepts_canonical_forms),
           CASE(check_rejects_non_canonical_forms))
