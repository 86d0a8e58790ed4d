/* fuzz_tn.c — tn_normalize and the scope text parser on arbitrary bytes.
 * Invariants (abort on violation): a normalised TN is canonical and
 * normalising it again is the identity; a parsed scope formats to text that
 * parses back to the same entries, and every scope contains itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scope.h"
#include "sti_err.h"
#include "tn.h"

/* Bound the work per input: the scope list is linear, but the format
 * buffer below is sized from the entry count. */
#define FUZZ_MAX_INPUT 4096

static void fuzz_tn(const uint8_t *data, size_t size)
{
    char out[TN_BUF], again[TN_BUF];
    int rc = tn_normalize((const char *)data, size, out);
    if (rc == STI_OK) {
        size_t n = strlen(out);
        if (tn_check(out, n) != STI_OK)
            abort();
        if (tn_normalize(out, n, again) != STI_OK || strcmp(out, again) != 0)
            abort();
    } else if (rc != STI_ETN || out[0] != '\0') {
        abort();
    }
}

static int fuzz_entry_eq(const struct scope_entry *a, const struct scope_entry *b)
{
    if (a->kind != b->kind)
        return 0;
    switch (a->kind) {
    case SCOPE_SPC:
        return strcmp(a->spc, b->spc) == 0;
    case SCOPE_ONE:
        return strcmp(a->tn, b->tn) == 0;
    default:
        return strcmp(a->tn, b->tn) == 0 && a->count == b->count;
    }
}

static void fuzz_scope(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char *fmt = NULL;
    struct scope s, back, outside;
    scope_init(&s);
    scope_init(&back);
    scope_init(&outside);
    if (text == NULL)
        goto out;
    memcpy(text, data, size);
    text[size] = '\0';

    int rc = scope_parse_list(text, &s);
    if (rc != STI_OK) {
        /* All or nothing: a rejected list leaves no entries behind. */
        if (s.n != 0 || (rc != STI_ESCOPE_SYNTAX && rc != STI_ENOMEM))
            abort();
        goto out;
    }

    /* Each token is at most 40 characters plus a separator. */
    size_t cap = s.n * 48 + 1;
    fmt = malloc(cap);
    if (fmt == NULL)
        goto out;
    if (scope_format(&s, fmt, cap) != STI_OK)
        abort();
    if (scope_parse_list(fmt, &back) != STI_OK || back.n != s.n)
        abort();
    for (size_t i = 0; i < s.n; i++) {
        if (!fuzz_entry_eq(&s.e[i], &back.e[i]))
            abort();
        if (s.e[i].kind != SCOPE_SPC && !scope_covers_tn(&s, s.e[i].tn))
            abort();
        if (s.e[i].kind == SCOPE_SPC && !scope_has_spc(&s, s.e[i].spc))
            abort();
    }
    if (scope_contains(&s, &back, SCOPE_SPC_DENY, &outside) != STI_OK || outside.n != 0)
        abort();
    if (scope_contains(&back, &s, SCOPE_SPC_ALLOW, NULL) != STI_OK)
        abort();

    /* Whatever the first entry leaves uncovered, the reported outside list
     * must itself be contained in the child. */
    if (s.n > 1) {
        struct scope first = {&s.e[0], 1, 1};
        rc = scope_contains(&first, &s, SCOPE_SPC_DENY, &outside);
        if (rc == STI_OK && outside.n != 0)
            abort();
        if (rc == STI_ESCOPE_OUTSIDE &&
            (outside.n == 0 || scope_contains(&s, &outside, SCOPE_SPC_DENY, NULL) != STI_OK))
            abort();
        if (rc != STI_OK && rc != STI_ESCOPE_OUTSIDE && rc != STI_ENOMEM)
            abort();
    }
out:
    scope_free(&s);
    scope_free(&back);
    scope_free(&outside);
    free(fmt);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > FUZZ_MAX_INPUT)
        return 0;
    fuzz_tn(data, size);
    fuzz_scope(data, size);
    return 0;
}
