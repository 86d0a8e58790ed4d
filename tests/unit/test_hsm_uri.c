/*
 * test_hsm_uri.c — token/key selectors: plain labels and the RFC 7512 subset
 * that hsm_uri_parse accepts, with the exact code for each bad input.
 * No token needed.
 */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "hsm.h"
#include "sti_err.h"

static int parse(const char *spec)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    return hsm_uri_parse(spec, &t, &k);
}

static const char *repeat(char c, size_t n)
{
    static char buf[128];
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

TEST(plain_label_selects_token_only)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    CHECK_RC(hsm_uri_parse("mytoken", &t, &k), STI_OK);
    CHECK_STR(t.label, "mytoken");
    CHECK_STR(t.serial, "");
    CHECK_STR(k.label, "");
    CHECK_INT(k.id_len, 0);
}

TEST(plain_label_of_33_bytes_is_too_long)
{
    CHECK_RC(parse(repeat('a', 32)), STI_OK);
    CHECK_RC(parse(repeat('a', 33)), STI_ETOOLONG);
}

TEST(empty_or_null_spec_is_einval)
{
    struct hsm_token_sel t;
    CHECK_RC(parse(""), STI_EINVAL);
    CHECK_RC(parse(NULL), STI_EINVAL);
    CHECK_RC(hsm_uri_parse("x", NULL, NULL), STI_EINVAL);
    CHECK_RC(hsm_uri_parse("x", &t, NULL), STI_OK); /* no key wanted */
}

TEST(full_uri_is_decoded)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    CHECK_RC(hsm_uri_parse("pkcs11:token=my%20token;serial=ABC123;object=key%3b1;"
                           "id=%01%02%FF%00;type=private",
                           &t, &k),
             STI_OK);
    CHECK_STR(t.label, "my token");
    CHECK_STR(t.serial, "ABC123");
    CHECK_STR(k.label, "key;1");
    CHECK_INT(k.id_len, 4);
    CHECK_MEM(k.id, "\x01\x02\xff\x00", 4);
}

TEST(scheme_alone_selects_any_token)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    CHECK_RC(hsm_uri_parse("pkcs11:", &t, &k), STI_OK);
    CHECK_STR(t.label, "");
    CHECK_RC(hsm_uri_parse("PKCS11:token=A", &t, &k), STI_OK); /* scheme is case-blind */
    CHECK_STR(t.label, "A");
}

TEST(manufacturer_model_and_library_attributes_are_ignored)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    CHECK_RC(hsm_uri_parse("pkcs11:model=SoftHSM%20v2;manufacturer=SoftHSM%20project;"
                           "library-manufacturer=x;library-description=y;library-version=2.6;"
                           "token=t1",
                           &t, &k),
             STI_OK);
    CHECK_STR(t.label, "t1");
}

TEST(type_other_than_private_is_econfig)
{
    CHECK_RC(parse("pkcs11:token=a;type=private"), STI_OK);
    CHECK_RC(parse("pkcs11:token=a;type=public"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;type=cert"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;type=secret-key"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;type="), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;type=privateprivateprivate"), STI_ECONFIG);
}

TEST(pin_source_and_pin_value_are_econfig)
{
    CHECK_RC(parse("pkcs11:token=a;pin-value=1234"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;pin-source=file:/etc/pin"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a?pin-value=1234"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a?module-path=/x.so&pin-source=file:/etc/pin"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a?pin-value"), STI_ECONFIG);
}

TEST(query_attributes_other_than_pin_are_ignored)
{
    struct hsm_token_sel t;
    struct hsm_key_sel k;
    CHECK_RC(
        hsm_uri_parse("pkcs11:token=a;object=k?module-path=/usr/lib/x.so&module-name=x", &t, &k),
        STI_OK);
    CHECK_STR(t.label, "a");
    CHECK_STR(k.label, "k");
    CHECK_RC(parse("pkcs11:token=a?"), STI_OK);
}

