/* test_scope.c — TNAuthList scope entries, text form and containment. */
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "scope.h"
#include "sti_err.h"

/* Parse a list into a fresh scope; the caller frees it. */
static int mk(struct scope *s, const char *text)
{
    scope_init(s);
    return scope_parse_list(text, s);
}

/* Format s into buf for comparison against the expected text. */
static const char *fmt(const struct scope *s, char *buf, size_t cap)
{
    if (scope_format(s, buf, cap) != STI_OK)
        return "(format failed)";
    return buf;
}

/* Containment with the outside list rendered as text into buf. */
static int contains(const char *parent, const char *child, enum scope_spc_policy pol, char *buf,
                    size_t cap)
{
    struct scope p, c, o;
    int rc;
    scope_init(&o);
    if (mk(&p, parent) != STI_OK || mk(&c, child) != STI_OK) {
        rc = -1;
    } else {
        rc = scope_contains(&p, &c, pol, &o);
        if (scope_format(&o, buf, cap) != STI_OK)
            rc = -2;
    }
    scope_free(&p);
    scope_free(&c);
    scope_free(&o);
    return rc;
}

TEST(parses_each_entry_kind)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("spc:709J", &e), STI_OK);
    CHECK_INT(e.kind, SCOPE_SPC);
    CHECK_STR(e.spc, "709J");
    CHECK_RC(scope_entry_parse("tn:12025550100", &e), STI_OK);
    CHECK_INT(e.kind, SCOPE_ONE);
    CHECK_STR(e.tn, "12025550100");
    CHECK_RC(scope_entry_parse("range:12025550100/100", &e), STI_OK);
    CHECK_INT(e.kind, SCOPE_RANGE);
    CHECK_STR(e.tn, "12025550100");
    CHECK_INT(e.count, 100);
}

TEST(formats_each_entry_kind)
{
    struct scope_entry e;
    char out[64];
    CHECK_RC(scope_entry_parse("SPC:709J", &e), STI_OK);
    CHECK_RC(scope_entry_format(&e, out, sizeof out), STI_OK);
    CHECK_STR(out, "spc:709J");
    CHECK_RC(scope_entry_parse("tn:*67#", &e), STI_OK);
    CHECK_RC(scope_entry_format(&e, out, sizeof out), STI_OK);
    CHECK_STR(out, "tn:*67#");
    CHECK_RC(scope_entry_parse("range:999999999999900/100", &e), STI_OK);
    CHECK_RC(scope_entry_format(&e, out, sizeof out), STI_OK);
    CHECK_STR(out, "range:999999999999900/100");
}

TEST(entry_format_refuses_short_buffer)
{
    struct scope_entry e;
    char out[16];
    CHECK_RC(scope_entry_parse("tn:12025550100", &e), STI_OK);
    CHECK_RC(scope_entry_format(&e, out, 14), STI_ETOOLONG);
    CHECK_RC(scope_entry_format(&e, out, 15), STI_OK);
    CHECK_RC(scope_entry_format(&e, out, 0), STI_ETOOLONG);
}

TEST(rejects_range_count_below_two)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("range:12025550100/1", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/0", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/2", &e), STI_OK);
}

TEST(rejects_range_past_last_number_of_its_length)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("range:999/5", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:996/5", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:995/5", &e), STI_OK);
    CHECK_RC(scope_entry_parse("range:000/1000", &e), STI_OK);
    CHECK_RC(scope_entry_parse("range:000/1001", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:1/9999999999999999", &e), STI_ESCOPE_SYNTAX);
}

TEST(rejects_range_with_hash_or_star)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("range:1202555#100/10", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:*1/10", &e), STI_ESCOPE_SYNTAX);
}

TEST(rejects_malformed_range_text)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("range:12025550100", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:/100", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/010", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/+10", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:12025550100/10/2", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("range:1234567890123456/10", &e), STI_ESCOPE_SYNTAX);
}

