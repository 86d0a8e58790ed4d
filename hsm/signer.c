/*
 * signer.c — one logged-in session with cached key handles: open, reopen
 * after the token drops the session, sign (the hot path), public key, key
 * attributes, key listing.
 *
 * The sign path allocates nothing and searches nothing: C_SignInit on the
 * cached handle, C_Sign into the caller's 64 bytes.
 */
#include "hsm_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

#include "sti_err.h"

CK_RV hsm_find_objects(struct hsm_signer *s, CK_OBJECT_CLASS cls, int ec, const char *label,
                       const uint8_t *id, size_t id_len, CK_OBJECT_HANDLE *h, CK_ULONG max,
                       CK_ULONG *n)
{
    CK_KEY_TYPE kt = CKK_EC;
    CK_BBOOL on_token = CK_TRUE;
    CK_ATTRIBUTE t[5];
    CK_ULONG nt = 0, got = 0;
    CK_RV rv, rv2;

    t[nt++] = (CK_ATTRIBUTE){CKA_CLASS, &cls, sizeof cls};
    /* Token objects only: session objects (our own session copies, which
     * every session of this process sees) are not keys of the token. */
    t[nt++] = (CK_ATTRIBUTE){CKA_TOKEN, &on_token, sizeof on_token};
    if (ec)
        t[nt++] = (CK_ATTRIBUTE){CKA_KEY_TYPE, &kt, sizeof kt};
    if (label && *label)
        t[nt++] = (CK_ATTRIBUTE){CKA_LABEL, (void *)label, strlen(label)};
    if (id && id_len)
        t[nt++] = (CK_ATTRIBUTE){CKA_ID, (void *)id, id_len};

    *n = 0;
    rv = s->f->C_FindObjectsInit(s->sess, t, nt);
    if (rv != CKR_OK)
        return rv;
    /* A token may hand out fewer objects per call than asked for. */
    while (got < max) {
        CK_ULONG k = 0;
        rv = s->f->C_FindObjects(s->sess, h + got, max - got, &k);
        if (rv != CKR_OK || k == 0)
            break;
        got += k;
    }
    rv2 = s->f->C_FindObjectsFinal(s->sess);
    *n = got;
    return rv != CKR_OK ? rv : rv2;
}

/* CKA_EC_PARAMS must be the prime256v1 OID. */
static int key_is_p256(struct hsm_signer *s, CK_OBJECT_HANDLE h)
{
    CK_BYTE params[64];
    CK_ATTRIBUTE a = {CKA_EC_PARAMS, params, sizeof params};
    CK_RV rv = s->f->C_GetAttributeValue(s->sess, h, &a, 1);

    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL)
        return STI_EPKI_KEYTYPE;
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEY);
    }
    if (a.ulValueLen != sizeof hsm_p256_params ||
        memcmp(params, hsm_p256_params, sizeof hsm_p256_params) != 0)
        return STI_EPKI_KEYTYPE;
    return STI_OK;
}

int hsm_signer_find_keys(struct hsm_signer *s, int allow_missing)
{
    for (size_t i = 0; i < s->nkeys; i++) {
        CK_OBJECT_HANDLE h[2];
        CK_ULONG n = 0;
        int rc;

        if (s->h[i] != CK_INVALID_HANDLE)
            continue;
        CK_RV rv = hsm_find_objects(s, CKO_PRIVATE_KEY, 1, s->keys[i].label, s->keys[i].id,
                                    s->keys[i].id_len, h, 2, &n);
        if (rv != CKR_OK) {
            s->last_rv = rv;
            return hsm_rv_map(rv, STI_EHSM_KEY);
        }
        if (n == 0 && allow_missing)
            continue;
        if (n != 1)
            return STI_EHSM_KEY; /* missing, or ambiguous */
        if ((rc = key_is_p256(s, h[0])) != STI_OK)
            return rc;
        s->h[i] = s->sign_h[i] = h[0];
    }
    return STI_OK;
}

/* A session-object copy of every key found, when asked for; the token's
 * own object signs for a key the token will not copy. */