TEST(unknown_path_attribute_is_econfig)
{
    CHECK_RC(parse("pkcs11:token=a;bogus=1"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:slot-id=3"), STI_ECONFIG); /* never silently dropped */
    CHECK_RC(parse("pkcs11:Token=a"), STI_ECONFIG);   /* names are case-sensitive */
}

TEST(malformed_path_is_econfig)
{
    CHECK_RC(parse("pkcs11:token"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:=a"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:;token=a"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;;object=b"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a;token=b"), STI_ECONFIG); /* repeated */
}

TEST(broken_percent_escape_is_econfig)
{
    CHECK_RC(parse("pkcs11:token=%4"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=%"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=%zz"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:id=%0g"), STI_ECONFIG);
    CHECK_RC(parse("pkcs11:token=a%00b"), STI_ECONFIG); /* NUL inside a label */
}

TEST(decoded_lengths_are_bounded)
{
    char uri[256];
    snprintf(uri, sizeof uri, "pkcs11:token=%s", repeat('t', 33));
    CHECK_RC(parse(uri), STI_ETOOLONG);
    snprintf(uri, sizeof uri, "pkcs11:token=%s", repeat('t', 32));
    CHECK_RC(parse(uri), STI_OK);
    snprintf(uri, sizeof uri, "pkcs11:serial=%s", repeat('1', 17));
    CHECK_RC(parse(uri), STI_ETOOLONG);
    snprintf(uri, sizeof uri, "pkcs11:object=%s", repeat('o', 65));
    CHECK_RC(parse(uri), STI_ETOOLONG);
    snprintf(uri, sizeof uri, "pkcs11:object=%s", repeat('o', 64));
    CHECK_RC(parse(uri), STI_OK);
    /* 32 escaped bytes decode to 32: the limit is on the decoded value. */
    char esc[200] = "pkcs11:token=";
    for (int i = 0; i < 32; i++)
        strcat(esc, "%41");
    CHECK_RC(parse(esc), STI_OK);
    strcat(esc, "%41");
    CHECK_RC(parse(esc), STI_ETOOLONG);
    char id[200] = "pkcs11:id=";
    for (int i = 0; i < 33; i++)
        strcat(id, "%AB");
    CHECK_RC(parse(id), STI_ETOOLONG);
}

TEST(failed_parse_leaves_outputs_untouched)
{
    struct hsm_token_sel t = {.label = "keep"};
    struct hsm_key_sel k = {.label = "keep"};
    CHECK_RC(hsm_uri_parse("pkcs11:token=x;type=public", &t, &k), STI_ECONFIG);
    CHECK_STR(t.label, "keep");
    CHECK_STR(k.label, "keep");
}

TEST(key_sel_from_label_or_uri)
{
    struct hsm_key_sel k;
    CHECK_RC(hsm_key_sel_parse("k1", &k), STI_OK);
    CHECK_STR(k.label, "k1");
    CHECK_INT(k.id_len, 0);
    CHECK_RC(hsm_key_sel_parse("pkcs11:token=t;object=k2;type=private", &k), STI_OK);
    CHECK_STR(k.label, "k2");
    CHECK_RC(hsm_key_sel_parse("pkcs11:id=%0a%0B", &k), STI_OK);
    CHECK_STR(k.label, "");
    CHECK_INT(k.id_len, 2);
    CHECK_MEM(k.id, "\x0a\x0b", 2);
}

TEST(key_sel_without_key_part_is_econfig)
{
    struct hsm_key_sel k;
    CHECK_RC(hsm_key_sel_parse("pkcs11:token=t", &k), STI_ECONFIG);
    CHECK_RC(hsm_key_sel_parse("pkcs11:", &k), STI_ECONFIG);
    CHECK_RC(hsm_key_sel_parse("pkcs11:object=k?pin-value=1", &k), STI_ECONFIG);
    CHECK_RC(hsm_key_sel_parse(repeat('k', 65), &k), STI_ETOOLONG);
    CHECK_RC(hsm_key_sel_parse(repeat('k', 64), &k), STI_OK);
    CHECK_RC(hsm_key_sel_parse("", &k), STI_EINVAL);
    CHECK_RC(hsm_key_sel_parse("k", NULL), STI_EINVAL);
}

CHECK_MAIN(CASE(plain_label_selects_token_only), CASE(plain_label_of_33_bytes_is_too_long),
           CASE(empty_or_null_spec_is_einval), CASE(full_uri_is_decoded),
           CASE(scheme_alone_selects_any_token),
           CASE(manufacturer_model_and_library_attributes_are_ignored),
           CASE(type_other_than_private_is_econfig), CASE(pin_source_and_pin_value_are_econfig),
           CASE(query_attributes_other_than_pin_are_ignored),
           CASE(unknown_path_attribute_is_econfig), CASE(malformed_path_is_econfig),
           CASE(broken_percent_escape_is_econfig), CASE(decoded_lengths_are_bounded),
           CASE(failed_parse_leaves_outputs_untouched), CASE(key_sel_from_label_or_uri),
           CASE(key_sel_without_key_part_is_econfig))