TEST(rejects_malformed_single_tn)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("tn:", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("tn:+12025550100", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("tn:1234567890123456", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("tn:1202-555", &e), STI_ESCOPE_SYNTAX);
}

TEST(rejects_malformed_spc)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("spc:", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("spc:123456789012345678901234567890123", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("spc:12345678901234567890123456789012", &e), STI_OK);
    CHECK_RC(scope_entry_parse("spc:70\x01J", &e), STI_ESCOPE_SYNTAX);
}

TEST(rejects_unknown_prefix_and_bare_values)
{
    struct scope_entry e;
    CHECK_RC(scope_entry_parse("12025550100", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("one:12025550100", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse("", &e), STI_ESCOPE_SYNTAX);
    CHECK_RC(scope_entry_parse(" tn:1", &e), STI_ESCOPE_SYNTAX);
}

TEST(add_validates_entries_built_in_code)
{
    struct scope s;
    struct scope_entry e;
    scope_init(&s);
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_SPC;
    strcpy(e.spc, "70 9J"); /* a space would split the text form */
    CHECK_RC(scope_add(&s, &e), STI_ESCOPE_SYNTAX);
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_ONE;
    memset(e.tn, '1', sizeof e.tn); /* not terminated */
    CHECK_RC(scope_add(&s, &e), STI_ESCOPE_SYNTAX);
    memset(&e, 0, sizeof e);
    e.kind = 7;
    strcpy(e.tn, "1");
    CHECK_RC(scope_add(&s, &e), STI_ESCOPE_SYNTAX);
    memset(&e, 0, sizeof e);
    e.kind = SCOPE_RANGE;
    strcpy(e.tn, "12025550100");
    e.count = UINT64_MAX;
    CHECK_RC(scope_add(&s, &e), STI_ESCOPE_SYNTAX);
    CHECK_INT(s.n, 0);
    e.count = 100;
    CHECK_RC(scope_add(&s, &e), STI_OK);
    CHECK_INT(s.n, 1);
    scope_free(&s);
    CHECK(s.e == NULL && s.n == 0 && s.cap == 0);
}

TEST(parses_list_with_commas_and_whitespace)
{
    struct scope s;
    char buf[256];
    CHECK_RC(mk(&s, " spc:709J,tn:12025550100\n\trange:12025550200/50 ,, "), STI_OK);
    CHECK_INT(s.n, 3);
    CHECK_STR(fmt(&s, buf, sizeof buf), "spc:709J tn:12025550100 range:12025550200/50");
    scope_free(&s);
}

TEST(parse_list_of_nothing_is_empty)
{
    struct scope s;
    char buf[8];
    CHECK_RC(mk(&s, " \n, "), STI_OK);
    CHECK_INT(s.n, 0);
    CHECK_STR(fmt(&s, buf, sizeof buf), "");
    scope_free(&s);
}

TEST(parse_list_adds_nothing_on_a_bad_token)
{
    struct scope s;
    CHECK_RC(mk(&s, "spc:709J"), STI_OK);
    CHECK_RC(scope_parse_list("tn:12025550100 range:999/5", &s), STI_ESCOPE_SYNTAX);
    CHECK_INT(s.n, 1);
    CHECK_RC(scope_parse_list("tn:1 bogus", &s), STI_ESCOPE_SYNTAX);
    CHECK_INT(s.n, 1);
    scope_free(&s);
}

TEST(parse_list_appends_many_entries)
{
    struct scope s;
    char text[64 * 20], *p = text;
    for (int i = 0; i < 64; i++)
        p += sprintf(p, "tn:1202555%04d ", i);
    CHECK_RC(mk(&s, text), STI_OK);
    CHECK_INT(s.n, 64);
    CHECK_STR(s.e[63].tn, "12025550063");
    scope_free(&s);
}

TEST(format_refuses_short_buffer)
{
    struct scope s;
    char buf[64];
    CHECK_RC(mk(&s, "spc:709J tn:12025550100"), STI_OK);
    /* "spc:709J tn:12025550100" is 23 chars, 24 with the NUL. */
    CHECK_RC(scope_format(&s, buf, 23), STI_ETOOLONG);
    CHECK_RC(scope_format(&s, buf, 24), STI_OK);
    CHECK_STR(buf, "spc:709J tn:12025550100");
    CHECK_RC(scope_format(&s, buf, 0), STI_ETOOLONG);
    scope_free(&s);
}

TEST(copy_duplicates_entries)
{
    struct scope a, b;
    char buf[128];
    CHECK_RC(mk(&a, "spc:709J range:12025550100/100"), STI_OK);
    CHECK_RC(mk(&b, "tn:1"), STI_OK);
    CHECK_RC(scope_copy(&b, &a), STI_OK);
    scope_free(&a);
    CHECK_STR(fmt(&b, buf, sizeof buf), "spc:709J range:12025550100/100");
    scope_free(&b);
}

TEST(covers_tn_within_range_and_its_last_number)
{
    struct scope s;
    CHECK_RC(mk(&s, "range:12025550100/100"), STI_OK);
    CHECK_INT(scope_covers_tn(&s, "12025550100"), 1);
    CHECK_INT(scope_covers_tn(&s, "12025550150"), 1);
    CHECK_INT(scope_covers_tn(&s, "12025550199"), 1);
    CHECK_INT(scope_covers_tn(&s, "12025550200"), 0);
    CHECK_INT(scope_covers_tn(&s, "12025550099"), 0);
    scope_free(&s);
}

TEST(covers_only_numbers_of_equal_digit_length)
{
    struct scope s;
    CHECK_RC(mk(&s, "range:12025550100/100"), STI_OK);
    CHECK_INT(scope_covers_tn(&s, "2025550150"), 0);
    CHECK_INT(scope_covers_tn(&s, "120255501500"), 0);
    CHECK_INT(scope_covers_tn(&s, "012025550150"), 0);
    scope_free(&s);
}

TEST(covers_single_entries_exactly)
{
    struct scope s;
    CHECK_RC(mk(&s, "tn:12025550100 tn:*67 spc:709J"), STI_OK);
    CHECK_INT(scope_covers_tn(&s, "12025550100"), 1);
    CHECK_INT(scope_covers_tn(&s, "12025550101"), 0);
    CHECK_INT(scope_covers_tn(&s, "*67"), 1);
    CHECK_INT(scope_covers_tn(&s, "#67"), 0);
    CHECK_INT(scope_covers_tn(&s, "709J"), 0);
    CHECK_INT(scope_covers_tn(&s, "+12025550100"), 0);
    CHECK_INT(scope_covers_tn(&s, ""), 0);
    scope_free(&s);
}

TEST(hash_tn_is_not_covered_by_a_range)
{
    struct scope s;
    CHECK_RC(mk(&s, "range:100/900"), STI_OK);
    CHECK_INT(scope_covers_tn(&s, "1#0"), 0);
    scope_free(&s);
}

TEST(spc_queries)
{
    struct scope s, empty;
    CHECK_RC(mk(&s, "spc:709J spc:123A"), STI_OK);
    CHECK_INT(scope_has_spc(&s, "709J"), 1);
    CHECK_INT(scope_has_spc(&s, "709j"), 0);
    CHECK_INT(scope_spc_only(&s), 1);
    CHECK_RC(scope_parse_list("tn:1", &s), STI_OK);
    CHECK_INT(scope_spc_only(&s), 0);
    scope_init(&empty);
    CHECK_INT(scope_spc_only(&empty), 0);
    scope_free(&s);
}

TEST(contains_range_inside_range)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/100", "range:12025550120/10", SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
    CHECK_STR(o, "");
    CHECK_RC(
        contains("range:12025550100/100", "range:12025550100/100", SCOPE_SPC_DENY, o, sizeof o),
        STI_OK);
}

TEST(reports_tail_of_range_overlapping_the_end)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/100", "range:12025550190/20", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:12025550200/10");
}

