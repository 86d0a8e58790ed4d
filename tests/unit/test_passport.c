/* test_passport.c — deterministic PASSporT JSON, signing input, digest and
 * Identity header, with known answers computed outside this code base
 * (printf '%s' JSON | basenc --base64url | tr -d '=\n'; sha256sum). */
#include <stdint.h>
#include <string.h>

#include "b64u.h"
#include "buf.h"
#include "check.h"
#include "json.h"
#include "passport.h"
#include "sti_err.h"

#define X5U "https://cr.example.com/sti/cert.pem"

static const char kat_header_json[] = "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\","
                                      "\"x5u\":\"https://cr.example.com/sti/cert.pem\"}";
static const char kat_header_b64[] =
    "eyJhbGciOiJFUzI1NiIsInBwdCI6InNoYWtlbiIsInR5cCI6InBhc3Nwb3J0Ii"
    "wieDV1IjoiaHR0cHM6Ly9jci5leGFtcGxlLmNvbS9zdGkvY2VydC5wZW0ifQ";
static const char kat_claims_json[] =
    "{\"attest\":\"A\",\"dest\":{\"tn\":[\"12155550123\"]},\"iat\":1700000000,"
    "\"orig\":{\"tn\":\"12025550100\"},\"origid\":\"123e4567-e89b-42d3-a456-426614174000\"}";
static const char kat_claims_b64[] =
    "eyJhdHRlc3QiOiJBIiwiZGVzdCI6eyJ0biI6WyIxMjE1NTU1MDEyMyJdfSwiaWF0IjoxNzAwMDAwMDAwLCJvcmlnIj"
    "p7InRuIjoiMTIwMjU1NTAxMDAifSwib3JpZ2lkIjoiMTIzZTQ1NjctZTg5Yi00MmQzLWE0NTYtNDI2NjE0MTc0MDAw"
    "In0";
/* SHA-256 of kat_header_b64 "." kat_claims_b64 */
static const uint8_t kat_digest[32] = {
    0x8a, 0x2c, 0x11, 0xcf, 0xeb, 0x60, 0xa0, 0x80, 0xf5, 0xef, 0x74, 0xc4, 0xcc, 0x34, 0x13, 0x5f,
    0xd5, 0xa0, 0xc9, 0x0a, 0xe6, 0x43, 0x82, 0x03, 0xa1, 0x94, 0xe2, 0xa9, 0xfd, 0x22, 0x75, 0x70};
/* bytes 0x00..0x3f in base64url */
static const char kat_sig_b64[] =
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0-Pw";

static void kat_claims(struct pp_claims *c)
{
    memset(c, 0, sizeof *c);
    c->attest = 'A';
    strcpy(c->orig, "12025550100");
    strcpy(c->dest[0], "12155550123");
    c->ndest = 1;
    c->iat = 1700000000;
    strcpy(c->origid, "123e4567-e89b-42d3-a456-426614174000");
}

TEST(header_json_matches_known_bytes)
{
    char out[PP_HEADER_JSON_MAX];
    size_t n;
    CHECK_RC(pp_header_json(X5U, out, sizeof out, &n), STI_OK);
    CHECK_STR(out, kat_header_json);
    CHECK_INT(n, strlen(kat_header_json));
}

TEST(header_b64_matches_known_answer)
{
    char out[PP_HEADER_B64_MAX];
    size_t n;
    CHECK_RC(pp_header_b64(X5U, out, sizeof out, &n), STI_OK);
    CHECK_STR(out, kat_header_b64);
    CHECK_INT(n, strlen(kat_header_b64));
}

TEST(claims_json_matches_known_bytes)
{
    struct pp_claims c;
    char out[PP_CLAIMS_JSON_MAX];
    size_t n;
    kat_claims(&c);
    CHECK_RC(pp_claims_json(&c, out, sizeof out, &n), STI_OK);
    CHECK_STR(out, kat_claims_json);
    CHECK_INT(n, strlen(kat_claims_json));
}

