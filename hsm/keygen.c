/*
 * keygen.c — P-256 key pairs generated on the token with CKM_EC_KEY_PAIR_GEN.
 *
 * The private half is a token object, private, sensitive, never extractable,
 * and can sign and nothing else; the public half can verify and nothing
 * else. Both carry the label and a fresh random 16-byte CKA_ID, which is how
 * hsm_signer_pubkey pairs them up again.
 */
#include "hsm_int.h"

#include <string.h>

#include "sti_err.h"

#define KEYGEN_ID_LEN 16

struct keygen_arg {
    const char *label;
    uint8_t *id;
    size_t *id_len;
    uint8_t *point;
};

static int keygen_op(struct hsm_signer *s, void *arg)
{
    struct keygen_arg *ka = arg;
    CK_MECHANISM mech = {CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_CLASS pub_cls = CKO_PUBLIC_KEY, priv_cls = CKO_PRIVATE_KEY;
    CK_KEY_TYPE kt = CKK_EC;
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_BYTE id[KEYGEN_ID_LEN];
    CK_OBJECT_HANDLE hpub = CK_INVALID_HANDLE, hpriv = CK_INVALID_HANDLE, found;
    CK_ULONG n = 0, label_len = strlen(ka->label);
    CK_RV rv;
    int rc;

    rv = hsm_find_objects(s, CKO_PRIVATE_KEY, 0, ka->label, NULL, 0, &found, 1, &n);
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEYGEN);
    }
    if (n != 0)
        return STI_EEXISTS;
    rv = s->f->C_GenerateRandom(s->sess, id, sizeof id);
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEYGEN);
    }

    CK_ATTRIBUTE pub[] = {
        {CKA_CLASS, &pub_cls, sizeof pub_cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &no, sizeof no},
        {CKA_VERIFY, &yes, sizeof yes},
        {CKA_VERIFY_RECOVER, &no, sizeof no},
        {CKA_ENCRYPT, &no, sizeof no},
        {CKA_WRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_EC_PARAMS, (void *)hsm_p256_params, sizeof hsm_p256_params},
        {CKA_LABEL, (void *)ka->label, label_len},
        {CKA_ID, id, sizeof id},
    };
    CK_ATTRIBUTE priv[] = {
        {CKA_CLASS, &priv_cls, sizeof priv_cls},
        {CKA_KEY_TYPE, &kt, sizeof kt},
        {CKA_TOKEN, &yes, sizeof yes},
        {CKA_PRIVATE, &yes, sizeof yes},
        {CKA_SENSITIVE, &yes, sizeof yes},
        {CKA_EXTRACTABLE, &no, sizeof no},
        {CKA_SIGN, &yes, sizeof yes},
        {CKA_SIGN_RECOVER, &no, sizeof no},
        {CKA_DECRYPT, &no, sizeof no},
        {CKA_UNWRAP, &no, sizeof no},
        {CKA_DERIVE, &no, sizeof no},
        {CKA_LABEL, (void *)ka->label, label_len},
        {CKA_ID, id, sizeof id},
    };
    rv = s->f->C_GenerateKeyPair(s->sess, &mech, pub, sizeof pub / sizeof pub[0], priv,
                                 sizeof priv / sizeof priv[0], &hpub, &hpriv);
    if (rv != CKR_OK) {
        s->last_rv = rv;
        rc = hsm_rv_map(rv, STI_EHSM_KEYGEN);
        /* "Key not found" would mislead: nothing was being looked up. */
        return rc == STI_EHSM_KEY ? STI_EHSM_KEYGEN : rc;
    }
    rc = hsm_read_ec_point(s, hpub, ka->point);
    if (rc != STI_OK) {
        /* A pair we cannot read back is no use: do not leave it behind. */
        s->f->C_DestroyObject(s->sess, hpriv);
        s->f->C_DestroyObject(s->sess, hpub);
        return rc == STI_EPKI_KEYTYPE ? STI_EHSM_KEYGEN : rc;
    }
    memcpy(ka->id, id, sizeof id);
    *ka->id_len = sizeof id;
    return STI_OK;
}

int hsm_signer_keygen(struct hsm_signer *s, const char *label, uint8_t id[HSM_ID_MAX],
                      size_t *id_len, uint8_t point[HSM_EC_POINT_LEN])
{
    if (!s || !label || !*label || !id || !id_len || !point)
        return STI_EINVAL;
    if (strlen(label) > HSM_OBJLABEL_MAX)
        return STI_ETOOLONG;
    struct keygen_arg a = {label, id, id_len, point};
    int rc = hsm_signer_with_retry(s, keygen_op, &a);
    /* A selector allowed to be missing at open may name this new key. */
    if (rc == STI_OK)
        (void)hsm_signer_find_keys(s, 1);
    return rc;
}
