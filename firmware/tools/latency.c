/* latency.c — see latency.h. */
#include "latency.h"

#include <stdlib.h>
#include <time.h>

static int lat_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

void lat_sort(uint32_t *v, size_t n)
{
    qsort(v, n, sizeof *v, lat_cmp);
}

uint32_t lat_pct(const uint32_t *v, size_t n, double p)
{
    return n ? v[(size_t)(p * (double)(n - 1) + 0.5)] : 0;
}

static uint64_t lat_clock_ns(clockid_t id)
{
    struct timespec ts;
    if (clock_gettime(id, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t lat_now_ns(void)
{
    return lat_clock_ns(CLOCK_MONOTONIC);
}

uint64_t lat_thread_cpu_ns(void)
{
    return lat_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}
