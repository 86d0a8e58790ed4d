/*
 * hsm.h — the PKCS#11 layer. The only code in stisign that includes
 * pkcs11.h; everything above sees opaque handles and STI_E* codes.
 *
 * Conventions:
 *  - struct hsm_module is one loaded module (dlopen + C_GetFunctionList +
 *    C_Initialize with OS locking). Loading the same path twice in one process
 *    returns the same object with a reference count; C_Finalize runs when the
 *    last reference goes. A process that forks must not use the parent's
 *    module in the child (PKCS#11 requires a fresh C_Initialize).
 *  - struct hsm_signer is one logged-in session plus the key handles found
 *    once at open. It is used by exactly one thread at a time. It keeps a
 *    copy of the PIN (locked in memory, wiped on close) so that it can reopen
 *    and log in again after the token drops the session.
 *  - PINs are never logged and never passed on argv or in the environment;
 *    hsm_pin_read refuses files readable by group or others.
 *  - Private keys are generated on the token, sensitive, non-extractable,
 *    sign-only; no function here reads CKA_VALUE or exports a private key.
 */
#ifndef STI_HSM_H
#define STI_HSM_H

#include <stddef.h>
#include <stdint.h>

#define HSM_LABEL_MAX 32 /* CK_TOKEN_INFO label width */
#define HSM_SERIAL_MAX 16
#define HSM_OBJLABEL_MAX 64
#define HSM_ID_MAX 32
#define HSM_PIN_MAX 64
#define HSM_EC_POINT_LEN 65 /* uncompressed P-256 point 04||X||Y */
#define HSM_SIG_LEN 64      /* raw r||s */
#define HSM_MAX_KEYS 32

struct hsm_module;
struct hsm_signer;

/* Which token: by label and/or serial (either may be empty = any). */
struct hsm_token_sel {
    char label[HSM_LABEL_MAX + 1];
    char serial[HSM_SERIAL_MAX + 1];
};

/* Which key: by object label and/or CKA_ID (at least one set). */
struct hsm_key_sel {
    char label[HSM_OBJLABEL_MAX + 1];
    uint8_t id[HSM_ID_MAX];
    size_t id_len;
};

/* "mytoken" (a token label) or an RFC 7512 URI
 * "pkcs11:token=mytoken;serial=...;object=key1;id=%01%02;type=private".
 * A URI may carry a key part; key may be NULL when the caller wants none.
 * pin-source/pin-value attributes are refused (STI_ECONFIG): the PIN comes
 * from a PIN file only. Percent-escapes are decoded. */
int hsm_uri_parse(const char *spec, struct hsm_token_sel *tok, struct hsm_key_sel *key);
/* A key selector from "label", or from a URI with object=/id=. */
int hsm_key_sel_parse(const char *spec, struct hsm_key_sel *key);

/* Reads a PIN file: must be a regular file owned by the caller's uid (or
 * root) with no group/other permission bits (0600 or 0400), else
 * STI_EPINFILE. One trailing newline is stripped. */
int hsm_pin_read(const char *path, char *pin, size_t cap, size_t *len);
/* Overwrite secret memory in a way the compiler cannot elide. */
void hsm_wipe(void *p, size_t n);

int hsm_module_load(const char *path, struct hsm_module **out);
void hsm_module_unload(struct hsm_module *m);

/* Finds the slot of the first present token matching sel. STI_EHSM_TOKEN. */
int hsm_find_slot(struct hsm_module *m, const struct hsm_token_sel *sel, unsigned long *slot);

/* Initialises the token in the first slot with an uninitialised token (or
 * the slot whose token matches label, re-initialising it), then sets the
 * user PIN. Used by provisioning and the demo; never on the hot path. */
int hsm_token_init(struct hsm_module *m, const char *label, const char *so_pin,
                   const char *user_pin);

/* Opens a R/W session on the token selected by tok, logs in as user, and
 * finds the private key handle of each of keys[0..nkeys) (nkeys may be 0).
 * A key that is not found is STI_EHSM_KEY unless allow_missing is set, in
 * which case its handle stays invalid and hsm_signer_sign on it fails. */
int hsm_signer_open(struct hsm_module *m, const struct hsm_token_sel *tok, const char *pin,
                    size_t pin_len, const struct hsm_key_sel *keys, size_t nkeys,
                    struct hsm_signer **out);
/* hsm_signer_open with flags; HSM_OPEN_ALLOW_MISSING is the allow_missing
 * above (hsm_signer_open passes 0). A key found on the token that is not
 * an EC P-256 key is STI_EPKI_KEYTYPE; a selector matching two keys is
 * STI_EHSM_KEY (ambiguous). */
