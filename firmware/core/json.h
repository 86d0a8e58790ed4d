/*
 * json.h — the few pieces of JSON output the PASSporT writer needs,
 * appended to a caller-owned struct buf_wr (see buf.h).
 *
 * Conventions: nothing here allocates or keeps state; every function
 * returns STI_OK or STI_ETOOLONG when the writer is full (the writer may
 * then hold a partial value, the caller discards it). Output is the one
 * deterministic form the PASSporT tests pin down: strings escape only '"',
 * '\\' and control characters (as \u00XX, lowercase hex), '/' and bytes
 * >= 0x80 pass through unchanged. Reentrant.
 */
#ifndef STI_JSON_H
#define STI_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Literal text, written as is (structural characters, member names). */
int json_put_raw(struct buf_wr *w, const char *s);
/* A quoted, escaped JSON string of the n bytes at s. */
int json_put_str(struct buf_wr *w, const char *s, size_t n);
/* A decimal integer, no leading zeros, '-' for negatives. */
int json_put_i64(struct buf_wr *w, int64_t v);

#endif
