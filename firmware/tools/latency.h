/*
 * latency.h — latency samples to percentiles, one definition for both load
 * generators (stisign bench and stisign-rawbench), so that the daemon and
 * the token alone are ranked the same way; and the clocks the bench tools
 * measure with.
 */
#ifndef STI_TOOLS_LATENCY_H
#define STI_TOOLS_LATENCY_H

#include <stddef.h>
#include <stdint.h>

/* Sorts v ascending, in place. */
void lat_sort(uint32_t *v, size_t n);
/* The p-quantile (0..1) of sorted v, nearest rank; 0 when empty. */
uint32_t lat_pct(const uint32_t *v, size_t n, double p);
/* CLOCK_MONOTONIC in ns. */
uint64_t lat_now_ns(void);
/* The calling thread's CPU time in ns (0 if the clock fails). */
uint64_t lat_thread_cpu_ns(void);

#endif
