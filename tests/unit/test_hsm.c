/*
 * test_hsm.c — hsm/ against a real SoftHSM2 token in a temporary directory.
 *
 * One fixture for the whole run: a token directory with its softhsm2.conf
 * (SOFTHSM2_CONF is set before the module is first loaded), a token
 * "stitest" and a key "k1". Every signature a test receives is verified
 * with OpenSSL, because a token can return a wrong signature.
 *
 * The libp11 cases run last: libp11 runs its own C_Initialize/C_Finalize,
 * so the raw module is unloaded before them (see hsm_p11.h).
 */
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* nftw */
#endif
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "check.h"
#include "hsm.h"
#include "hsm_p11.h"
#include "sti_err.h"

#define TOKEN "stitest"
#define SO_PIN "so-secret-1"
#define USER_PIN "user-secret-1"
#define KEY1 "k1"

static struct {
    int dir_ready, token_ready;
    char dir[PATH_MAX];
    struct hsm_module *m;
    uint8_t point[HSM_EC_POINT_LEN]; /* of KEY1 */
    uint8_t id[HSM_ID_MAX];
    size_t id_len;
} fx;

static const char *module_path(void)
{
    const char *p = getenv("STI_TEST_MODULE");
    return p && *p ? p : "/usr/lib/softhsm/libsofthsm2.so";
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fx_cleanup(void)
{
    if (fx.m)
        hsm_module_unload(fx.m);
    fx.m = NULL;
    if (fx.dir_ready)
        nftw(fx.dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static int write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    size_t n = strlen(text);
    int ok = write(fd, text, n) == (ssize_t)n;
    ok = ok && fchmod(fd, mode) == 0;
    close(fd);
    return ok ? 0 : -1;
}

/* The token directory and config, created once per run. */
static int fx_dir(void)
{
    char conf[PATH_MAX + 32], tokens[PATH_MAX + 16], text[PATH_MAX + 128];
    const char *base = getenv("STI_TEST_TMP");

    if (fx.dir_ready)
        return 0;
    if (base && *base) {
        mkdir(base, 0700); /* CTest's tmp dir may not exist yet */
        snprintf(fx.dir, sizeof fx.dir, "%s/test_hsm.XXXXXX", base);
    } else {
        snprintf(fx.dir, sizeof fx.dir, "/tmp/test_hsm.XXXXXX");
    }
    if (!mkdtemp(fx.dir))
        return -1;
    fx.dir_ready = 1;
    atexit(fx_cleanup);
    snprintf(tokens, sizeof tokens, "%s/tokens", fx.dir);
    snprintf(conf, sizeof conf, "%s/softhsm2.conf", fx.dir);
    snprintf(text, sizeof text,
             "directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n", tokens);
    if (mkdir(tokens, 0700) != 0 || write_file(conf, text, 0600) != 0)
        return -1;
    /* Before the first C_Initialize: SoftHSM2 reads it there. */
    return setenv("SOFTHSM2_CONF", conf, 1);
}

static int fx_module(void)
{
    if (fx_dir() != 0)
        return -1;
    if (!fx.m && hsm_module_load(module_path(), &fx.m) != STI_OK)
        return -1;
    return 0;
}

static const struct hsm_token_sel *tok_sel(void)
{
    static struct hsm_token_sel t = {.label = TOKEN};
    return &t;
}

static struct hsm_key_sel key_label(const char *label)
{
    struct hsm_key_sel k;
    memset(&k, 0, sizeof k);
    snprintf(k.label, sizeof k.label, "%s", label);
    return k;
}

static int open_signer(const struct hsm_key_sel *keys, size_t n, struct hsm_signer **s)
{
    return hsm_signer_open(fx.m, tok_sel(), USER_PIN, strlen(USER_PIN), keys, n, s);
}

/* Module loaded, token initialised, KEY1 generated. */
static int fx_token(void)
{
    struct hsm_signer *s = NULL;

    if (fx_module() != 0)
        return -1;
    if (fx.token_ready)
        return 0;
    if (hsm_token_init(fx.m, TOKEN, SO_PIN, USER_PIN) != STI_OK)
        return -1;
    if (open_signer(NULL, 0, &s) != STI_OK)
        return -1;
    int rc = hsm_signer_keygen(s, KEY1, fx.id, &fx.id_len, fx.point);
    hsm_signer_close(s);
    if (rc != STI_OK)
        return -1;
    fx.token_ready = 1;
    return 0;
}

static EVP_PKEY *pkey_from_point(const uint8_t point[HSM_EC_POINT_LEN])
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"prime256v1", 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, (void *)point, HSM_EC_POINT_LEN),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *pk = NULL;
    if (c && EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(c);
    return pk;
}

/* 1 when raw r||s verifies over the digest. */
static int verify_raw(EVP_PKEY *pk, const uint8_t digest[32], const uint8_t sig[HSM_SIG_LEN])
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
    unsigned char *der = NULL;
    int ok = 0;

    if (!es || !r || !s || ECDSA_SIG_set0(es, r, s) != 1) {
        BN_free(r);
        BN_free(s);
        ECDSA_SIG_free(es);
        return 0;
    }
    int dl = i2d_ECDSA_SIG(es, &der);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    ok = dl > 0 && c && EVP_PKEY_verify_init(c) == 1 &&
         EVP_PKEY_verify(c, der, (size_t)dl, digest, 32) == 1;
    EVP_PKEY_CTX_free(c);
    OPENSSL_free(der);
    ECDSA_SIG_free(es);
    return ok;
}