static void session_copy_keys(struct hsm_signer *s)
{
    s->ncopies = 0;
    for (size_t i = 0; i < s->nkeys; i++) {
        s->sign_h[i] = s->h[i];
        if (!(s->flags & HSM_OPEN_SESSION_COPY) || s->h[i] == CK_INVALID_HANDLE)
            continue;
        CK_BBOOL no = CK_FALSE;
        CK_ATTRIBUTE t[1] = {{CKA_TOKEN, &no, sizeof no}};
        CK_OBJECT_HANDLE c = CK_INVALID_HANDLE;
        if (s->f->C_CopyObject(s->sess, s->h[i], t, 1, &c) == CKR_OK && c != CK_INVALID_HANDLE) {
            s->sign_h[i] = c;
            s->ncopies++;
        }
    }
}

/* Find the token, open a session, log in, find the keys. On failure the
 * signer is left without a session; the next call tries again. */
static int session_open(struct hsm_signer *s)
{
    CK_RV rv;
    int rc;

    for (size_t i = 0; i < s->nkeys; i++)
        s->h[i] = s->sign_h[i] = CK_INVALID_HANDLE;
    s->ncopies = 0;
    s->sess = CK_INVALID_HANDLE;
    /* Retrying a PIN the token refused would only count down to a locked
     * token. */
    if (s->pin_refused)
        return STI_EHSM_LOGIN;
    /* The slot id can change when a token is re-inserted: look it up. */
    if ((rc = hsm_find_slot(s->m, &s->tok, &s->slot)) != STI_OK)
        return rc;
    rv = s->f->C_OpenSession(s->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &s->sess);
    if (rv != CKR_OK) {
        s->sess = CK_INVALID_HANDLE;
        return hsm_rv_map(rv, STI_EHSM_SESSION);
    }
    rv = s->f->C_Login(s->sess, CKU_USER, (CK_UTF8CHAR_PTR)s->pin, s->pin_len);
    /* Login state belongs to the application, not the session: a second
     * signer on the same token finds it already logged in. */
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
            s->pin_refused = 1;
        rc = hsm_rv_map(rv, STI_EHSM_LOGIN);
        if (rc == STI_EHSM_SESSION || rc == STI_EHSM_KEY)
            rc = STI_EHSM_LOGIN;
        goto fail;
    }
    if ((rc = hsm_signer_find_keys(s, (s->flags & HSM_OPEN_ALLOW_MISSING) != 0)) != STI_OK)
        goto fail;
    session_copy_keys(s);
    return STI_OK;
fail:
    s->f->C_CloseSession(s->sess);
    s->sess = CK_INVALID_HANDLE;
    for (size_t i = 0; i < s->nkeys; i++)
        s->h[i] = s->sign_h[i] = CK_INVALID_HANDLE;
    return rc;
}

/* SoftHSM2 can report its token absent or broken (CKR_GENERAL_ERROR from
 * C_GetTokenInfo) while another process is initialising or reopening on the
 * same token files; a few short retries ride that out. Only "no token",
 * "session" and "device" failures are retried: a refused PIN never (real
 * tokens lock after a few wrong tries), a missing key never. */
static int session_open_retry(struct hsm_signer *s, unsigned attempts)
{
    int rc;
    for (unsigned attempt = 0;; attempt++) {
        rc = session_open(s);
        if ((rc != STI_EHSM_TOKEN && rc != STI_EHSM_SESSION && rc != STI_EHSM_DEVICE) ||
            attempt + 1 >= attempts)
            return rc;
        struct timespec ts = {0, (s->sess_ever_open ? 1000000L : 10000000L) << attempt};
        nanosleep(&ts, NULL);
    }
}

static long long signer_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define HSM_REOPEN_BACKOFF_MS 50

static int session_reopen(struct hsm_signer *s)
{
    long long now = signer_now_ms();
    if (s->reopen_rc && now < s->reopen_after_ms)
        return s->reopen_rc;
    if (s->sess != CK_INVALID_HANDLE)
        s->f->C_CloseSession(s->sess); /* most likely gone already */
    /* Few and short retries here (3 ms at most): a request is waiting. A
     * token that stays gone is then refused at once for a moment. */
    int rc = session_open_retry(s, 3);
    if (rc == STI_OK) {
        s->reopens++;
        s->reopen_rc = 0;
    } else {
        s->reopen_rc = rc;
        s->reopen_after_ms = signer_now_ms() + HSM_REOPEN_BACKOFF_MS;
    }
    return rc;
}

