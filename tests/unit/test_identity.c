/*
 * test_identity.c — the Identity header splitter and the strict PASSporT
 * JSON reader (firmware/core/identity.c). Every rejection asserts the exact
 * code of its layer: FORMAT for the header value, HEADER / CLAIMS for JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "b64u.h"
#include "check.h"
#include "identity.h"
#include "sti_err.h"

#define HDR "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\",\"x5u\":\"https://cr.example.com/a.pem\"}"
#define CLAIMS                                                                                     \
    "{\"attest\":\"A\",\"dest\":{\"tn\":[\"12025550199\"]},\"iat\":1750000000,"                     \
    "\"orig\":{\"tn\":\"12025550123\"},\"origid\":\"123e4567-e89b-42d3-a456-426614174000\"}"

static uint8_t hbuf[4096], cbuf[4096], sbuf[4096];
static struct id_buf hb, cb, sb;
static struct id_parts parts;

/* b64u(HDR).b64u(CLAIMS).b64u(64 bytes) into out. */
static void make_jws(const char *hdr, const char *claims, char *out, size_t cap)
{
    uint8_t sig[64];
    size_t n, k;
    memset(sig, 0x5a, sizeof sig);
    b64u_encode((const uint8_t *)hdr, strlen(hdr), out, cap, &n);
    out[n++] = '.';
    b64u_encode((const uint8_t *)claims, strlen(claims), out + n, cap - n, &k);
    n += k;
    out[n++] = '.';
    b64u_encode(sig, sizeof sig, out + n, cap - n, &k);
}

static int parse(const char *s)
{
    hb = (struct id_buf){hbuf, sizeof hbuf, 0};
    cb = (struct id_buf){cbuf, sizeof cbuf, 0};
    sb = (struct id_buf){sbuf, sizeof sbuf, 0};
    return id_parse(s, strlen(s), &parts, &hb, &cb, &sb);
}

/* The JWS followed by a parameter string. */
static int parse_with(const char *params)
{
    static char s[8192];
    make_jws(HDR, CLAIMS, s, sizeof s);
    strcat(s, params);
    return parse(s);
}

/* ---- Identity header ---- */

TEST(parses_full_identity_header)
{
    CHECK_RC(parse_with(";info=<https://cr.example.com/a.pem>;alg=ES256;ppt=shaken"), STI_OK);
    CHECK_INT(parts.bare, 0);
    CHECK_INT(hb.len, strlen(HDR));
    CHECK_MEM(hbuf, HDR, hb.len);
    CHECK_INT(cb.len, strlen(CLAIMS));
    CHECK_INT(sb.len, 64);
    CHECK_INT(parts.info_len, strlen("https://cr.example.com/a.pem"));
    CHECK_MEM(parts.info, "https://cr.example.com/a.pem", parts.info_len);
    CHECK_INT(parts.alg_len, 5);
    CHECK_MEM(parts.ppt, "shaken", 6);
    CHECK_INT(parts.jws[parts.si_len], '.');
}

TEST(parses_bare_jws)
{
    char s[4096];
    make_jws(HDR, CLAIMS, s, sizeof s);
    CHECK_RC(parse(s), STI_OK);
    CHECK_INT(parts.bare, 1);
    CHECK(parts.info == NULL && parts.ppt == NULL && parts.alg == NULL);
    CHECK_INT(parts.jws_len, strlen(s));
}

TEST(accepts_quoted_ppt)
{
    CHECK_RC(parse_with(";info=<https://cr.example.com/a.pem>;alg=ES256;ppt=\"shaken\""), STI_OK);
    CHECK_INT(parts.ppt_len, 6);
    CHECK_MEM(parts.ppt, "shaken", 6);
}

TEST(accepts_reordered_params_any_case_and_whitespace)
{
    CHECK_RC(parse_with(" ; PPT = shaken ;\tAlg=ES256; Info= <https://cr.example.com/a.pem> \r\n"),
             STI_OK);
    CHECK_MEM(parts.info, "https://cr.example.com/a.pem", parts.info_len);
    CHECK_INT(parts.ppt_len, 6);
}

