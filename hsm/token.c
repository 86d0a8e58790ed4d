/*
 * token.c — finding the slot that holds a token, and initialising a token
 * (SO PIN, label, user PIN) for provisioning.
 */
#include "hsm_int.h"

#include <stdlib.h>
#include <string.h>

#include "sti_err.h"

const CK_BYTE hsm_p256_params[10] = {0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07};

void hsm_fixed_to_str(const CK_UTF8CHAR *src, size_t srclen, char *dst, size_t dstcap)
{
    size_t n = srclen;
    while (n > 0 && (src[n - 1] == ' ' || src[n - 1] == '\0'))
        n--;
    if (n >= dstcap)
        n = dstcap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Slots with a token present; *slots is malloc'd. Slots can appear between
 * the two calls (hot-plug), hence the loop on CKR_BUFFER_TOO_SMALL. */
static int slot_list(CK_FUNCTION_LIST_PTR f, CK_SLOT_ID **slots, CK_ULONG *n)
{
    CK_SLOT_ID *list = NULL;
    CK_ULONG cnt = 0;
    CK_RV rv;

    for (int tries = 0; tries < 4; tries++) {
        rv = f->C_GetSlotList(CK_TRUE, NULL, &cnt);
        if (rv != CKR_OK)
            break;
        free(list);
        list = calloc(cnt ? cnt : 1, sizeof *list);
        if (!list)
            return STI_ENOMEM;
        rv = f->C_GetSlotList(CK_TRUE, list, &cnt);
        if (rv != CKR_BUFFER_TOO_SMALL)
            break;
    }
    if (rv != CKR_OK) {
        free(list);
        return hsm_rv_map(rv, STI_EHSM_TOKEN);
    }
    *slots = list;
    *n = cnt;
    return STI_OK;
}

static int token_matches(const CK_TOKEN_INFO *ti, const struct hsm_token_sel *sel)
{
    char label[HSM_LABEL_MAX + 1], serial[HSM_SERIAL_MAX + 1];

    hsm_fixed_to_str(ti->label, sizeof ti->label, label, sizeof label);
    hsm_fixed_to_str(ti->serialNumber, sizeof ti->serialNumber, serial, sizeof serial);
    if (sel->label[0] && strcmp(sel->label, label) != 0)
        return 0;
    if (sel->serial[0] && strcmp(sel->serial, serial) != 0)
        return 0;
    return 1;
}

int hsm_find_slot(struct hsm_module *m, const struct hsm_token_sel *sel, unsigned long *slot)
{
    static const struct hsm_token_sel any;
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID *slots = NULL;
    CK_ULONG n = 0;
    int rc = STI_OK;

    if (!m || !slot)
        return STI_EINVAL;
    if (!sel)
        sel = &any;
    f = hsm_module_fl(m);
    STI_TRY(slot_list(f, &slots, &n));
    rc = STI_EHSM_TOKEN;
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue; /* removed meanwhile */
        /* An uninitialised token has no user to log in as. */
        if (!(ti.flags & CKF_TOKEN_INITIALIZED))
            continue;
        if (token_matches(&ti, sel)) {
            *slot = slots[i];
            rc = STI_OK;
            break;
        }
    }
out:
    free(slots);
    return rc;
}

static int pin_ok(const char *pin)
{
    return pin && *pin && strlen(pin) <= HSM_PIN_MAX;
}

int hsm_token_init(struct hsm_module *m, const char *label, const char *so_pin,
                   const char *user_pin)
{
    CK_FUNCTION_LIST_PTR f;
    CK_SLOT_ID *slots = NULL, slot = 0;
    CK_ULONG n = 0;
    CK_UTF8CHAR padded[32];
    CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
    struct hsm_token_sel sel;
    int found = 0, rc = STI_OK;
    CK_RV rv;

    if (!m || !label || !*label || !pin_ok(so_pin) || !pin_ok(user_pin))
        return STI_EINVAL;
    if (strlen(label) > HSM_LABEL_MAX)
        return STI_ETOOLONG;
    memset(&sel, 0, sizeof sel);
    memcpy(sel.label, label, strlen(label) + 1);
    memset(padded, ' ', sizeof padded);
    memcpy(padded, label, strlen(label));

    f = hsm_module_fl(m);
    STI_TRY(slot_list(f, &slots, &n));
    /* Re-initialise a token with this label if there is one (same name,
     * fresh keys: what provisioning asks for), else take the first blank
     * token. Never two initialised tokens with one label. */
    for (int pass = 0; pass < 2 && !found; pass++) {
        for (CK_ULONG i = 0; i < n && !found; i++) {
            CK_TOKEN_INFO ti;
            if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
                continue;
            int init = (ti.flags & CKF_TOKEN_INITIALIZED) != 0;
            if ((pass == 0 && init && token_matches(&ti, &sel)) || (pass == 1 && !init)) {
                slot = slots[i];
                found = 1;
            }
        }
    }
    STI_CHECK(found, STI_EHSM_TOKEN);

    rv = f->C_InitToken(slot, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin), padded);
    STI_CHECK(rv == CKR_OK, hsm_rv_map(rv, STI_EHSM_TOKEN));

    /* SoftHSM2 moves an initialised token to a new slot id (derived from its
     * serial) and adds a fresh blank slot, so look the token up again. */
    STI_TRY(hsm_find_slot(m, &sel, &slot));
    rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &sess);
    STI_CHECK(rv == CKR_OK, hsm_rv_map(rv, STI_EHSM_SESSION));
    rv = f->C_Login(sess, CKU_SO, (CK_UTF8CHAR_PTR)so_pin, strlen(so_pin));
    STI_CHECK(rv == CKR_OK, hsm_rv_map(rv, STI_EHSM_LOGIN));
    rv = f->C_InitPIN(sess, (CK_UTF8CHAR_PTR)user_pin, strlen(user_pin));
    f->C_Logout(sess);
    STI_CHECK(rv == CKR_OK, hsm_rv_map(rv, STI_EHSM_LOGIN));
out:
    if (sess != CK_INVALID_HANDLE)
        f->C_CloseSession(sess);
    free(slots);
    return rc;
}
