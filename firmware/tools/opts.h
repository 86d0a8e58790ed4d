/*
 * opts.h — the long-option parsing every stisign subcommand shares:
 * "--name value" pairs and bare "--flag"s, checked against a table, with
 * repeatable options collected in order.
 */
#ifndef STI_OPTS_H
#define STI_OPTS_H

#include <stddef.h>

#define OPTS_MAX_VALUES 32

struct opt {
    const char *name; /* without the leading -- */
    int takes_value;
    int repeatable;
    const char *values[OPTS_MAX_VALUES];
    size_t n;
};

/* Fills the table from argv[0..argc); positional arguments go to pos (up to
 * maxpos). Prints a message and returns -1 on an unknown or bad option. */
int opts_parse(int argc, char **argv, struct opt *table, size_t ntable, const char **pos,
               size_t maxpos, size_t *npos);
const char *opts_get(const struct opt *table, size_t ntable, const char *name);
const struct opt *opts_find(const struct opt *table, size_t ntable, const char *name);
/* Integer option with a default and bounds; -1 and a message if invalid. */
int opts_long(const struct opt *table, size_t ntable, const char *name, long dflt, long min,
              long max, long *out);

#endif