#define HSM_OPEN_ALLOW_MISSING 1u
/* HSM_OPEN_SESSION_COPY: sign with a session-object copy of each key
 * (C_CopyObject with CKA_TOKEN false), made inside the token at every
 * session open and gone when the session closes. The copy keeps the key's
 * CKA_SENSITIVE and non-extractable attributes, so nothing leaves the
 * token; it spares a token that keeps its objects in files (SoftHSM2)
 * re-reading and locking the key's file on every C_SignInit. A token that
 * refuses the copy (CKA_COPYABLE false) signs with the token object. */
#define HSM_OPEN_SESSION_COPY 2u
int hsm_signer_open_flags(struct hsm_module *m, const struct hsm_token_sel *tok, const char *pin,
                          size_t pin_len, const struct hsm_key_sel *keys, size_t nkeys,
                          unsigned flags, struct hsm_signer **out);
/* How many keys sign from a session copy (HSM_OPEN_SESSION_COPY). */
size_t hsm_signer_copies(const struct hsm_signer *s);
void hsm_signer_close(struct hsm_signer *s);

/* CKM_ECDSA over a 32-byte digest with key index k -> raw 64-byte r||s.
 * When the token reports a lost session (CKR_SESSION_HANDLE_INVALID,
 * _CLOSED, CKR_DEVICE_REMOVED, CKR_TOKEN_NOT_PRESENT, CKR_DEVICE_ERROR,
 * CKR_USER_NOT_LOGGED_IN, ...) the signer reopens its session, logs in,
 * finds the key handles again and retries the request once. Codes:
 * STI_EHSM_SESSION/DEVICE/TOKEN/LOGIN/KEY/SIGN. */
int hsm_signer_sign(struct hsm_signer *s, size_t k, const uint8_t digest[32],
                    uint8_t sig[HSM_SIG_LEN]);

/* Public key of key index k as an uncompressed point, read from the public
 * key object with the same CKA_ID/label (CKA_EC_POINT, DER OCTET STRING
 * unwrapped). */
int hsm_signer_pubkey(struct hsm_signer *s, size_t k, uint8_t point[HSM_EC_POINT_LEN]);

/* Generates a P-256 key pair on the token: private CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, !CKA_EXTRACTABLE, CKA_SIGN only (no derive, decrypt,
 * unwrap); public CKA_VERIFY only. Label and a fresh random 16-byte CKA_ID
 * on both halves. STI_EEXISTS if a private key with that label exists.
 * Returns the public point and the id. */
int hsm_signer_keygen(struct hsm_signer *s, const char *label, uint8_t id[HSM_ID_MAX],
                      size_t *id_len, uint8_t point[HSM_EC_POINT_LEN]);

/* Attributes of a private key as the token reports them, for audits and
 * tests: sensitive, extractable, private, sign, derive, decrypt,
 * always_sensitive, never_extractable, token_object (each 0/1). */
struct hsm_key_attrs {
    int sensitive, extractable, priv, sign, derive, decrypt, always_sensitive, never_extractable;
    int token_object;
};
int hsm_signer_key_attrs(struct hsm_signer *s, size_t k, struct hsm_key_attrs *a);
/* The same for the object that signs for key k: its session copy
 * (HSM_OPEN_SESSION_COPY), else the key itself. */
int hsm_signer_signing_key_attrs(struct hsm_signer *s, size_t k, struct hsm_key_attrs *a);

/* Lists private keys on the token: labels and ids, up to max. */
struct hsm_key_info {
    char label[HSM_OBJLABEL_MAX + 1];
    uint8_t id[HSM_ID_MAX];
    size_t id_len;
    int is_ec_p256;
};
/* More than max keys: the first max are filled, *n = max, STI_ETOOMANY. */
int hsm_signer_list_keys(struct hsm_signer *s, struct hsm_key_info *out, size_t max, size_t *n);

/* Number of times the signer reopened its session since open (for status). */
unsigned long hsm_signer_reopens(const struct hsm_signer *s);

/* test hook: closes every session of the signer's slot behind its back
 * (C_CloseAllSessions on the module's function list), as a token reset
 * would. Tests only. */
int hsm_signer_test_drop_session(struct hsm_signer *s);
/* test hook: asks the token for CKA_VALUE of private key k, and of its
 * session copy if it has one, and reports the CK_RV in *ckr (CKR_OK if
 * either gave it; CKR_ATTRIBUTE_SENSITIVE = 0x11 expected); whatever the
 * token returned is wiped, never handed out. Tests only. */
int hsm_signer_test_probe_value(struct hsm_signer *s, size_t k, unsigned long *ckr);

#endif