TEST(claims_json_lists_several_dests_in_order)
{
    struct pp_claims c;
    char out[PP_CLAIMS_JSON_MAX];
    kat_claims(&c);
    c.attest = 'C';
    c.iat = 1;
    strcpy(c.dest[1], "441632960000");
    strcpy(c.dest[2], "*67");
    c.ndest = 3;
    strcpy(c.origid, "00000000-0000-4000-8000-000000000000");
    CHECK_RC(pp_claims_json(&c, out, sizeof out, NULL), STI_OK);
    CHECK_STR(out, "{\"attest\":\"C\",\"dest\":{\"tn\":[\"12155550123\",\"441632960000\",\"*67\"]},"
                   "\"iat\":1,\"orig\":{\"tn\":\"12025550100\"},"
                   "\"origid\":\"00000000-0000-4000-8000-000000000000\"}");
}

TEST(signing_input_matches_known_answer)
{
    struct pp_claims c;
    char out[PP_SIGNING_INPUT_MAX];
    size_t n;
    kat_claims(&c);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, out, sizeof out, &n),
             STI_OK);
    CHECK_INT(n, strlen(kat_header_b64) + 1 + strlen(kat_claims_b64));
    CHECK_MEM(out, kat_header_b64, strlen(kat_header_b64));
    CHECK_INT(out[strlen(kat_header_b64)], '.');
    CHECK_STR(out + strlen(kat_header_b64) + 1, kat_claims_b64);
}

TEST(digest_matches_sha256_known_answers)
{
    /* FIPS 180-2 "abc" vector, then the signing input of the KAT token. */
    static const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
                                    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
                                    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
                                    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    uint8_t d[32];
    pp_digest("abc", 3, d);
    CHECK_MEM(d, abc, 32);

    struct pp_claims c;
    char si[PP_SIGNING_INPUT_MAX];
    size_t n;
    kat_claims(&c);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, si, sizeof si, &n),
             STI_OK);
    pp_digest(si, n, d);
    CHECK_MEM(d, kat_digest, 32);
}

TEST(identity_header_has_signature_info_alg_ppt)
{
    struct pp_claims c;
    char si[PP_SIGNING_INPUT_MAX], out[PP_IDENTITY_MAX], want[PP_IDENTITY_MAX];
    uint8_t sig[64];
    size_t sn, n;
    for (int i = 0; i < 64; i++)
        sig[i] = (uint8_t)i;
    kat_claims(&c);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, si, sizeof si, &sn),
             STI_OK);
    CHECK_RC(pp_identity(si, sn, sig, X5U, out, sizeof out, &n), STI_OK);
    strcpy(want, kat_header_b64);
    strcat(want, ".");
    strcat(want, kat_claims_b64);
    strcat(want, ".");
    strcat(want, kat_sig_b64);
    strcat(want, ";info=<" X5U ">;alg=ES256;ppt=shaken");
    CHECK_STR(out, want);
    CHECK_INT(n, strlen(want));
}

TEST(identity_refuses_short_buffer)
{
    struct pp_claims c;
    char si[PP_SIGNING_INPUT_MAX], out[PP_IDENTITY_MAX];
    uint8_t sig[64] = {0};
    size_t sn, n;
    kat_claims(&c);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, si, sizeof si, &sn),
             STI_OK);
    CHECK_RC(pp_identity(si, sn, sig, X5U, out, sizeof out, &n), STI_OK);
    CHECK_RC(pp_identity(si, sn, sig, X5U, out, n, NULL), STI_ETOOLONG);
    CHECK_RC(pp_identity(si, sn, sig, X5U, out, n + 1, NULL), STI_OK);
}

TEST(identity_rejects_malformed_signing_input)
{
    uint8_t sig[64] = {0};
    char out[PP_IDENTITY_MAX];
    CHECK_RC(pp_identity("abc", 3, sig, X5U, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_identity("a.b.c", 5, sig, X5U, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_identity("a.b\r\nX: y", 9, sig, X5U, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_identity(".b", 2, sig, X5U, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_identity("a.b", 3, sig, "http://x/y", out, sizeof out, NULL), STI_EX5U);
}

TEST(signing_input_rejects_bad_header_segment)
{
    struct pp_claims c;
    char out[PP_SIGNING_INPUT_MAX];
    kat_claims(&c);
    CHECK_RC(pp_signing_input("", 0, &c, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_signing_input("ab.c", 4, &c, out, sizeof out, NULL), STI_EINVAL);
    CHECK_RC(pp_signing_input("ab=", 3, &c, out, sizeof out, NULL), STI_EINVAL);
}

TEST(signing_input_refuses_short_buffer)
{
    struct pp_claims c;
    char out[PP_SIGNING_INPUT_MAX];
    size_t n;
    kat_claims(&c);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, out, sizeof out, &n),
             STI_OK);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, out, n, NULL),
             STI_ETOOLONG);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, out, 10, NULL),
             STI_ETOOLONG);
}