TEST(reports_head_of_range_overlapping_the_start)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/100", "range:12025550099/5", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:12025550099");
}

TEST(adjacent_parent_ranges_cover_a_child_range)
{
    char o[256];
    CHECK_RC(contains("range:12025550200/100 range:12025550100/100", "range:12025550150/100",
                      SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
    CHECK_STR(o, "");
}

TEST(overlapping_parent_ranges_and_singles_cover_a_child_range)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/60 tn:12025550160 range:12025550150/20 "
                      "tn:12025550170 range:12025550171/29",
                      "range:12025550100/100", SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
}

TEST(nested_parent_entries_do_not_shrink_coverage)
{
    char o[256];
    /* The inner range and single sort after the outer one: merging must keep
     * the outer end, not take the inner one. */
    CHECK_RC(contains("range:12025550100/100 range:12025550110/10 tn:12025550105",
                      "range:12025550100/100", SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
    CHECK_STR(o, "");
}

TEST(reports_gaps_between_parent_ranges)
{
    char o[256];
    /* Parent covers ..100-149 and ..151-159 and ..170-199: the child misses
     * 150 (a single leftover becomes tn:) and 160-169 (a range). */
    CHECK_RC(contains("range:12025550100/50 range:12025550151/9 range:12025550170/30",
                      "range:12025550100/100", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:12025550150 range:12025550160/10");
}

TEST(reports_whole_range_when_parent_has_none_of_it)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/100", "range:13035550100/100 tn:12025550150",
                      SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:13035550100/100");
}

TEST(single_tn_at_last_number_of_range_is_contained)
{
    char o[256];
    CHECK_RC(contains("range:12025550100/100", "tn:12025550199", SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
    CHECK_RC(contains("range:12025550100/100", "tn:12025550200", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:12025550200");
}

TEST(different_digit_lengths_never_cover_each_other)
{
    char o[256];
    /* 2025550100..2025550199 (10 digits) is not the 11-digit range. */
    CHECK_RC(contains("range:12025550100/100", "range:2025550100/100", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:2025550100/100");
    CHECK_RC(contains("range:100/900", "tn:1000", SCOPE_SPC_DENY, o, sizeof o), STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:1000");
}

TEST(parent_ranges_of_other_lengths_do_not_merge)
{
    char o[256];
    struct scope_entry e;
    /* 99 (2 digits) and 100 (3 digits) are numerically adjacent only: each
     * length is its own number line, and no range may cross between them. */
    CHECK_RC(
        contains("range:90/10 range:100/10", "range:95/5 range:100/5", SCOPE_SPC_DENY, o, sizeof o),
        STI_OK);
    CHECK_RC(scope_entry_parse("range:95/10", &e), STI_ESCOPE_SYNTAX);
    /* 095..099 has the values of 95..99 but three digits. */
    CHECK_RC(contains("range:90/10", "range:095/5", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:095/5");
}

TEST(keeps_leading_zeros_in_reported_gaps)
{
    char o[256];
    CHECK_RC(contains("range:0010/10", "range:0000/30", SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:0000/10 range:0020/10");
}

TEST(hash_tn_needs_identical_single_entry)
{
    char o[256];
    CHECK_RC(contains("tn:*67 range:100/900", "tn:*67", SCOPE_SPC_DENY, o, sizeof o), STI_OK);
    CHECK_RC(contains("range:100/900", "tn:1#0", SCOPE_SPC_DENY, o, sizeof o), STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:1#0");
}

TEST(spc_is_covered_only_by_same_spc)
{
    char o[256];
    CHECK_RC(contains("spc:709J", "spc:709J", SCOPE_SPC_DENY, o, sizeof o), STI_OK);
    CHECK_RC(contains("spc:709J range:12025550100/100", "spc:123A", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "spc:123A");
    /* A TN-scoped parent never covers an SPC. */
    CHECK_RC(contains("range:12025550100/100", "spc:709J", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "spc:709J");
}

TEST(spc_only_parent_denies_tn_child_by_default)
{
    char o[256];
    CHECK_RC(contains("spc:709J", "spc:709J range:12025550100/100 tn:12025550300", SCOPE_SPC_DENY,
                      o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "range:12025550100/100 tn:12025550300");
}

TEST(spc_only_parent_allows_tn_child_under_allow_policy)
{
    char o[256];
    CHECK_RC(contains("spc:709J", "range:12025550100/100 tn:*67", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_OK);
    CHECK_STR(o, "");
    /* Still not a different SPC. */
    CHECK_RC(contains("spc:709J", "tn:1 spc:123A", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "spc:123A");
}

TEST(mixed_parent_spc_does_not_cover_tns_under_allow)
{
    char o[256];
    /* The parent has TN entries, so it is not SPC-only: TNs need TNs. */
    CHECK_RC(contains("spc:709J tn:12025550100", "tn:12025550101", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:12025550101");
}

TEST(empty_child_is_contained_in_anything)
{
    char o[256];
    CHECK_RC(contains("", "", SCOPE_SPC_DENY, o, sizeof o), STI_OK);
    CHECK_RC(contains("spc:709J", "", SCOPE_SPC_DENY, o, sizeof o), STI_OK);
}

TEST(empty_parent_contains_nothing)
{
    char o[256];
    CHECK_RC(contains("", "tn:12025550100 spc:709J", SCOPE_SPC_ALLOW, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:12025550100 spc:709J");
}

TEST(contains_without_outside_list_still_reports)
{
    struct scope p, c;
    CHECK_RC(mk(&p, "range:12025550100/100"), STI_OK);
    CHECK_RC(mk(&c, "range:12025550150/100"), STI_OK);
    CHECK_RC(scope_contains(&p, &c, SCOPE_SPC_DENY, NULL), STI_ESCOPE_OUTSIDE);
    CHECK_RC(scope_contains(&c, &c, SCOPE_SPC_DENY, NULL), STI_OK);
    scope_free(&p);
    scope_free(&c);
}

TEST(outside_is_appended_to_and_must_be_distinct)
{
    struct scope p, c, o;
    char buf[128];
    CHECK_RC(mk(&p, "tn:1"), STI_OK);
    CHECK_RC(mk(&c, "tn:2"), STI_OK);
    CHECK_RC(mk(&o, "spc:OLD"), STI_OK);
    CHECK_RC(scope_contains(&p, &c, SCOPE_SPC_DENY, &o), STI_ESCOPE_OUTSIDE);
    CHECK_STR(fmt(&o, buf, sizeof buf), "spc:OLD tn:2");
    CHECK_RC(scope_contains(&p, &c, SCOPE_SPC_DENY, &c), STI_EINVAL);
    CHECK_RC(scope_contains(&p, &c, SCOPE_SPC_DENY, &p), STI_EINVAL);
    scope_free(&p);
    scope_free(&c);
    scope_free(&o);
}

TEST(contains_full_fifteen_digit_space)
{
    char o[256];
    CHECK_RC(contains("range:000000000000000/500000000000000 "
                      "range:500000000000000/500000000000000",
                      "range:499999999999990/20 tn:999999999999999", SCOPE_SPC_DENY, o, sizeof o),
             STI_OK);
    CHECK_RC(contains("range:000000000000000/999999999999999", "range:999999999999998/2",
                      SCOPE_SPC_DENY, o, sizeof o),
             STI_ESCOPE_OUTSIDE);
    CHECK_STR(o, "tn:999999999999999");
}

CHECK_MAIN(CASE(parses_each_entry_kind), CASE(formats_each_entry_kind),
           CASE(entry_format_refuses_short_buffer), CASE(rejects_range_count_below_two),
           CASE(rejects_range_past_last_number_of_its_length),
           CASE(rejects_range_with_hash_or_star), CASE(rejects_malformed_range_text),
           CASE(rejects_malformed_single_tn), CASE(rejects_malformed_spc),
           CASE(rejects_unknown_prefix_and_bare_values), CASE(add_validates_entries_built_in_code),
           CASE(parses_list_with_commas_and_whitespace), CASE(parse_list_of_nothing_is_empty),
           CASE(parse_list_adds_nothing_on_a_bad_token), CASE(parse_list_appends_many_entries),
           CASE(format_refuses_short_buffer), CASE(copy_duplicates_entries),
           CASE(covers_tn_within_range_and_its_last_number),
           CASE(covers_only_numbers_of_equal_digit_length), CASE(covers_single_entries_exactly),
           CASE(hash_tn_is_not_covered_by_a_range), CASE(spc_queries),
           CASE(contains_range_inside_range), CASE(reports_tail_of_range_overlapping_the_end),
           CASE(reports_head_of_range_overlapping_the_start),
           CASE(adjacent_parent_ranges_cover_a_child_range),
           CASE(overlapping_parent_ranges_and_singles_cover_a_child_range),
           CASE(nested_parent_entries_do_not_shrink_coverage),
           CASE(reports_gaps_between_parent_ranges),
           CASE(reports_whole_range_when_parent_has_none_of_it),
           CASE(single_tn_at_last_number_of_range_is_contained),
           CASE(different_digit_lengths_never_cover_each_other),
           CASE(parent_ranges_of_other_lengths_do_not_merge),
           CASE(keeps_leading_zeros_in_reported_gaps), CASE(hash_tn_needs_identical_single_entry),
           CASE(spc_is_covered_only_by_same_spc), CASE(spc_only_parent_denies_tn_child_by_default),
           CASE(spc_only_parent_allows_tn_child_under_allow_policy),
           CASE(mixed_parent_spc_does_not_cover_tns_under_allow),
           CASE(empty_child_is_contained_in_anything), CASE(empty_parent_contains_nothing),
           CASE(contains_without_outside_list_still_reports),
           CASE(outside_is_appended_to_and_must_be_distinct),
           CASE(contains_full_fifteen_digit_space))
