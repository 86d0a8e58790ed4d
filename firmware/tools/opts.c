/* opts.c — long-option parsing for the stisign subcommands. */
#include "opts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct opt *opts_lookup(struct opt *table, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

int opts_parse(int argc, char **argv, struct opt *table, size_t ntable, const char **pos,
               size_t maxpos, size_t *npos)
{
    *npos = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0 || a[2] == '\0') {
            if (*npos == maxpos) {
                fprintf(stderr, "unexpected argument: %s\n", a);
                return -1;
            }
            pos[(*npos)++] = a;
            continue;
        }
        struct opt *o = opts_lookup(table, ntable, a + 2);
        if (!o) {
            fprintf(stderr, "unknown option: %s\n", a);
            return -1;
        }
        if (o->n && !o->repeatable) {
            fprintf(stderr, "option given twice: %s\n", a);
            return -1;
        }
        if (o->n == OPTS_MAX_VALUES) {
            fprintf(stderr, "option given too often: %s\n", a);
            return -1;
        }
        if (o->takes_value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "option needs a value: %s\n", a);
                return -1;
            }
            o->values[o->n++] = argv[++i];
        } else {
            o->values[o->n++] = "1";
        }
    }
    return 0;
}

const struct opt *opts_find(const struct opt *table, size_t ntable, const char *name)
{
    for (size_t i = 0; i < ntable; i++)
        if (strcmp(table[i].name, name) == 0)
            return &table[i];
    return NULL;
}

const char *opts_get(const struct opt *table, size_t ntable, const char *name)
{
    const struct opt *o = opts_find(table, ntable, name);
    return o && o->n ? o->values[0] : NULL;
}

int opts_long(const struct opt *table, size_t ntable, const char *name, long dflt, long min,
              long max, long *out)
{
    const char *v = opts_get(table, ntable, name);
    if (!v) {
        *out = dflt;
        return 0;
    }
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < min || x > max) {
        fprintf(stderr, "--%s: expected a number from %ld to %ld\n", name, min, max);
        return -1;
    }
    *out = x;
    return 0;
}
