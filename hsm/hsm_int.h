/*
 * hsm_int.h — private to hsm/: the one place that includes pkcs11.h.
 *
 * Conventions: a struct hsm_module owns the dlopen handle and the function
 * list; every other file reaches the module through hsm_module_fl(). The
 * CK_RV -> STI_E* mapping lives in one function so that every caller reports
 * a lost token, a refused login or a missing key the same way.
 */
#ifndef STI_HSM_INT_H
#define STI_HSM_INT_H

#include <p11-kit/pkcs11.h>

#include "hsm.h"

/* module.c */
CK_FUNCTION_LIST_PTR hsm_module_fl(const struct hsm_module *m);
/* Takes one more reference (a signer holds its module). */
void hsm_module_ref(struct hsm_module *m);
/* STI_E* for a CK_RV; `fallback` for codes without a better class. */
int hsm_rv_map(CK_RV rv, int fallback);
/* 1 when rv means the session or its login went away (reopen and retry). */
int hsm_rv_session_lost(CK_RV rv);

/* token.c */
/* Copies a blank-padded CK_UTF8CHAR field into a C string without the pad. */
void hsm_fixed_to_str(const CK_UTF8CHAR *src, size_t srclen, char *dst, size_t dstcap);

/* signer.c — shared with keygen.c */
struct hsm_signer {
    struct hsm_module *m; /* one reference held */
    CK_FUNCTION_LIST_PTR f;
    struct hsm_token_sel tok;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE sess; /* CK_INVALID_HANDLE after a failed reopen */
    char *pin;              /* page of its own, mlock()ed when allowed */
    size_t pin_len, pin_page;
    int pin_locked;
    int pin_refused; /* the token refused the PIN: never retry the login */
    unsigned flags;
    size_t nkeys;
    struct hsm_key_sel keys[HSM_MAX_KEYS];
    CK_OBJECT_HANDLE h[HSM_MAX_KEYS];      /* the key on the token */
    CK_OBJECT_HANDLE sign_h[HSM_MAX_KEYS]; /* what signs: h, or its session copy */
    size_t ncopies;                        /* keys signing from a session copy */
    unsigned long reopens;
    CK_RV last_rv; /* of the last failing call, read by the retry logic */
    /* After a failed reopen, requests fail at once with reopen_rc until
     * this monotonic time: an absent token is refused quickly, not retried
     * per request. */
    long long reopen_after_ms;
    int reopen_rc;
    int sess_ever_open; /* retries after the first open are short */
};

/* Runs op; when it failed because the session went away, reopens and runs
 * it once more. op records its failing CK_RV in s->last_rv. */
int hsm_signer_with_retry(struct hsm_signer *s, int (*op)(struct hsm_signer *, void *), void *arg);
/* Finds objects of class cls (and key type EC when ec) by label and/or id:
 * up to max handles into h, the count into *n (capped at max). */
CK_RV hsm_find_objects(struct hsm_signer *s, CK_OBJECT_CLASS cls, int ec, const char *label,
                       const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *h, CK_ULONG max,
                       CK_ULONG *n);
/* Finds the private key of every selector whose handle is invalid. */
int hsm_signer_find_keys(struct hsm_signer *s, int allow_missing);

/* Reads CKA_EC_POINT of a public key object into an uncompressed point
 * (DER OCTET STRING unwrapped, raw accepted). STI_EPKI_KEYTYPE when it is
 * not a 65-byte point starting 0x04. */
int hsm_read_ec_point(struct hsm_signer *s, CK_OBJECT_HANDLE h, uint8_t point[HSM_EC_POINT_LEN]);

/* DER of the prime256v1 OID, the CKA_EC_PARAMS of every key we accept. */
extern const CK_BYTE hsm_p256_params[10];

#endif