int hsm_signer_with_retry(struct hsm_signer *s, int (*op)(struct hsm_signer *, void *), void *arg)
{
    int rc;

    if (s->sess == CK_INVALID_HANDLE && (rc = session_reopen(s)) != STI_OK)
        return rc;
    s->last_rv = CKR_OK;
    rc = op(s, arg);
    if (rc == STI_OK || !hsm_rv_session_lost(s->last_rv))
        return rc;
    if ((rc = session_reopen(s)) != STI_OK)
        return rc;
    s->last_rv = CKR_OK;
    return op(s, arg);
}

int hsm_signer_open_flags(struct hsm_module *m, const struct hsm_token_sel *tok, const char *pin,
                          size_t pin_len, const struct hsm_key_sel *keys, size_t nkeys,
                          unsigned flags, struct hsm_signer **out)
{
    struct hsm_signer *s = NULL;
    int rc = STI_OK;

    if (!m || !pin || pin_len == 0 || !out || (nkeys && !keys))
        return STI_EINVAL;
    *out = NULL;
    if (pin_len > HSM_PIN_MAX)
        return STI_ETOOLONG;
    if (nkeys > HSM_MAX_KEYS)
        return STI_ETOOMANY;
    for (size_t i = 0; i < nkeys; i++) {
        if (!keys[i].label[0] && keys[i].id_len == 0)
            return STI_EINVAL;
        if (keys[i].id_len > HSM_ID_MAX || memchr(keys[i].label, 0, sizeof keys[i].label) == NULL)
            return STI_EINVAL;
    }

    s = calloc(1, sizeof *s);
    if (!s)
        return STI_ENOMEM;
    hsm_module_ref(m);
    s->m = m;
    s->f = hsm_module_fl(m);
    s->sess = CK_INVALID_HANDLE;
    s->flags = flags;
    if (tok)
        s->tok = *tok;
    s->nkeys = nkeys;
    if (nkeys)
        memcpy(s->keys, keys, nkeys * sizeof *keys);

    /* The PIN gets a page of its own: mlock() works on whole pages, and
     * munlock() at close must not unlock someone else's secret. */
    long page = sysconf(_SC_PAGESIZE);
    s->pin_page = page > 0 ? (size_t)page : 4096;
    void *p = NULL;
    STI_CHECK(posix_memalign(&p, s->pin_page, s->pin_page) == 0, STI_ENOMEM);
    s->pin = p;
    s->pin_locked = mlock(s->pin, s->pin_page) == 0; /* best effort: RLIMIT_MEMLOCK */
#ifdef MADV_DONTDUMP
    madvise(s->pin, s->pin_page, MADV_DONTDUMP);
#endif
    memcpy(s->pin, pin, pin_len);
    s->pin_len = pin_len;

    STI_TRY(session_open_retry(s, 6)); /* up to 630 ms at start */
    s->sess_ever_open = 1;
    *out = s;
    s = NULL;
out:
    hsm_signer_close(s);
    return rc;
}

int hsm_signer_open(struct hsm_module *m, const struct hsm_token_sel *tok, const char *pin,
                    size_t pin_len, const struct hsm_key_sel *keys, size_t nkeys,
                    struct hsm_signer **out)
{
    return hsm_signer_open_flags(m, tok, pin, pin_len, keys, nkeys, 0, out);
}

size_t hsm_signer_copies(const struct hsm_signer *s)
{
    return s ? s->ncopies : 0;
}

void hsm_signer_close(struct hsm_signer *s)
{
    if (!s)
        return;
    /* No C_Logout: the login is shared by every session this process has
     * on the token, so logging out would strand the other signers. The
     * token logs out by itself when the last session closes. */
    if (s->sess != CK_INVALID_HANDLE)
        s->f->C_CloseSession(s->sess);
    if (s->pin) {
        hsm_wipe(s->pin, s->pin_page);
        if (s->pin_locked)
            munlock(s->pin, s->pin_page);
        free(s->pin);
    }
    hsm_module_unload(s->m);
    hsm_wipe(s, sizeof *s);
    free(s);
}

struct sign_arg {
    size_t k;
    const uint8_t *digest;
    uint8_t *sig;
};

