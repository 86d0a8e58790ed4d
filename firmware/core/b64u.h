/*
 * b64u.h — base64url without padding (RFC 4648 §5, RFC 7515 §2).
 * Caller-owned output buffers; no allocation. Decoding is strict: no
 * padding, no whitespace, only the url-safe alphabet, a length that is not
 * 1 mod 4, and zero unused trailing bits (one canonical encoding per value).
 */
#ifndef STI_B64U_H
#define STI_B64U_H

#include <stddef.h>
#include <stdint.h>

#define B64U_ENC_LEN(n) ((((n) / 3) * 4) + (((n) % 3) ? ((n) % 3) + 1 : 0))

/* Writes B64U_ENC_LEN(n) chars and a NUL; STI_ETOOLONG if cap is short. */
int b64u_encode(const uint8_t *in, size_t n, char *out, size_t cap, size_t *outlen);
/* STI_EINVAL on any non-canonical input, STI_ETOOLONG if cap is short. */
int b64u_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *outlen);

#endif