static void make_path(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", fx.dir, name);
}

/* ---- PIN files ---- */

TEST(pin_file_mode_0644_is_refused)
{
    char path[PATH_MAX + 16], pin[HSM_PIN_MAX + 1];
    size_t len = 99;
    CHECK(fx_dir() == 0);
    make_path(path, sizeof path, "pin0644");
    CHECK(write_file(path, "1234\n", 0644) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_EPINFILE);
    CHECK_INT(len, 0);
    CHECK(write_file(path, "1234\n", 0640) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_EPINFILE);
}

TEST(pin_file_0600_strips_one_trailing_newline)
{
    char path[PATH_MAX + 16], pin[HSM_PIN_MAX + 1];
    size_t len = 0;
    CHECK(fx_dir() == 0);
    make_path(path, sizeof path, "pin0600");
    CHECK(write_file(path, "1234\n", 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_OK);
    CHECK_INT(len, 4);
    CHECK_STR(pin, "1234");
    CHECK(write_file(path, "ab cd\n\n", 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_OK);
    CHECK_INT(len, 6);
    CHECK_MEM(pin, "ab cd\n", 7);
    CHECK(write_file(path, "nonewline", 0400) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_OK);
    CHECK_STR(pin, "nonewline");
}

TEST(pin_file_bad_content_and_kinds_are_refused)
{
    char path[PATH_MAX + 16], pin[HSM_PIN_MAX + 1], big[HSM_PIN_MAX + 8];
    size_t len;
    CHECK(fx_dir() == 0);
    make_path(path, sizeof path, "pinbad");
    CHECK(write_file(path, "\n", 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_EPINFILE);
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(write_file(path, big, 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_ETOOLONG);
    CHECK(write_file(path, "12345678\n", 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, 8, &len), STI_ETOOLONG);            /* no room for NUL */
    CHECK_RC(hsm_pin_read(fx.dir, pin, sizeof pin, &len), STI_EPINFILE); /* directory */
    make_path(path, sizeof path, "no-such-pin");
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_EPINFILE);
    make_path(path, sizeof path, "pinfifo");
    CHECK(mkfifo(path, 0600) == 0);
    CHECK_RC(hsm_pin_read(path, pin, sizeof pin, &len), STI_EPINFILE); /* and no hang */
}

TEST(wipe_clears_memory)
{
    unsigned char b[16];
    memset(b, 0xa5, sizeof b);
    hsm_wipe(b, sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        CHECK_INT(b[i], 0);
}

/* ---- module and token ---- */

TEST(module_load_bad_path_is_ehsm_module)
{
    struct hsm_module *m = (struct hsm_module *)1;
    CHECK_RC(hsm_module_load("/nonexistent/libnothing.so", &m), STI_EHSM_MODULE);
    CHECK(m == NULL);
    /* A library that is not a PKCS#11 module. */
    CHECK_RC(hsm_module_load("/lib/x86_64-linux-gnu/libz.so.1", &m), STI_EHSM_MODULE);
}

TEST(module_loaded_twice_is_one_object)
{
    struct hsm_module *m2 = NULL;
    char real[PATH_MAX];
    CHECK(fx_module() == 0);
    CHECK(realpath(module_path(), real) != NULL);
    CHECK_RC(hsm_module_load(real, &m2), STI_OK); /* other spelling, same library */
    CHECK(m2 == fx.m);
    hsm_module_unload(m2);
}

TEST(token_init_then_found_by_label)
{
    unsigned long slot = 0;
    CHECK(fx_token() == 0);
    CHECK_RC(hsm_find_slot(fx.m, tok_sel(), &slot), STI_OK);
    struct hsm_token_sel none = {.label = "no-such-token"};
    CHECK_RC(hsm_find_slot(fx.m, &none, &slot), STI_EHSM_TOKEN);
    struct hsm_token_sel wrong_serial = {.label = TOKEN, .serial = "0000000000000000"};
    CHECK_RC(hsm_find_slot(fx.m, &wrong_serial, &slot), STI_EHSM_TOKEN);
    CHECK_RC(hsm_token_init(fx.m, "a-label-that-is-longer-than-32-bytes", SO_PIN, USER_PIN),
             STI_ETOOLONG);
}

/* ---- signer ---- */

TEST(keygen_returns_uncompressed_point_and_pubkey_agrees)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    uint8_t pt[HSM_EC_POINT_LEN];
    CHECK(fx_token() == 0);
    CHECK_INT(fx.point[0], 0x04);
    CHECK_INT(fx.id_len, 16);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    int rc = hsm_signer_pubkey(s, 0, pt);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_OK);
    CHECK_MEM(pt, fx.point, sizeof pt);
    EVP_PKEY *pk = pkey_from_point(pt);
    CHECK(pk != NULL); /* on the curve */
    EVP_PKEY_free(pk);
}

TEST(keygen_duplicate_label_is_eexists)
{
    struct hsm_signer *s = NULL;
    uint8_t id[HSM_ID_MAX], pt[HSM_EC_POINT_LEN];
    size_t id_len = 0;
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(NULL, 0, &s), STI_OK);
    int rc = hsm_signer_keygen(s, KEY1, id, &id_len, pt);
    int rc2 = hsm_signer_keygen(s, "", id, &id_len, pt);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_EEXISTS);
    CHECK_RC(rc2, STI_EINVAL);
}