static int sign_op(struct hsm_signer *s, void *arg)
{
    struct sign_arg *a = arg;
    CK_MECHANISM mech = {CKM_ECDSA, NULL, 0};
    CK_OBJECT_HANDLE h = s->sign_h[a->k];
    CK_ULONG len = HSM_SIG_LEN;
    CK_RV rv;

    if (h == CK_INVALID_HANDLE)
        return STI_EHSM_KEY; /* allowed missing at open; not a session loss */
    rv = s->f->C_SignInit(s->sess, &mech, h);
    if (rv == CKR_OK)
        rv = s->f->C_Sign(s->sess, (CK_BYTE_PTR)a->digest, 32, a->sig, &len);
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_SIGN);
    }
    return len == HSM_SIG_LEN ? STI_OK : STI_EHSM_SIGN;
}

int hsm_signer_sign(struct hsm_signer *s, size_t k, const uint8_t digest[32],
                    uint8_t sig[HSM_SIG_LEN])
{
    if (!s || !digest || !sig || k >= s->nkeys)
        return STI_EINVAL;
    struct sign_arg a = {k, digest, sig};
    return hsm_signer_with_retry(s, sign_op, &a);
}

int hsm_read_ec_point(struct hsm_signer *s, CK_OBJECT_HANDLE h, uint8_t point[HSM_EC_POINT_LEN])
{
    CK_BYTE buf[HSM_EC_POINT_LEN + 8];
    CK_ATTRIBUTE a = {CKA_EC_POINT, buf, sizeof buf};
    CK_RV rv = s->f->C_GetAttributeValue(s->sess, h, &a, 1);
    const CK_BYTE *p = buf;

    if (rv == CKR_ATTRIBUTE_TYPE_INVALID || rv == CKR_BUFFER_TOO_SMALL)
        return STI_EPKI_KEYTYPE;
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEY);
    }
    /* PKCS#11 says DER OCTET STRING (04 41 04 X Y); some tokens return the
     * bare point. */
    if (a.ulValueLen == HSM_EC_POINT_LEN + 2 && buf[0] == 0x04 && buf[1] == HSM_EC_POINT_LEN)
        p = buf + 2;
    else if (a.ulValueLen != HSM_EC_POINT_LEN)
        return STI_EPKI_KEYTYPE;
    if (p[0] != 0x04)
        return STI_EPKI_KEYTYPE;
    memcpy(point, p, HSM_EC_POINT_LEN);
    return STI_OK;
}

struct pubkey_arg {
    size_t k;
    uint8_t *point;
};

static int pubkey_op(struct hsm_signer *s, void *arg)
{
    struct pubkey_arg *pa = arg;
    CK_OBJECT_HANDLE h = s->h[pa->k], pub[2];
    CK_BYTE id[HSM_ID_MAX];
    char label[HSM_OBJLABEL_MAX + 1];
    CK_ATTRIBUTE a[2] = {{CKA_ID, id, sizeof id}, {CKA_LABEL, label, HSM_OBJLABEL_MAX}};
    CK_ULONG n = 0;
    CK_RV rv;

    if (h == CK_INVALID_HANDLE)
        return STI_EHSM_KEY;
    /* The selector may name the key by label only or id only: take both
     * from the private key itself. */
    rv = s->f->C_GetAttributeValue(s->sess, h, a, 2);
    if (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEY);
    }
    size_t id_len = a[0].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : a[0].ulValueLen;
    size_t lab_len = a[1].ulValueLen == CK_UNAVAILABLE_INFORMATION ? 0 : a[1].ulValueLen;
    label[lab_len] = '\0';

    if (id_len) {
        rv = hsm_find_objects(s, CKO_PUBLIC_KEY, 1, NULL, id, id_len, pub, 2, &n);
        if (rv != CKR_OK) {
            s->last_rv = rv;
            return hsm_rv_map(rv, STI_EHSM_KEY);
        }
    }
    if (n == 0 && lab_len) {
        rv = hsm_find_objects(s, CKO_PUBLIC_KEY, 1, label, NULL, 0, pub, 2, &n);
        if (rv != CKR_OK) {
            s->last_rv = rv;
            return hsm_rv_map(rv, STI_EHSM_KEY);
        }
    }
    if (n != 1)
        return STI_EHSM_KEY;
    return hsm_read_ec_point(s, pub[0], pa->point);
}

