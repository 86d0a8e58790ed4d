/*
 * latency.h — latency samples to percentiles, one definition for both load
 * generators (stisign bench and stisign-rawbench), so that the daemon and
 * the token alone are ranked the same way.
 */
#ifndef STI_TOOLS_LATENCY_H
#define STI_TOOLS_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* Sorts v ascending, in place. */
void lat_sort(uint32_t *v, size_t n);
/* The p-quantile (0..1) of sorted v, nearest rank; 0 when empty. */
uint32_t lat_pct(const uint32_t *v, size_t n, double p);

#endif
