/* expiry.c — certificate expiry warnings at 30/7/1 days. */
#include "expiry.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

static const long expiry_days[] = {30, 7, 1};

void expiry_check(struct expiry_state *st, const struct cred_table *t, time_t now)
{
    for (size_t i = 0; i < t->n; i++) {
        const struct cred *c = &t->c[i];
        size_t k;
        for (k = 0; k < st->n; k++)
            if (strcmp(st->e[k].name, c->name) == 0 && st->e[k].not_after == c->not_after)
                break;
        if (k == st->n) {
            if (st->n == CFG_MAX_CREDS) /* forget the oldest entry */
                memmove(&st->e[0], &st->e[1], --st->n * sizeof st->e[0]);
            k = st->n++;
            snprintf(st->e[k].name, sizeof st->e[k].name, "%s", c->name);
            st->e[k].not_after = c->not_after;
            st->e[k].level = 0;
        }
        /* The most urgent threshold reached; lesser ones are not repeated. */
        int level = 0;
        long left = (long)(c->not_after - now);
        if (left <= 0)
            level = 4;
        else
            for (int j = 0; j < 3; j++)
                if (left <= expiry_days[j] * 86400)
                    level = j + 1;
        if (level <= st->e[k].level)
            continue;
        st->e[k].level = level;
        char when[32];
        struct tm tm;
        gmtime_r(&c->not_after, &tm);
        strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S UTC", &tm);
        if (level == 4)
            log_error("credential %s: certificate expired at %s; it is not used for signing: "
                      "renew it", c->name, when);
        else
            log_warn("credential %s: certificate expires in %ld day(s), %ld hour(s) (at %s; "
                     "warning at %ld days): renew it", c->name, left / 86400, left % 86400 / 3600,
                     when, expiry_days[level - 1]);
    }
}