TEST(sign_200_digests_all_verify_with_openssl)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    uint8_t dg[32], sig[HSM_SIG_LEN];
    int bad = 0, rc = STI_OK;
    CHECK(fx_token() == 0);
    EVP_PKEY *pk = pkey_from_point(fx.point);
    CHECK(pk != NULL);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    for (int i = 0; i < 200 && rc == STI_OK; i++) {
        CHECK(RAND_bytes(dg, sizeof dg) == 1);
        rc = hsm_signer_sign(s, 0, dg, sig);
        if (rc == STI_OK && !verify_raw(pk, dg, sig))
            bad++;
    }
    /* The check must be able to fail: a changed digest does not verify. */
    dg[0] ^= 1;
    int forged = verify_raw(pk, dg, sig);
    hsm_signer_close(s);
    EVP_PKEY_free(pk);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(bad, 0);
    CHECK_INT(forged, 0);
}

static size_t count_private_keys(void)
{
    struct hsm_signer *s = NULL;
    struct hsm_key_info ki[HSM_MAX_KEYS];
    size_t n = 0;
    if (open_signer(NULL, 0, &s) != STI_OK)
        return (size_t)-1;
    int rc = hsm_signer_list_keys(s, ki, HSM_MAX_KEYS, &n);
    hsm_signer_close(s);
    return rc == STI_OK ? n : (size_t)-1;
}