TEST(json_writers_refuse_short_buffers)
{
    struct pp_claims c;
    char out[PP_CLAIMS_JSON_MAX];
    kat_claims(&c);
    CHECK_RC(pp_claims_json(&c, out, strlen(kat_claims_json), NULL), STI_ETOOLONG);
    CHECK_RC(pp_claims_json(&c, out, strlen(kat_claims_json) + 1, NULL), STI_OK);
    CHECK_RC(pp_header_json(X5U, out, strlen(kat_header_json), NULL), STI_ETOOLONG);
    CHECK_RC(pp_header_b64(X5U, out, strlen(kat_header_b64), NULL), STI_ETOOLONG);
}

TEST(largest_claims_fit_the_declared_maximum)
{
    struct pp_claims c;
    char si[PP_SIGNING_INPUT_MAX], out[PP_IDENTITY_MAX], hdr[PP_HEADER_B64_MAX];
    char x5u[PP_X5U_MAX + 1];
    uint8_t sig[64] = {0};
    size_t hn, sn;
    kat_claims(&c);
    c.iat = 253402300799;
    strcpy(c.orig, "123456789012345");
    for (unsigned i = 0; i < PP_MAX_DEST; i++)
        strcpy(c.dest[i], "123456789012345");
    c.ndest = PP_MAX_DEST;
    /* Worst case x5u: every path character a backslash, escaped twice as long. */
    memset(x5u, '\\', PP_X5U_MAX);
    memcpy(x5u, "https://h/", 10);
    x5u[PP_X5U_MAX] = '\0';
    CHECK_RC(pp_header_b64(x5u, hdr, sizeof hdr, &hn), STI_OK);
    CHECK_RC(pp_signing_input(hdr, hn, &c, si, sizeof si, &sn), STI_OK);
    CHECK_RC(pp_identity(si, sn, sig, x5u, out, sizeof out, NULL), STI_OK);
}

TEST(header_escapes_backslash_and_keeps_slash)
{
    char out[PP_HEADER_JSON_MAX];
    CHECK_RC(pp_header_json("https://cr.example.com/a\\b/c", out, sizeof out, NULL), STI_OK);
    CHECK_STR(out, "{\"alg\":\"ES256\",\"ppt\":\"shaken\",\"typ\":\"passport\","
                   "\"x5u\":\"https://cr.example.com/a\\\\b/c\"}");
}

TEST(json_string_escapes_quote_backslash_and_controls)
{
    char out[64];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(json_put_str(&w, "a\"b\\c/d\n\x01\x1f\x7f", 11), STI_OK);
    CHECK_INT(w.off, 30);
    CHECK_MEM(out, "\"a\\\"b\\\\c/d\\u000a\\u0001\\u001f\x7f\"", 30);
}

TEST(json_string_escapes_embedded_nul)
{
    char out[16];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(json_put_str(&w, "a\0b", 3), STI_OK);
    CHECK_INT(w.off, 10);
    CHECK_MEM(out, "\"a\\u0000b\"", 10);
}

TEST(json_integer_extremes)
{
    char out[64];
    struct buf_wr w;
    buf_wr_init(&w, out, sizeof out);
    CHECK_RC(json_put_i64(&w, 0), STI_OK);
    CHECK_RC(json_put_raw(&w, ","), STI_OK);
    CHECK_RC(json_put_i64(&w, INT64_MIN), STI_OK);
    CHECK_RC(json_put_raw(&w, ","), STI_OK);
    CHECK_RC(json_put_i64(&w, INT64_MAX), STI_OK);
    CHECK_MEM(out, "0,-9223372036854775808,9223372036854775807", w.off);
    CHECK_INT(w.off, 42);
}