TEST(accepts_missing_alg_param)
{
    CHECK_RC(parse_with(";info=<https://cr.example.com/a.pem>;ppt=shaken"), STI_OK);
    CHECK(parts.alg == NULL);
}

TEST(rejects_info_without_angle_brackets)
{
    CHECK_RC(parse_with(";info=https://cr.example.com/a.pem;alg=ES256;ppt=shaken"),
             STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://cr.example.com/a.pem;alg=ES256;ppt=shaken"),
             STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<>;alg=ES256;ppt=shaken"), STI_EVFY_FORMAT);
}

TEST(rejects_missing_info_or_ppt)
{
    CHECK_RC(parse_with(";alg=ES256;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://cr.example.com/a.pem>;alg=ES256"), STI_EVFY_FORMAT);
}

TEST(rejects_repeated_or_unknown_params)
{
    CHECK_RC(parse_with(";info=<https://a/>;info=<https://a/>;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=shaken;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=shaken;alg=ES256;alg=ES256"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=shaken;foo=bar"), STI_EVFY_FORMAT);
}

TEST(rejects_broken_parameter_syntax)
{
    CHECK_RC(parse_with(";info=<https://a/>;ppt=shaken;"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt="), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=\"shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=\"sha\\\"ken\""), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a b/>;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(" x;info=<https://a/>;ppt=shaken"), STI_EVFY_FORMAT);
    CHECK_RC(parse_with(";info=<https://a/>;ppt=shaken x"), STI_EVFY_FORMAT);
}

TEST(rejects_extra_dots)
{
    char s[8192];
    make_jws(HDR, CLAIMS, s, sizeof s);
    strcat(s, ".AAAA");
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
    make_jws(HDR, CLAIMS, s, sizeof s);
    *strrchr(s, '.') = '\0'; /* two parts only */
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
}

TEST(rejects_compact_form_with_empty_parts)
{
    CHECK_RC(parse("..AAAA"), STI_EVFY_FORMAT);
    char s[8192];
    make_jws(HDR, CLAIMS, s, sizeof s);
    *(strrchr(s, '.') + 1) = '\0'; /* empty signature */
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
}

TEST(rejects_padding_in_base64url)
{
    char s[8192];
    /* A 64-byte signature encodes to 86 characters; "==" is padding. */
    make_jws(HDR, CLAIMS, s, sizeof s);
    strcat(s, "==");
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
    make_jws(HDR, CLAIMS, s, sizeof s);
    char *dot = strchr(s, '.');
    memmove(dot + 1, dot, strlen(dot) + 1);
    *dot = '='; /* padding after the header part */
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
}

TEST(rejects_non_url_safe_alphabet_and_overlong_input)
{
    char s[8192];
    make_jws(HDR, CLAIMS, s, sizeof s);
    s[3] = '+';
    CHECK_RC(parse(s), STI_EVFY_FORMAT);
    static char big[ID_INPUT_MAX + 2];
    memset(big, 'A', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_RC(parse(big), STI_EVFY_FORMAT);
}

TEST(rejects_part_larger_than_buffer)
{
    char s[8192];
    make_jws(HDR, CLAIMS, s, sizeof s);
    hb = (struct id_buf){hbuf, 8, 0};
    cb = (struct id_buf){cbuf, sizeof cbuf, 0};
    sb = (struct id_buf){sbuf, sizeof sbuf, 0};
    CHECK_RC(id_parse(s, strlen(s), &parts, &hb, &cb, &sb), STI_EVFY_FORMAT);
}

/* ---- header JSON ---- */

static int hdr(const char *json, struct id_header *h)
{
    return id_header_parse(json, strlen(json), h);
}

TEST(reads_header_members)
{
    struct id_header h;
    CHECK_RC(hdr(HDR, &h), STI_OK);
    CHECK_STR(h.alg, "ES256");
    CHECK_STR(h.ppt, "shaken");
    CHECK_STR(h.typ, "passport");
    CHECK_STR(h.x5u, "https://cr.example.com/a.pem");
    CHECK_INT(h.have, ID_H_ALG | ID_H_PPT | ID_H_TYP | ID_H_X5U);
    CHECK_INT(h.unknown, 0);
}

TEST(flags_unknown_header_members_and_accepts_whitespace_and_escapes)
{
    struct id_header h;
    CHECK_RC(hdr(" { \"alg\" : \"none\", \"kid\":[1,2], \"x5u\":\"https:\\/\\/a\\/b\" } ", &h), STI_OK);
    CHECK_STR(h.alg, "none");
    CHECK_STR(h.x5u, "https://a/b");
    CHECK_INT(h.unknown, 1);
    CHECK_INT(h.have, ID_H_ALG | ID_H_X5U);
}

TEST(rejects_duplicate_header_member)
{
    struct id_header h;
    CHECK_RC(hdr("{\"alg\":\"ES256\",\"alg\":\"none\"}", &h), STI_EVFY_HEADER);
    /* Duplicates count after unescaping. */
    CHECK_RC(hdr("{\"alg\":\"ES256\",\"\\u0061lg\":\"none\"}", &h), STI_EVFY_HEADER);
}

TEST(rejects_header_trailing_garbage_and_non_objects)
{
    struct id_header h;
    CHECK_RC(hdr(HDR "x", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr(HDR HDR, &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("[\"ES256\"]", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("\"ES256\"", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"ES256\",}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":5}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"ES256\"", &h), STI_EVFY_HEADER);
}

TEST(rejects_header_string_too_long_for_field)
{
    struct id_header h;
    CHECK_RC(hdr("{\"alg\":\"ES256ES256ES256ES256\"}", &h), STI_EVFY_HEADER);
}

TEST(rejects_bad_strings)
{
    struct id_header h;
    const char nul[] = "{\"alg\":\"ES\0" "256\"}";
    CHECK_RC(id_header_parse(nul, sizeof nul - 1, &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"ES\\u0000\"}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"\\ud800\"}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"\\udc00\"}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"\\x41\"}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"\xc0\xaf\"}", &h), STI_EVFY_HEADER); /* overlong '/' */
    CHECK_RC(hdr("{\"alg\":\"\xed\xa0\x80\"}", &h), STI_EVFY_HEADER); /* UTF-8 surrogate */
    CHECK_RC(hdr("{\"alg\":\"a\tb\"}", &h), STI_EVFY_HEADER);
    CHECK_RC(hdr("{\"alg\":\"\\ud83d\\ude00\"}", &h), STI_OK); /* a valid pair */
    CHECK_STR(h.alg, "\xf0\x9f\x98\x80");
}

/* ---- claims JSON ---- */

static int claims(const char *json, struct id_claims *c)
{
    return id_claims_parse(json, strlen(json), c);
}

TEST(reads_shaken_claims)
{
    struct id_claims c;
    CHECK_RC(claims(CLAIMS, &c), STI_OK);
    CHECK_INT(c.c.attest, 'A');
    CHECK_STR(c.c.orig, "12025550123");
    CHECK_INT(c.c.ndest, 1);
    CHECK_STR(c.c.dest[0], "12025550199");
    CHECK_INT(c.c.iat, 1750000000);
    CHECK_STR(c.c.origid, "123e4567-e89b-42d3-a456-426614174000");
    CHECK_INT(c.unknown, 0);
    CHECK_INT(c.nmembers, 5);
    CHECK_STR(c.m[2].name, "iat");
    CHECK_INT(c.m[2].len, 10);
    CHECK_INT(c.m[0].is_str, 1);
}

TEST(lowercases_origid)
{
    struct id_claims c;
    CHECK_RC(claims("{\"attest\":\"B\",\"dest\":{\"tn\":[\"1\"]},\"iat\":1,\"orig\":{\"tn\":\"2\"},"
                    "\"origid\":\"123E4567-E89B-42D3-A456-426614174000\"}",
                    &c),
             STI_OK);
    CHECK_STR(c.c.origid, "123e4567-e89b-42d3-a456-426614174000");
}

#define C_PRE "{\"attest\":\"A\",\"dest\":{\"tn\":[\"12025550199\"]},"
#define C_POST "\"orig\":{\"tn\":\"12025550123\"},\"origid\":\"123e4567-e89b-42d3-a456-426614174000\"}"

TEST(rejects_duplicate_claims)
{
    struct id_claims c;
    CHECK_RC(claims(C_PRE "\"iat\":1750000000,\"iat\":1750000001," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"A\",\"dest\":{\"tn\":[\"1\"],\"tn\":[\"2\"]},\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"x\":{\"a\":1,\"a\":2}," C_POST, &c), STI_EVFY_CLAIMS);
}

TEST(rejects_float_iat)
{
    struct id_claims c;
    CHECK_RC(claims(C_PRE "\"iat\":1750000000.0," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1.75e9," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1750000000E0," C_POST, &c), STI_EVFY_CLAIMS);
}

TEST(rejects_string_iat)
{
    struct id_claims c;
    CHECK_RC(claims(C_PRE "\"iat\":\"1750000000\"," C_POST, &c), STI_EVFY_CLAIMS);
}

TEST(rejects_iat_out_of_range_or_with_leading_zero)
{
    struct id_claims c;
    CHECK_RC(claims(C_PRE "\"iat\":0," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":-5," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":0175," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":253402300800," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":99999999999999999999," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":253402300799," C_POST, &c), STI_OK);
}

TEST(rejects_dest_not_an_array)
{
    struct id_claims c;
    CHECK_RC(claims("{\"attest\":\"A\",\"dest\":{\"tn\":\"12025550199\"},\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"A\",\"dest\":[\"12025550199\"],\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"A\",\"dest\":{\"tn\":[]},\"iat\":1," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"A\",\"dest\":{\"tn\":[12025550199]},\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
}

static void dests_json(unsigned n, char *out, size_t cap)
{
    size_t k = (size_t)snprintf(out, cap, "{\"attest\":\"A\",\"dest\":{\"tn\":[");
    for (unsigned i = 0; i < n; i++)
        k += (size_t)snprintf(out + k, cap - k, "%s\"120255501%02u\"", i ? "," : "", i);
    snprintf(out + k, cap - k, "]},\"iat\":1," C_POST);
}

TEST(rejects_17_dests_and_accepts_16)
{
    struct id_claims c;
    char j[1024];
    dests_json(17, j, sizeof j);
    CHECK_RC(claims(j, &c), STI_EVFY_CLAIMS);
    dests_json(16, j, sizeof j);
    CHECK_RC(claims(j, &c), STI_OK);
    CHECK_INT(c.c.ndest, 16);
    CHECK_STR(c.c.dest[15], "12025550115");
}

TEST(flags_unknown_claims_with_their_spans)
{
    struct id_claims c;
    const char *j = C_PRE "\"iat\":1,\"rcd\":{\"nam\":\"Q \\\"Branch\\\"\"},\"div\":\"x\\u00e9\"," C_POST;
    CHECK_RC(claims(j, &c), STI_OK);
    CHECK_INT(c.unknown, 1);
    CHECK_INT(c.nmembers, 7);
    CHECK_STR(c.m[3].name, "rcd");
    CHECK_INT(c.m[3].is_str, 0);
    CHECK_MEM(j + c.m[3].off, "{\"nam\":\"Q \\\"Branch\\\"\"}", c.m[3].len);
    char v[32];
    size_t n;
    CHECK_RC(id_member_str(j, strlen(j), &c.m[4], v, sizeof v, &n), STI_OK);
    CHECK_STR(v, "x\xc3\xa9");
    CHECK_INT(n, 3);
    CHECK_RC(id_member_str(j, strlen(j), &c.m[3], v, sizeof v, &n), STI_EINVAL);
    CHECK_RC(id_member_str(j, strlen(j), &c.m[4], v, 3, &n), STI_ETOOLONG);
}

TEST(rejects_nesting_deeper_than_four)
{
    struct id_claims c;
    /* top object 1, x 2, a 3, b 4: allowed; one more level is not. */
    CHECK_RC(claims(C_PRE "\"iat\":1,\"x\":{\"a\":{\"b\":[1]}}," C_POST, &c), STI_OK);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"x\":{\"a\":{\"b\":[[1]]}}," C_POST, &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"x\":[[[[[[[[[[1]]]]]]]]]]," C_POST, &c), STI_EVFY_CLAIMS);
}

TEST(rejects_missing_or_malformed_claims)
{
    struct id_claims c;
    CHECK_RC(claims(C_PRE "\"iat\":1}", &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"D\",\"dest\":{\"tn\":[\"1\"]},\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims("{\"attest\":\"AB\",\"dest\":{\"tn\":[\"1\"]},\"iat\":1," C_POST, &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"orig\":{\"tn\":\"+12025550123\"},\"origid\":"
                          "\"123e4567-e89b-42d3-a456-426614174000\"}",
                    &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"orig\":{\"tn\":\"1\",\"uri\":\"sip:a\"},\"origid\":"
                          "\"123e4567-e89b-42d3-a456-426614174000\"}",
                    &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims(C_PRE "\"iat\":1,\"orig\":{\"tn\":\"1\"},\"origid\":\"not-a-uuid\"}", &c),
             STI_EVFY_CLAIMS);
    CHECK_RC(claims(CLAIMS " x", &c), STI_EVFY_CLAIMS);
    CHECK_RC(claims(CLAIMS "\n", &c), STI_OK);
}

TEST(rejects_more_than_sixteen_claims)
{
    struct id_claims c;
    char j[2048];
    size_t k = (size_t)snprintf(j, sizeof j, C_PRE "\"iat\":1,");
    for (int i = 0; i < 12; i++)
        k += (size_t)snprintf(j + k, sizeof j - k, "\"x%d\":true,", i);
    snprintf(j + k, sizeof j - k, C_POST);
    CHECK_RC(claims(j, &c), STI_EVFY_CLAIMS);
}

CHECK_MAIN(CASE(parses_full_identity_header), CASE(parses_bare_jws), CASE(accepts_quoted_ppt),
           CASE(accepts_reordered_params_any_case_and_whitespace), CASE(accepts_missing_alg_param),
           CASE(rejects_info_without_angle_brackets), CASE(rejects_missing_info_or_ppt),
           CASE(rejects_repeated_or_unknown_params), CASE(rejects_broken_parameter_syntax),
           CASE(rejects_extra_dots), CASE(rejects_compact_form_with_empty_parts),
           CASE(rejects_padding_in_base64url),
           CASE(rejects_non_url_safe_alphabet_and_overlong_input),
           CASE(rejects_part_larger_than_buffer), CASE(reads_header_members),
           CASE(flags_unknown_header_members_and_accepts_whitespace_and_escapes),
           CASE(rejects_duplicate_header_member), CASE(rejects_header_trailing_garbage_and_non_objects),
           CASE(rejects_header_string_too_long_for_field), CASE(rejects_bad_strings),
           CASE(reads_shaken_claims), CASE(lowercases_origid), CASE(rejects_duplicate_claims),
           CASE(rejects_float_iat), CASE(rejects_string_iat),
           CASE(rejects_iat_out_of_range_or_with_leading_zero), CASE(rejects_dest_not_an_array),
           CASE(rejects_17_dests_and_accepts_16), CASE(flags_unknown_claims_with_their_spans),
           CASE(rejects_nesting_deeper_than_four), CASE(rejects_missing_or_malformed_claims),
           CASE(rejects_more_than_sixteen_claims))
