/*
 * check.h — the unit-test harness: one executable per module, each case a
 * function named after the behaviour it pins down. A failed CHECK prints the
 * file, line and both values, marks the case failed and returns from it.
 * The runner prints "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef STI_CHECK_H
#define STI_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct check_case {
    const char *name;
    void (*fn)(int *failed);
};

#define TEST(name) static void name(int *check_failed_)

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond);              \
            *check_failed_ = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        if (g_ != w_) {                                                                            \
            fprintf(stderr, "%s:%d: %s = %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);    \
            *check_failed_ = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

/* Exact error code, printed by name so a failure reads "STI_ETN want STI_OK". */
#define CHECK_RC(got, want)                                                                        \
    do {                                                                                           \
        int g_ = (got), w_ = (want);                                                               \
        if (g_ != w_) {                                                                            \
            fprintf(stderr, "%s:%d: %s = %d (%s), want %d (%s)\n", __FILE__, __LINE__, #got, g_,  \
                    sti_errname(g_), w_, sti_errname(w_));                                         \
            *check_failed_ = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        if (!g_ || strcmp(g_, w_) != 0) {                                                          \
            fprintf(stderr, "%s:%d: %s = \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got,         \
                    g_ ? g_ : "(null)", w_);                                                       \
            *check_failed_ = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(got, want, n)                                                                    \
    do {                                                                                           \
        if (memcmp((got), (want), (n)) != 0) {                                                     \
            fprintf(stderr, "%s:%d: %s differs from %s over %zu bytes\n", __FILE__, __LINE__,      \
                    #got, #want, (size_t)(n));                                                     \
            *check_failed_ = 1;                                                                    \
            return;                                                                                \
        }                                                                                          \
    } while (0)

#define CASE(fn) {#fn, fn}

static inline int check_run(const struct check_case *cases, size_t n, int argc, char **argv)
{
    int passed = 0, failed = 0;
    for (size_t i = 0; i < n; i++) {
        if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
            continue;
        int f = 0;
        cases[i].fn(&f);
        fprintf(stderr, "%s %s\n", f ? "FAIL" : "ok  ", cases[i].name);
        if (f)
            failed++;
        else
            passed++;
    }
    printf("%d passed, %d failed\n", passed, failed);
    return failed || passed == 0 ? 1 : 0;
}

#define CHECK_MAIN(...)                                                                            \
    int main(int argc, char **argv)                                                                \
    {                                                                                              \
        static const struct check_case cases_[] = {__VA_ARGS__};                                   \
        return check_run(cases_, sizeof cases_ / sizeof cases_[0], argc, argv);                    \
    }

#endif