TEST(session_copy_signs_stays_sensitive_and_never_reaches_the_token)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    uint8_t dg[32], sig[HSM_SIG_LEN];
    int bad = 0, rc = STI_OK;
    CHECK(fx_token() == 0);
    size_t before = count_private_keys();
    EVP_PKEY *pk = pkey_from_point(fx.point);
    CHECK(pk != NULL);
    CHECK_RC(hsm_signer_open_flags(fx.m, tok_sel(), USER_PIN, strlen(USER_PIN), &k, 1,
                                   HSM_OPEN_SESSION_COPY, &s),
             STI_OK);
    size_t copies = hsm_signer_copies(s);
    /* The copy is as sensitive as the key it came from. */
    struct hsm_key_attrs ka, ta;
    int arv = hsm_signer_signing_key_attrs(s, 0, &ka);
    int trv = hsm_signer_key_attrs(s, 0, &ta);
    unsigned long vrv = 0;
    int prv = hsm_signer_test_probe_value(s, 0, &vrv);
    for (int i = 0; i < 50 && rc == STI_OK; i++) {
        CHECK(RAND_bytes(dg, sizeof dg) == 1);
        rc = hsm_signer_sign(s, 0, dg, sig);
        if (rc == STI_OK && !verify_raw(pk, dg, sig))
            bad++;
    }
    size_t during = count_private_keys();
    /* A lost session takes its copy along; the reopen makes a new one. */
    int rcd = hsm_signer_test_drop_session(s);
    SHA256((const unsigned char *)"after", 5, dg);
    int rc2 = hsm_signer_sign(s, 0, dg, sig);
    int ok2 = rc2 == STI_OK && verify_raw(pk, dg, sig);
    size_t copies2 = hsm_signer_copies(s);
    hsm_signer_close(s);
    size_t after = count_private_keys();
    EVP_PKEY_free(pk);
    CHECK_INT(copies, 1);
    CHECK_RC(arv, STI_OK);
    CHECK_RC(trv, STI_OK);
    CHECK_INT(ka.token_object, 0);
    CHECK_INT(ta.token_object, 1);
    CHECK_INT(ka.sensitive, 1);
    CHECK_INT(ka.extractable, 0);
    CHECK_INT(ka.sign, 1);
    CHECK_RC(prv, STI_OK);
    CHECK_INT(vrv, 0x11); /* CKR_ATTRIBUTE_SENSITIVE */
    CHECK_RC(rc, STI_OK);
    CHECK_INT(bad, 0);
    CHECK(before != (size_t)-1);
    CHECK_INT(during, before);
    CHECK_INT(after, before);
    CHECK_RC(rcd, STI_OK);
    CHECK_RC(rc2, STI_OK);
    CHECK(ok2);
    CHECK_INT(copies2, 1);
}

TEST(sign_rejects_bad_key_index)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    uint8_t dg[32] = {0}, sig[HSM_SIG_LEN];
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    int rc = hsm_signer_sign(s, 1, dg, sig);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_EINVAL);
}

TEST(key_selected_by_id_only_signs)
{
    struct hsm_key_sel k;
    struct hsm_signer *s = NULL;
    uint8_t dg[32], sig[HSM_SIG_LEN];
    CHECK(fx_token() == 0);
    memset(&k, 0, sizeof k);
    memcpy(k.id, fx.id, fx.id_len);
    k.id_len = fx.id_len;
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    SHA256((const unsigned char *)"by id", 5, dg);
    int rc = hsm_signer_sign(s, 0, dg, sig);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_OK);
    EVP_PKEY *pk = pkey_from_point(fx.point);
    int ok = verify_raw(pk, dg, sig);
    EVP_PKEY_free(pk);
    CHECK(ok);
}

TEST(key_attrs_are_sensitive_non_extractable_sign_only)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    struct hsm_key_attrs a;
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    int rc = hsm_signer_key_attrs(s, 0, &a);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(a.sensitive, 1);
    CHECK_INT(a.extractable, 0);
    CHECK_INT(a.priv, 1);
    CHECK_INT(a.sign, 1);
    CHECK_INT(a.derive, 0);
    CHECK_INT(a.decrypt, 0);
    CHECK_INT(a.always_sensitive, 1);
    CHECK_INT(a.never_extractable, 1);
}

TEST(private_value_read_is_refused_by_token)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    unsigned long ckr = 0;
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    int rc = hsm_signer_test_probe_value(s, 0, &ckr);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(ckr, 0x11); /* CKR_ATTRIBUTE_SENSITIVE */
}

TEST(wrong_pin_is_ehsm_login)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    CHECK(fx_token() == 0);
    CHECK_RC(hsm_signer_open(fx.m, tok_sel(), "wrong-pin", 9, &k, 1, &s), STI_EHSM_LOGIN);
    CHECK(s == NULL);
    /* The right PIN still works: one failure does not lock the token. */
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    hsm_signer_close(s);
}

