/*
 * tn.h — telephone numbers as SHAKEN carries them.
 *
 * A TN in a PASSporT or a TNAuthList is 1..15 characters of 0-9 # * (E.164
 * without "+"). tn_normalize accepts what people and PBXs actually send —
 * "+1 (202) 555-0100", "tel:+12025550100", "1-202-555-0100" — strips the
 * "tel:" scheme, one leading "+", and the visual separators space - . ( ),
 * and rejects everything else with STI_ETN. Output is NUL-terminated in
 * caller storage of TN_BUF bytes. Pure, reentrant.
 */
#ifndef STI_TN_H
#define STI_TN_H

#include <stddef.h>

#define TN_MAX 15
#define TN_BUF (TN_MAX + 1)
/* Longest raw input accepted before normalisation. */
#define TN_INPUT_MAX 64

int tn_normalize(const char *in, size_t inlen, char out[TN_BUF]);
/* STI_OK when s (length n) is already canonical: 1..15 of 0-9 # *. */
int tn_check(const char *s, size_t n);

#endif
