/* latency.c — see latency.h. */
#include "latency.h"

#include <stdlib.h>

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