TEST(claims_check_accepts_known_good)
{
    struct pp_claims c;
    kat_claims(&c);
    CHECK_RC(pp_claims_check(&c), STI_OK);
    c.attest = 'B';
    CHECK_RC(pp_claims_check(&c), STI_OK);
    c.attest = 'C';
    CHECK_RC(pp_claims_check(&c), STI_OK);
}

TEST(rejects_attest_other_than_a_b_c)
{
    struct pp_claims c;
    kat_claims(&c);
    c.attest = 'a';
    CHECK_RC(pp_claims_check(&c), STI_EATTEST);
    c.attest = 'D';
    CHECK_RC(pp_claims_check(&c), STI_EATTEST);
    c.attest = 0;
    CHECK_RC(pp_claims_check(&c), STI_EATTEST);
}

TEST(rejects_non_canonical_orig)
{
    struct pp_claims c;
    char out[PP_CLAIMS_JSON_MAX];
    kat_claims(&c);
    strcpy(c.orig, "+12025550100");
    CHECK_RC(pp_claims_check(&c), STI_ETN);
    CHECK_RC(pp_claims_json(&c, out, sizeof out, NULL), STI_ETN);
    c.orig[0] = '\0';
    CHECK_RC(pp_claims_check(&c), STI_ETN);
}

TEST(rejects_unterminated_orig)
{
    struct pp_claims c;
    kat_claims(&c);
    memset(c.orig, '1', sizeof c.orig);
    CHECK_RC(pp_claims_check(&c), STI_ETN);
}

TEST(rejects_non_canonical_dest)
{
    struct pp_claims c;
    kat_claims(&c);
    strcpy(c.dest[1], "1 202");
    c.ndest = 2;
    CHECK_RC(pp_claims_check(&c), STI_ETN);
}

TEST(rejects_zero_dests)
{
    struct pp_claims c;
    kat_claims(&c);
    c.ndest = 0;
    CHECK_RC(pp_claims_check(&c), STI_ETOOMANY);
}

TEST(rejects_more_than_max_dests)
{
    struct pp_claims c;
    kat_claims(&c);
    for (unsigned i = 0; i < PP_MAX_DEST; i++)
        strcpy(c.dest[i], "12155550123");
    c.ndest = PP_MAX_DEST;
    CHECK_RC(pp_claims_check(&c), STI_OK);
    c.ndest = PP_MAX_DEST + 1;
    CHECK_RC(pp_claims_check(&c), STI_ETOOMANY);
}

TEST(rejects_iat_out_of_range)
{
    struct pp_claims c;
    kat_claims(&c);
    c.iat = 0;
    CHECK_RC(pp_claims_check(&c), STI_EIAT);
    c.iat = -1;
    CHECK_RC(pp_claims_check(&c), STI_EIAT);
    c.iat = 253402300800;
    CHECK_RC(pp_claims_check(&c), STI_EIAT);
    c.iat = 253402300799;
    CHECK_RC(pp_claims_check(&c), STI_OK);
    c.iat = 1;
    CHECK_RC(pp_claims_check(&c), STI_OK);
}

TEST(rejects_uppercase_or_malformed_origid)
{
    struct pp_claims c;
    kat_claims(&c);
    strcpy(c.origid, "123E4567-E89B-42D3-A456-426614174000");
    CHECK_RC(pp_claims_check(&c), STI_EORIGID);
    strcpy(c.origid, "123e4567e89b42d3a456426614174000");
    CHECK_RC(pp_claims_check(&c), STI_EORIGID);
    c.origid[0] = '\0';
    CHECK_RC(pp_claims_check(&c), STI_EORIGID);
    memset(c.origid, 'a', sizeof c.origid);
    CHECK_RC(pp_claims_check(&c), STI_EORIGID);
}

TEST(x5u_accepts_plain_https_urls)
{
    CHECK_RC(pp_x5u_check(X5U), STI_OK);
    CHECK_RC(pp_x5u_check("https://cr.example.com"), STI_OK);
    CHECK_RC(pp_x5u_check("https://cr.example.com:8443/c.pem"), STI_OK);
    CHECK_RC(pp_x5u_check("https://[2001:db8::1]:443/c.pem"), STI_OK);
    CHECK_RC(pp_x5u_check("https://192.0.2.1/c.pem"), STI_OK);
}