TEST(missing_token_label_is_ehsm_token)
{
    struct hsm_token_sel t = {.label = "absent"};
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    CHECK(fx_token() == 0);
    CHECK_RC(hsm_signer_open(fx.m, &t, USER_PIN, strlen(USER_PIN), &k, 1, &s), STI_EHSM_TOKEN);
    CHECK(s == NULL);
}

TEST(missing_key_is_ehsm_key)
{
    struct hsm_key_sel k[2] = {key_label(KEY1), key_label("no-such-key")};
    struct hsm_signer *s = NULL;
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(k, 2, &s), STI_EHSM_KEY);
    CHECK(s == NULL);
    struct hsm_key_sel none;
    memset(&none, 0, sizeof none);
    CHECK_RC(open_signer(&none, 1, &s), STI_EINVAL); /* neither label nor id */
}

TEST(allowed_missing_key_signs_only_after_keygen)
{
    struct hsm_key_sel k[2] = {key_label(KEY1), key_label("later")};
    struct hsm_signer *s = NULL;
    uint8_t dg[32] = {1}, sig[HSM_SIG_LEN], id[HSM_ID_MAX], pt[HSM_EC_POINT_LEN];
    size_t id_len;
    CHECK(fx_token() == 0);
    CHECK_RC(hsm_signer_open_flags(fx.m, tok_sel(), USER_PIN, strlen(USER_PIN), k, 2,
                                   HSM_OPEN_ALLOW_MISSING, &s),
             STI_OK);
    int rc1 = hsm_signer_sign(s, 1, dg, sig);
    int rc2 = hsm_signer_keygen(s, "later", id, &id_len, pt);
    int rc3 = hsm_signer_sign(s, 1, dg, sig);
    unsigned long reopens = hsm_signer_reopens(s);
    hsm_signer_close(s);
    CHECK_RC(rc1, STI_EHSM_KEY);
    CHECK_RC(rc2, STI_OK);
    CHECK_RC(rc3, STI_OK);
    CHECK_INT(reopens, 0); /* a missing key is not a lost session */
    EVP_PKEY *pk = pkey_from_point(pt);
    int ok = verify_raw(pk, dg, sig);
    EVP_PKEY_free(pk);
    CHECK(ok);
}

TEST(list_keys_reports_p256_keys)
{
    struct hsm_signer *s = NULL;
    struct hsm_key_info ki[HSM_MAX_KEYS];
    size_t n = 0, one = 0;
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(NULL, 0, &s), STI_OK);
    int rc = hsm_signer_list_keys(s, ki, HSM_MAX_KEYS, &n);
    int rc1 = hsm_signer_list_keys(s, ki, 0, &one);
    hsm_signer_close(s);
    CHECK_RC(rc, STI_OK);
    CHECK(n >= 1);
    CHECK_RC(rc1, STI_ETOOMANY);
    CHECK_INT(one, 0);
    int found = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(ki[i].label, KEY1) == 0) {
            found = 1;
            CHECK_INT(ki[i].is_ec_p256, 1);
            CHECK_INT(ki[i].id_len, fx.id_len);
            CHECK_MEM(ki[i].id, fx.id, fx.id_len);
        }
    }
    CHECK(found);
}

TEST(lost_session_is_reopened_once_and_sign_succeeds)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *s = NULL;
    uint8_t dg[32], sig[HSM_SIG_LEN];
    CHECK(fx_token() == 0);
    EVP_PKEY *pk = pkey_from_point(fx.point);
    CHECK(pk != NULL);
    CHECK_RC(open_signer(&k, 1, &s), STI_OK);
    SHA256((const unsigned char *)"before", 6, dg);
    int rc1 = hsm_signer_sign(s, 0, dg, sig);
    int ok1 = rc1 == STI_OK && verify_raw(pk, dg, sig);
    int rcd = hsm_signer_test_drop_session(s);
    SHA256((const unsigned char *)"after", 5, dg);
    int rc2 = hsm_signer_sign(s, 0, dg, sig);
    int ok2 = rc2 == STI_OK && verify_raw(pk, dg, sig);
    unsigned long reopens = hsm_signer_reopens(s);
    int rc3 = hsm_signer_sign(s, 0, dg, sig);
    unsigned long reopens2 = hsm_signer_reopens(s);
    hsm_signer_close(s);
    EVP_PKEY_free(pk);
    CHECK_RC(rc1, STI_OK);
    CHECK(ok1);
    CHECK_RC(rcd, STI_OK);
    CHECK_RC(rc2, STI_OK);
    CHECK(ok2);
    CHECK_INT(reopens, 1);
    CHECK_RC(rc3, STI_OK);
    CHECK_INT(reopens2, 1);
}

