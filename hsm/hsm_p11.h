/*
 * hsm_p11.h — the PKCS#11 management plane through libp11: token discovery
 * and an OpenSSL EVP_PKEY for a token key, so that OpenSSL can sign CSRs and
 * certificates with a private key that never leaves the token.
 *
 * Conventions: struct hsm_p11 owns its libp11 context, slot list and login;
 * EVP_PKEYs it hands out are valid until hsm_p11_close and must be freed by
 * the caller with EVP_PKEY_free. Not for the hot path. Do not use the raw
 * hsm_module and a hsm_p11 on the same module in one process at once (both
 * would own C_Initialize/C_Finalize).
 */
#ifndef STI_HSM_P11_H
#define STI_HSM_P11_H

#include <stddef.h>

#include <openssl/evp.h>

#include "hsm.h"

struct hsm_p11;

struct hsm_token_info {
    unsigned long slot;
    char label[HSM_LABEL_MAX + 1];
    char serial[HSM_SERIAL_MAX + 1];
    char manufacturer[33];
    char model[17];
    int initialized, login_required;
};

/* Loads the module through libp11 and finds the token; logs in when pin is
 * not NULL. */
int hsm_p11_open(const char *module, const struct hsm_token_sel *tok, const char *pin,
                 struct hsm_p11 **out);
void hsm_p11_close(struct hsm_p11 *p);

/* Every slot with a token present. */
int hsm_p11_list_tokens(const char *module, struct hsm_token_info *out, size_t max, size_t *n);

/* EVP_PKEY whose signing operations run on the token (needs a login). */
int hsm_p11_private_key(struct hsm_p11 *p, const struct hsm_key_sel *key, EVP_PKEY **out);

#endif
