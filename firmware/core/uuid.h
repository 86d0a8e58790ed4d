/*
 * uuid.h — RFC 4122 UUID strings for the PASSporT origid claim.
 * Pure: the caller supplies 16 random bytes (the daemon reads them from the
 * kernel), so the formatting is testable with fixed input.
 */
#ifndef STI_UUID_H
#define STI_UUID_H

#include <stddef.h>
#include <stdint.h>

#define UUID_STR_LEN 36
#define UUID_BUF (UUID_STR_LEN + 1)

/* Sets the version (4) and variant (10xx) bits and formats lowercase. */
void uuid_v4_format(const uint8_t rnd[16], char out[UUID_BUF]);
/* Accepts 8-4-4-4-12 hex of either case (any version), writes it lowercase
 * to out; STI_EORIGID otherwise. */
int uuid_normalize(const char *in, size_t n, char out[UUID_BUF]);

#endif
