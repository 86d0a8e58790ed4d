/*
 * expiry.h — certificate expiry warnings: 30, 7 and 1 day(s) before a
 * credential's notAfter, and once when it has expired (signing with it is
 * refused by cred_select). Each threshold is logged once per credential
 * (by name and notAfter, so a renewed certificate starts over and a reload
 * of the same one does not repeat the warning).
 *
 * Conventions: plain data owned by the caller, loop thread only; the
 * daemon calls expiry_check at start, after each reload and hourly.
 */
#ifndef STI_EXPIRY_H
#define STI_EXPIRY_H

#include <time.h>

#include "cred.h"

struct expiry_state {
    struct {
        char name[CFG_NAME_MAX + 1];
        time_t not_after;
        int level; /* thresholds already logged: 0 none .. 4 expired */
    } e[CFG_MAX_CREDS];
    size_t n;
};

void expiry_check(struct expiry_state *st, const struct cred_table *t, time_t now);

#endif