int hsm_signer_pubkey(struct hsm_signer *s, size_t k, uint8_t point[HSM_EC_POINT_LEN])
{
    if (!s || !point || k >= s->nkeys)
        return STI_EINVAL;
    struct pubkey_arg a = {k, point};
    return hsm_signer_with_retry(s, pubkey_op, &a);
}

struct attrs_arg {
    size_t k;
    struct hsm_key_attrs *out;
    int signing; /* the object that signs, not the token's */
};

static int attrs_op(struct hsm_signer *s, void *arg)
{
    struct attrs_arg *aa = arg;
    CK_OBJECT_HANDLE h = aa->signing ? s->sign_h[aa->k] : s->h[aa->k];
    CK_BBOOL v[9];
    static const CK_ATTRIBUTE_TYPE types[9] = {
        CKA_SENSITIVE, CKA_EXTRACTABLE,      CKA_PRIVATE,           CKA_SIGN, CKA_DERIVE,
        CKA_DECRYPT,   CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_TOKEN};
    CK_ATTRIBUTE a[9];
    int *dst[9] = {&aa->out->sensitive,
                   &aa->out->extractable,
                   &aa->out->priv,
                   &aa->out->sign,
                   &aa->out->derive,
                   &aa->out->decrypt,
                   &aa->out->always_sensitive,
                   &aa->out->never_extractable,
                   &aa->out->token_object};

    if (h == CK_INVALID_HANDLE)
        return STI_EHSM_KEY;
    for (int i = 0; i < 9; i++) {
        v[i] = CK_FALSE;
        a[i] = (CK_ATTRIBUTE){types[i], &v[i], sizeof v[i]};
    }
    CK_RV rv = s->f->C_GetAttributeValue(s->sess, h, a, 9);
    if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEY);
    }
    /* An attribute the token does not have reads as 0. */
    for (int i = 0; i < 9; i++)
        *dst[i] = a[i].ulValueLen == sizeof v[i] && v[i] == CK_TRUE;
    return STI_OK;
}

int hsm_signer_key_attrs(struct hsm_signer *s, size_t k, struct hsm_key_attrs *out)
{
    if (!s || !out || k >= s->nkeys)
        return STI_EINVAL;
    memset(out, 0, sizeof *out);
    struct attrs_arg a = {k, out, 0};
    return hsm_signer_with_retry(s, attrs_op, &a);
}

int hsm_signer_signing_key_attrs(struct hsm_signer *s, size_t k, struct hsm_key_attrs *out)
{
    if (!s || !out || k >= s->nkeys)
        return STI_EINVAL;
    memset(out, 0, sizeof *out);
    struct attrs_arg a = {k, out, 1};
    return hsm_signer_with_retry(s, attrs_op, &a);
}

struct list_arg {
    struct hsm_key_info *out;
    size_t max, *n;
};

