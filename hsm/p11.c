/*
 * p11.c — the management plane through libp11: token discovery, login, and
 * an EVP_PKEY whose private operations run on the token.
 */
#include "hsm_p11.h"

#include <libp11.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sti_err.h"

struct hsm_p11 {
    PKCS11_CTX *ctx;
    PKCS11_SLOT *slots;
    unsigned int nslots;
    PKCS11_SLOT *slot; /* the selected token's slot, inside slots */
};

static void copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= cap)
        n = cap - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

static int ctx_open(const char *module, PKCS11_CTX **ctx, PKCS11_SLOT **slots, unsigned int *n)
{
    /* libp11 prints dlopen errors to stderr; a missing file is ours to
     * report. */
    if (access(module, R_OK) != 0)
        return STI_EHSM_MODULE;
    *ctx = PKCS11_CTX_new();
    if (!*ctx)
        return STI_ENOMEM;
    if (PKCS11_CTX_load(*ctx, module) < 0) {
        PKCS11_CTX_free(*ctx);
        *ctx = NULL;
        return STI_EHSM_MODULE;
    }
    if (PKCS11_enumerate_slots(*ctx, slots, n) < 0) {
        PKCS11_CTX_unload(*ctx);
        PKCS11_CTX_free(*ctx);
        *ctx = NULL;
        return STI_EHSM_TOKEN;
    }
    return STI_OK;
}

static void ctx_close(PKCS11_CTX *ctx, PKCS11_SLOT *slots, unsigned int n)
{
    if (!ctx)
        return;
    if (slots)
        PKCS11_release_all_slots(ctx, slots, n);
    PKCS11_CTX_unload(ctx);
    PKCS11_CTX_free(ctx);
}

void hsm_p11_close(struct hsm_p11 *p)
{
    if (!p)
        return;
    ctx_close(p->ctx, p->slots, p->nslots);
    free(p);
}

int hsm_p11_open(const char *module, const struct hsm_token_sel *tok, const char *pin,
                 struct hsm_p11 **out)
{
    struct hsm_p11 *p = NULL;
    int rc = STI_OK;

    if (!module || !out)
        return STI_EINVAL;
    *out = NULL;
    if (pin && strlen(pin) > HSM_PIN_MAX)
        return STI_ETOOLONG;
    p = calloc(1, sizeof *p);
    if (!p)
        return STI_ENOMEM;
    STI_TRY(ctx_open(module, &p->ctx, &p->slots, &p->nslots));

    /* Same rule as hsm_find_slot: first initialised token that matches. */
    for (unsigned int i = 0; i < p->nslots && !p->slot; i++) {
        PKCS11_TOKEN *t = p->slots[i].token;
        if (!t || !t->initialized)
            continue;
        if (tok && tok->label[0] && (!t->label || strcmp(t->label, tok->label) != 0))
            continue;
        if (tok && tok->serial[0] && (!t->serialnr || strcmp(t->serialnr, tok->serial) != 0))
            continue;
        p->slot = &p->slots[i];
    }
    STI_CHECK(p->slot != NULL, STI_EHSM_TOKEN);
    if (pin)
        STI_CHECK(PKCS11_login(p->slot, 0, pin) == 0, STI_EHSM_LOGIN);
    *out = p;
    p = NULL;
out:
    hsm_p11_close(p);
    return rc;
}

int hsm_p11_list_tokens(const char *module, struct hsm_token_info *out, size_t max, size_t *n)
{
    PKCS11_CTX *ctx = NULL;
    PKCS11_SLOT *slots = NULL;
    unsigned int nslots = 0;
    int rc;

    if (!module || (!out && max) || !n)
        return STI_EINVAL;
    *n = 0;
    STI_TRY(ctx_open(module, &ctx, &slots, &nslots));
    for (unsigned int i = 0; i < nslots; i++) {
        PKCS11_TOKEN *t = slots[i].token;
        if (!t)
            continue;
        STI_CHECK(*n < max, STI_ETOOMANY);
        struct hsm_token_info *ti = &out[(*n)++];
        memset(ti, 0, sizeof *ti);
        ti->slot = PKCS11_get_slotid_from_slot(&slots[i]);
        copy_str(ti->label, sizeof ti->label, t->label);
        copy_str(ti->serial, sizeof ti->serial, t->serialnr);
        copy_str(ti->manufacturer, sizeof ti->manufacturer, t->manufacturer);
        copy_str(ti->model, sizeof ti->model, t->model);
        ti->initialized = t->initialized != 0;
        ti->login_required = t->loginRequired != 0;
    }
out:
    ctx_close(ctx, slots, nslots);
    return rc;
}

int hsm_p11_private_key(struct hsm_p11 *p, const struct hsm_key_sel *key, EVP_PKEY **out)
{
    PKCS11_KEY *keys = NULL, *match = NULL;
    unsigned int nkeys = 0, nmatch = 0;

    if (!p || !key || !out || (!key->label[0] && key->id_len == 0))
        return STI_EINVAL;
    *out = NULL;
    if (PKCS11_enumerate_keys(p->slot->token, &keys, &nkeys) < 0)
        return STI_EHSM_KEY;
    for (unsigned int i = 0; i < nkeys; i++) {
        PKCS11_KEY *k = &keys[i];
        if (!k->isPrivate)
            continue;
        if (key->label[0] && (!k->label || strcmp(k->label, key->label) != 0))
            continue;
        if (key->id_len && (k->id_len != key->id_len || memcmp(k->id, key->id, key->id_len) != 0))
            continue;
        match = k;
        nmatch++;
    }
    if (nmatch != 1)
        return STI_EHSM_KEY; /* missing, or ambiguous */
    if (PKCS11_get_key_type(match) != EVP_PKEY_EC)
        return STI_EPKI_KEYTYPE;
    *out = PKCS11_get_private_key(match);
    return *out ? STI_OK : STI_EHSM_KEY;
}