TEST(closing_one_signer_keeps_the_other_logged_in)
{
    struct hsm_key_sel k = key_label(KEY1);
    struct hsm_signer *a = NULL, *b = NULL;
    uint8_t dg[32] = {7}, sig[HSM_SIG_LEN];
    CHECK(fx_token() == 0);
    CHECK_RC(open_signer(&k, 1, &a), STI_OK);
    CHECK_RC(open_signer(&k, 1, &b), STI_OK);
    hsm_signer_close(a);
    int rc = hsm_signer_sign(b, 0, dg, sig);
    unsigned long reopens = hsm_signer_reopens(b);
    hsm_signer_close(b);
    CHECK_RC(rc, STI_OK);
    CHECK_INT(reopens, 0);
}

/* Token directories of the fixture, one per token (SoftHSM2 file store). */
static int list_token_dirs(char names[][64], int max)
{
    char tokens[PATH_MAX + 16];
    int n = 0;
    snprintf(tokens, sizeof tokens, "%s/tokens", fx.dir);
    DIR *d = opendir(tokens);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL && n < max;)
        if (e->d_name[0] != '.' && strlen(e->d_name) < 64)
            memcpy(names[n++], e->d_name, strlen(e->d_name) + 1);
    closedir(d);
    return n;
}

TEST(token_removed_under_signer_is_ehsm_token)
{
    struct hsm_token_sel t = {.label = "doomed"};
    struct hsm_key_sel k = key_label("kd");
    struct hsm_signer *s = NULL;
    char before[8][64], after[8][64], path[PATH_MAX + 600];
    uint8_t id[HSM_ID_MAX], pt[HSM_EC_POINT_LEN], dg[32] = {3}, sig[HSM_SIG_LEN];
    size_t id_len;
    CHECK(fx_token() == 0);
    int nb = list_token_dirs(before, 8);
    CHECK_RC(hsm_token_init(fx.m, "doomed", SO_PIN, USER_PIN), STI_OK);
    int na = list_token_dirs(after, 8);
    CHECK_INT(na, nb + 1);
    const char *newdir = NULL;
    for (int i = 0; i < na && !newdir; i++) {
        int old = 0;
        for (int j = 0; j < nb; j++)
            old |= strcmp(after[i], before[j]) == 0;
        if (!old)
            newdir = after[i];
    }
    CHECK(newdir != NULL);
    CHECK_RC(hsm_signer_open_flags(fx.m, &t, USER_PIN, strlen(USER_PIN), &k, 1,
                                   HSM_OPEN_ALLOW_MISSING, &s),
             STI_OK);
    int rc1 = hsm_signer_keygen(s, "kd", id, &id_len, pt);
    int rc2 = hsm_signer_sign(s, 0, dg, sig);
    /* Pull the token: its files go, then the session drops. */
    snprintf(path, sizeof path, "%s/tokens/%s", fx.dir, newdir);
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    int rcd = hsm_signer_test_drop_session(s);
    int rc3 = hsm_signer_sign(s, 0, dg, sig);
    int rc4 = hsm_signer_sign(s, 0, dg, sig); /* still gone, still a clear code */
    unsigned long reopens = hsm_signer_reopens(s);
    hsm_signer_close(s);
    CHECK_RC(rc1, STI_OK);
    CHECK_RC(rc2, STI_OK);
    CHECK_RC(rcd, STI_OK);
    CHECK_RC(rc3, STI_EHSM_TOKEN);
    CHECK_RC(rc4, STI_EHSM_TOKEN);
    CHECK_INT(reopens, 0);
}

/* ---- libp11 (after the raw module is gone) ---- */

