/*
 * scope.h — TNAuthList scope sets: SPCs, TN ranges and single TNs.
 *
 * A scope is what a certificate (or a peer, or a CSR) is allowed to sign
 * for. Entries mirror RFC 8226 TNEntry: spc, range (start + count >= 2, over
 * numbers of the same digit length as start), one (a single TN).
 *
 * Conventions: struct scope owns its entry array (heap, grown by
 * scope_add); scope_free releases it and leaves an empty scope. Building
 * happens at load time; the query functions never allocate and are safe to
 * call from many threads on a scope nobody is modifying.
 *
 * Text form (config files, console, RPC listings), one entry per token:
 *   spc:709J   tn:12025550100   range:12025550100/100  (start/count)
 */
#ifndef STI_SCOPE_H
#define STI_SCOPE_H

#include <stddef.h>
#include <stdint.h>

#include "tn.h"

#define SCOPE_SPC_MAX 32

enum scope_kind { SCOPE_SPC = 0, SCOPE_RANGE = 1, SCOPE_ONE = 2 };

struct scope_entry {
    uint8_t kind;                /* enum scope_kind */
    char spc[SCOPE_SPC_MAX + 1]; /* SCOPE_SPC */
    char tn[TN_BUF];             /* SCOPE_RANGE start, or SCOPE_ONE */
    uint64_t count;              /* SCOPE_RANGE: >= 2 */
};

struct scope {
    struct scope_entry *e;
    size_t n;
    size_t cap;
};

/* Policy for issuers whose scope has SPC entries only: whether they are
 * taken to cover TN-scoped children. Cannot be decided offline; default deny. */
enum scope_spc_policy { SCOPE_SPC_DENY = 0, SCOPE_SPC_ALLOW = 1 };

void scope_init(struct scope *s);
void scope_free(struct scope *s);
/* Validates the entry (TN syntax, count >= 2, range digits only and the
 * range not running past the last number of its digit length, SPC 1..32
 * printable ASCII) and appends a copy. STI_ESCOPE_SYNTAX on bad entries.
 * SPCs exclude space and ',' (they separate tokens of the text form). The
 * copy has its unused fields zeroed. STI_ENOMEM if the array cannot grow. */
int scope_add(struct scope *s, const struct scope_entry *e);
/* dst (initialised) is replaced by a copy of src; unchanged on failure. */
int scope_copy(struct scope *dst, const struct scope *src);

/* Text form, see above. Parse accepts one entry token (prefix in any
 * case; TNs canonical; count decimal without leading zeros). */
int scope_entry_parse(const char *text, struct scope_entry *e);
int scope_entry_format(const struct scope_entry *e, char *out, size_t cap);
/* Whitespace- or comma-separated list of entries, appended to s (which
 * must be initialised). All or nothing: on error s keeps its old entries. */
int scope_parse_list(const char *text, struct scope *s);
/* Space-separated list; STI_ETOOLONG if cap is too small. */
int scope_format(const struct scope *s, char *out, size_t cap);

/* 1 when the canonical TN is covered by a range or single entry of s. */
int scope_covers_tn(const struct scope *s, const char *tn);
/* 1 when s holds this SPC. */
int scope_has_spc(const struct scope *s, const char *spc);
/* 1 when s has no TN entries (ranges or singles), only SPCs. An empty
 * scope is not SPC-only (it must never cover anything). */
int scope_spc_only(const struct scope *s);

/* Containment ("encompassed", RFC 9060): STI_OK when every TN and SPC of
 * child is covered by parent — ranges may be covered by several adjacent
 * parent entries together. Otherwise STI_ESCOPE_OUTSIDE, and if outside is
 * not NULL it receives the child entries (or the uncovered parts of child
 * ranges) that fall outside. An SPC-only parent covers TN entries only under
 * SCOPE_SPC_ALLOW. An empty child is contained in anything.
 * outside is appended to and must be neither parent nor child (STI_EINVAL).
 * Unlike the queries above this allocates a temporary sorted interval table
 * of the parent (load time only); STI_ENOMEM if that fails. */
int scope_contains(const struct scope *parent, const struct scope *child,
                   enum scope_spc_policy policy, struct scope *outside);

#endif