TEST(x5u_rejects_other_schemes)
{
    CHECK_RC(pp_x5u_check("http://cr.example.com/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("HTTPS://cr.example.com/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https:/cr.example.com/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("ftp://cr.example.com/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check(""), STI_EX5U);
    CHECK_RC(pp_x5u_check(NULL), STI_EX5U);
}

TEST(x5u_rejects_empty_host)
{
    CHECK_RC(pp_x5u_check("https://"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https:///c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://:443/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://[]/c.pem"), STI_EX5U);
}

TEST(x5u_rejects_userinfo)
{
    CHECK_RC(pp_x5u_check("https://user@cr.example.com/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://good.example@evil.example/c.pem"), STI_EX5U);
    /* '@' in the path is no userinfo and harmless. */
    CHECK_RC(pp_x5u_check("https://cr.example.com/a@b.pem"), STI_OK);
}

TEST(x5u_rejects_query_and_fragment)
{
    CHECK_RC(pp_x5u_check("https://cr.example.com/c.pem?x=1"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/c.pem#top"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com?/c.pem"), STI_EX5U);
}

TEST(x5u_rejects_whitespace_and_controls)
{
    CHECK_RC(pp_x5u_check("https://cr.example.com/c .pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/c.pem\r\nX-Evil: 1"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/c\t.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/c\x7f.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/\xc3\xa9.pem"), STI_EX5U);
}

TEST(x5u_rejects_header_breaking_characters)
{
    CHECK_RC(pp_x5u_check("https://cr.example.com/c.pem>;alg=none"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/<c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com/\"c.pem"), STI_EX5U);
}

TEST(x5u_rejects_bad_port)
{
    CHECK_RC(pp_x5u_check("https://cr.example.com:/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com:0/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com:65536/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com:44a/c.pem"), STI_EX5U);
    CHECK_RC(pp_x5u_check("https://cr.example.com:443:443/c.pem"), STI_EX5U);
}

TEST(x5u_length_limit_is_inclusive)
{
    char x5u[PP_X5U_MAX + 2];
    memset(x5u, 'a', sizeof x5u);
    memcpy(x5u, "https://h/", 10);
    x5u[PP_X5U_MAX] = '\0';
    CHECK_RC(pp_x5u_check(x5u), STI_OK);
    x5u[PP_X5U_MAX] = 'a';
    x5u[PP_X5U_MAX + 1] = '\0';
    CHECK_RC(pp_x5u_check(x5u), STI_EX5U);
}

TEST(header_json_rejects_bad_x5u)
{
    char out[PP_HEADER_JSON_MAX];
    CHECK_RC(pp_header_json("http://cr.example.com/c.pem", out, sizeof out, NULL), STI_EX5U);
    CHECK_RC(pp_header_b64("https://u@h/c.pem", out, sizeof out, NULL), STI_EX5U);
}

TEST(claims_b64_decodes_back_to_json)
{
    uint8_t back[PP_CLAIMS_JSON_MAX];
    size_t n;
    CHECK_RC(b64u_decode(kat_claims_b64, strlen(kat_claims_b64), back, sizeof back, &n), STI_OK);
    CHECK_INT(n, strlen(kat_claims_json));
    CHECK_MEM(back, kat_claims_json, n);
}

/* The hot-path assembly gives byte for byte what the checked API gives. */
TEST(cred_parts_match_known_answers)
{
    struct pp_cred pc;
    struct pp_claims c;
    char claims[PP_CLAIMS_B64_MAX], id[PP_IDENTITY_MAX], want[PP_IDENTITY_MAX];
    char si[PP_SIGNING_INPUT_MAX];
    size_t n, idn, sin, wn;
    uint8_t dg[32], sig[64];
    for (int i = 0; i < 64; i++)
        sig[i] = (uint8_t)i;
    kat_claims(&c);
    CHECK_RC(pp_cred_init(&pc, X5U), STI_OK);
    CHECK_INT(pc.prefix_len, strlen(kat_header_b64) + 1);
    CHECK_MEM(pc.prefix, kat_header_b64, strlen(kat_header_b64));
    CHECK_STR(pc.suffix, ";info=<" X5U ">;alg=ES256;ppt=shaken");
    CHECK_RC(pp_claims_b64(&c, claims, sizeof claims, &n), STI_OK);
    CHECK_STR(claims, kat_claims_b64);
    pp_cred_digest(&pc, claims, n, dg);
    CHECK_MEM(dg, kat_digest, 32);
    CHECK_RC(pp_cred_identity(&pc, claims, n, sig, id, sizeof id, &idn), STI_OK);
    CHECK_RC(pp_signing_input(kat_header_b64, strlen(kat_header_b64), &c, si, sizeof si, &sin),
             STI_OK);
    CHECK_RC(pp_identity(si, sin, sig, X5U, want, sizeof want, &wn), STI_OK);
    CHECK_INT(idn, wn);
    CHECK_STR(id, want);
    CHECK_RC(pp_cred_identity(&pc, claims, n, sig, id, idn, &idn), STI_ETOOLONG);
    /* The precomputed digest state gives the same digest again and again. */
    pp_cred_digest(&pc, claims, n, dg);
    CHECK_MEM(dg, kat_digest, 32);
    pp_cred_free(&pc);
    CHECK(pc.mid == NULL);
    pp_cred_digest(&pc, claims, n, dg); /* without it: hashed from scratch */
    CHECK_MEM(dg, kat_digest, 32);
}

TEST(claims_b64_reports_bad_claims_with_exact_codes)
{
    struct pp_claims c;
    char out[PP_CLAIMS_B64_MAX];
    size_t n;
    kat_claims(&c);
    c.attest = 'D';
    CHECK_RC(pp_claims_b64(&c, out, sizeof out, &n), STI_EATTEST);
    kat_claims(&c);
    strcpy(c.orig, "12a");
    CHECK_RC(pp_claims_b64(&c, out, sizeof out, &n), STI_ETN);
    kat_claims(&c);
    CHECK_RC(pp_cred_init(NULL, X5U), STI_EINVAL);
}

CHECK_MAIN(CASE(cred_parts_match_known_answers), CASE(claims_b64_reports_bad_claims_with_exact_codes),
           CASE(header_json_matches_known_bytes), CASE(header_b64_matches_known_answer),
           CASE(claims_json_matches_known_bytes), CASE(claims_json_lists_several_dests_in_order),
           CASE(signing_input_matches_known_answer), CASE(digest_matches_sha256_known_answers),
           CASE(identity_header_has_signature_info_alg_ppt), CASE(identity_refuses_short_buffer),
           CASE(identity_rejects_malformed_signing_input),
           CASE(signing_input_rejects_bad_header_segment), CASE(signing_input_refuses_short_buffer),
           CASE(json_writers_refuse_short_buffers), CASE(largest_claims_fit_the_declared_maximum),
           CASE(header_escapes_backslash_and_keeps_slash),
           CASE(json_string_escapes_quote_backslash_and_controls),
           CASE(json_string_escapes_embedded_nul), CASE(json_integer_extremes),
           CASE(claims_check_accepts_known_good), CASE(rejects_attest_other_than_a_b_c),
           CASE(rejects_non_canonical_orig), CASE(rejects_unterminated_orig),
           CASE(rejects_non_canonical_dest), CASE(rejects_zero_dests),
           CASE(rejects_more_than_max_dests), CASE(rejects_iat_out_of_range),
           CASE(rejects_uppercase_or_malformed_origid), CASE(x5u_accepts_plain_https_urls),
           CASE(x5u_rejects_other_schemes), CASE(x5u_rejects_empty_host),
           CASE(x5u_rejects_userinfo), CASE(x5u_rejects_query_and_fragment),
           CASE(x5u_rejects_whitespace_and_controls), CASE(x5u_rejects_header_breaking_characters),
           CASE(x5u_rejects_bad_port), CASE(x5u_length_limit_is_inclusive),
           CASE(header_json_rejects_bad_x5u), CASE(claims_b64_decodes_back_to_json))