TEST(p11_list_tokens_finds_the_token)
{
    struct hsm_token_info ti[8];
    size_t n = 0;
    CHECK(fx_token() == 0);
    hsm_module_unload(fx.m);
    fx.m = NULL;
    CHECK_RC(hsm_p11_list_tokens(module_path(), ti, 8, &n), STI_OK);
    int found = 0;
    for (size_t i = 0; i < n; i++)
        if (strcmp(ti[i].label, TOKEN) == 0 && ti[i].initialized && ti[i].login_required &&
            ti[i].serial[0])
            found = 1;
    CHECK(found);
    CHECK_RC(hsm_p11_list_tokens("/nonexistent/lib.so", ti, 8, &n), STI_EHSM_MODULE);
}

TEST(p11_private_key_signs_and_verifies_against_point)
{
    struct hsm_p11 *p = NULL;
    struct hsm_key_sel k = key_label(KEY1), absent = key_label("absent");
    EVP_PKEY *key = NULL, *none = NULL;
    unsigned char sig[128];
    size_t siglen = sizeof sig;
    static const unsigned char msg[] = "header.claims";
    CHECK(fx_token() == 0);
    hsm_module_unload(fx.m);
    fx.m = NULL;
    CHECK_RC(hsm_p11_open(module_path(), tok_sel(), USER_PIN, &p), STI_OK);
    CHECK_RC(hsm_p11_private_key(p, &absent, &none), STI_EHSM_KEY);
    int rc = hsm_p11_private_key(p, &k, &key);
    int signed_ok = 0;
    if (rc == STI_OK) {
        EVP_MD_CTX *md = EVP_MD_CTX_new();
        signed_ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) == 1 &&
                    EVP_DigestSign(md, sig, &siglen, msg, sizeof msg - 1) == 1;
        EVP_MD_CTX_free(md);
    }
    EVP_PKEY_free(key);
    hsm_p11_close(p);
    CHECK_RC(rc, STI_OK);
    CHECK(signed_ok);

    EVP_PKEY *pub = pkey_from_point(fx.point);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = pub && md && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub) == 1 &&
             EVP_DigestVerify(md, sig, siglen, msg, sizeof msg - 1) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    CHECK(ok);
}

TEST(p11_wrong_pin_and_missing_token_are_refused)
{
    struct hsm_p11 *p = NULL;
    struct hsm_token_sel absent = {.label = "absent"};
    CHECK(fx_token() == 0);
    hsm_module_unload(fx.m);
    fx.m = NULL;
    CHECK_RC(hsm_p11_open(module_path(), tok_sel(), "wrong-pin", &p), STI_EHSM_LOGIN);
    CHECK(p == NULL);
    CHECK_RC(hsm_p11_open(module_path(), &absent, USER_PIN, &p), STI_EHSM_TOKEN);
    CHECK(p == NULL);
}

CHECK_MAIN(CASE(pin_file_mode_0644_is_refused), CASE(pin_file_0600_strips_one_trailing_newline),
           CASE(pin_file_bad_content_and_kinds_are_refused), CASE(wipe_clears_memory),
           CASE(module_load_bad_path_is_ehsm_module), CASE(module_loaded_twice_is_one_object),
           CASE(token_init_then_found_by_label),
           CASE(keygen_returns_uncompressed_point_and_pubkey_agrees),
           CASE(keygen_duplicate_label_is_eexists), CASE(sign_200_digests_all_verify_with_openssl),
           CASE(session_copy_signs_stays_sensitive_and_never_reaches_the_token),
           CASE(sign_rejects_bad_key_index), CASE(key_selected_by_id_only_signs),
           CASE(key_attrs_are_sensitive_non_extractable_sign_only),
           CASE(private_value_read_is_refused_by_token), CASE(wrong_pin_is_ehsm_login),
           CASE(missing_token_label_is_ehsm_token), CASE(missing_key_is_ehsm_key),
           CASE(allowed_missing_key_signs_only_after_keygen), CASE(list_keys_reports_p256_keys),
           CASE(lost_session_is_reopened_once_and_sign_succeeds),
           CASE(closing_one_signer_keeps_the_other_logged_in),
           CASE(token_removed_under_signer_is_ehsm_token), CASE(p11_list_tokens_finds_the_token),
           CASE(p11_private_key_signs_and_verifies_against_point),
           CASE(p11_wrong_pin_and_missing_token_are_refused))