static int list_op(struct hsm_signer *s, void *arg)
{
    struct list_arg *la = arg;
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_BBOOL on_token = CK_TRUE; /* not session copies */
    CK_ATTRIBUTE t[2] = {{CKA_CLASS, &cls, sizeof cls}, {CKA_TOKEN, &on_token, sizeof on_token}};
    CK_OBJECT_HANDLE *h = NULL;
    CK_ULONG nh = 0, cap = 0;
    CK_RV rv, rv2;
    int rc = STI_OK;

    *la->n = 0;
    rv = s->f->C_FindObjectsInit(s->sess, t, 2);
    if (rv != CKR_OK) {
        s->last_rv = rv;
        return hsm_rv_map(rv, STI_EHSM_KEY);
    }
    /* Collect first, read attributes after C_FindObjectsFinal: some tokens
     * do not like other object calls during a search. */
    for (;;) {
        if (nh == cap) {
            CK_ULONG ncap = cap ? cap * 2 : 16;
            CK_OBJECT_HANDLE *nhp = realloc(h, ncap * sizeof *h);
            if (!nhp) {
                rc = STI_ENOMEM;
                break;
            }
            h = nhp;
            cap = ncap;
        }
        CK_ULONG k = 0;
        rv = s->f->C_FindObjects(s->sess, h + nh, cap - nh, &k);
        if (rv != CKR_OK || k == 0)
            break;
        nh += k;
    }
    rv2 = s->f->C_FindObjectsFinal(s->sess);
    if (rv == CKR_OK)
        rv = rv2;
    if (rc == STI_OK && rv != CKR_OK) {
        s->last_rv = rv;
        rc = hsm_rv_map(rv, STI_EHSM_KEY);
    }
    for (CK_ULONG i = 0; rc == STI_OK && i < nh && *la->n < la->max; i++) {
        struct hsm_key_info *ki = &la->out[*la->n];
        CK_UTF8CHAR label[256];
        CK_BYTE id[256], params[64];
        CK_KEY_TYPE kt = (CK_KEY_TYPE)-1;
        CK_ATTRIBUTE a[4] = {{CKA_LABEL, label, sizeof label},
                             {CKA_ID, id, sizeof id},
                             {CKA_KEY_TYPE, &kt, sizeof kt},
                             {CKA_EC_PARAMS, params, sizeof params}};
        rv = s->f->C_GetAttributeValue(s->sess, h[i], a, 4);
        if (rv == CKR_OBJECT_HANDLE_INVALID)
            continue; /* deleted since the search */
        if (rv != CKR_OK && rv != CKR_ATTRIBUTE_TYPE_INVALID && rv != CKR_BUFFER_TOO_SMALL &&
            rv != CKR_ATTRIBUTE_SENSITIVE) {
            s->last_rv = rv;
            rc = hsm_rv_map(rv, STI_EHSM_KEY);
            break;
        }
        memset(ki, 0, sizeof *ki);
        if (a[0].ulValueLen != CK_UNAVAILABLE_INFORMATION) {
            /* Longer labels are cut for display; select such keys by id. */
            size_t ll = a[0].ulValueLen < HSM_OBJLABEL_MAX ? a[0].ulValueLen : HSM_OBJLABEL_MAX;
            memcpy(ki->label, label, ll);
            ki->label[ll] = '\0';
        }
        if (a[1].ulValueLen != CK_UNAVAILABLE_INFORMATION) {
            ki->id_len = a[1].ulValueLen < HSM_ID_MAX ? a[1].ulValueLen : HSM_ID_MAX;
            memcpy(ki->id, id, ki->id_len);
        }
        ki->is_ec_p256 = a[2].ulValueLen == sizeof kt && kt == CKK_EC &&
                         a[3].ulValueLen == sizeof hsm_p256_params &&
                         memcmp(params, hsm_p256_params, sizeof hsm_p256_params) == 0;
        (*la->n)++;
    }
    if (rc == STI_OK && *la->n < nh && *la->n == la->max)
        rc = STI_ETOOMANY;
    free(h);
    return rc;
}

int hsm_signer_list_keys(struct hsm_signer *s, struct hsm_key_info *out, size_t max, size_t *n)
{
    if (!s || (!out && max) || !n)
        return STI_EINVAL;
    struct list_arg a = {out, max, n};
    return hsm_signer_with_retry(s, list_op, &a);
}

unsigned long hsm_signer_reopens(const struct hsm_signer *s)
{
    return s ? s->reopens : 0;
}

int hsm_signer_test_drop_session(struct hsm_signer *s)
{
    if (!s)
        return STI_EINVAL;
    return hsm_rv_map(s->f->C_CloseAllSessions(s->slot), STI_EHSM_SESSION);
}

int hsm_signer_test_probe_value(struct hsm_signer *s, size_t k, unsigned long *ckr)
{
    CK_BYTE buf[128];
    if (!s || !ckr || k >= s->nkeys || s->h[k] == CK_INVALID_HANDLE)
        return STI_EINVAL;
    CK_ATTRIBUTE a = {CKA_VALUE, buf, sizeof buf};
    *ckr = s->f->C_GetAttributeValue(s->sess, s->h[k], &a, 1);
    if (*ckr != CKR_OK && s->sign_h[k] != s->h[k] && s->sign_h[k] != CK_INVALID_HANDLE) {
        a.ulValueLen = sizeof buf;
        CK_RV rv = s->f->C_GetAttributeValue(s->sess, s->sign_h[k], &a, 1);
        if (rv == CKR_OK)
            *ckr = rv;
    }
    hsm_wipe(buf, sizeof buf);
    return STI_OK;
}
