/*
 * provision.c — `stisign token|key|csr`: provisioning a PKCS#11 token from
 * the command line (the console offers the same on the appliance). PINs
 * only ever come from files checked by hsm_pin_read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "hsm.h"
#include "hsm_p11.h"
#include "opts.h"
#include "ca.h"
#include "pki.h"
#include "sti_err.h"
#include "tools.h"

#ifndef STI_DEFAULT_MODULE
#define STI_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#define NOPT(t) (sizeof(t) / sizeof((t)[0]))

static const char *module_of(const struct opt *o, size_t n)
{
    const char *m = opts_get(o, n, "module");
    return m ? m : STI_DEFAULT_MODULE;
}

static int read_pin(const char *path, char pin[HSM_PIN_MAX + 1], size_t *len)
{
    int rc = hsm_pin_read(path, pin, HSM_PIN_MAX + 1, len);
    if (rc)
        tool_error(rc, path);
    return rc;
}

static void print_hex(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        printf("%02x", p[i]);
}

static int token_init(int argc, char **argv)
{
    struct opt o[] = {{"module", 1, 0, {0}, 0},
                      {"label", 1, 0, {0}, 0},
                      {"so-pin-file", 1, 0, {0}, 0},
                      {"pin-file", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos, sl, ul;
    char so[HSM_PIN_MAX + 1], user[HSM_PIN_MAX + 1];
    struct hsm_module *m = NULL;
    int rc;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "label") ||
        !opts_get(o, NOPT(o), "so-pin-file") || !opts_get(o, NOPT(o), "pin-file")) {
        fprintf(stderr, "usage: stisign token init [--module SO] --label L --so-pin-file F "
                        "--pin-file F\n");
        return 2;
    }
    if (read_pin(opts_get(o, NOPT(o), "so-pin-file"), so, &sl))
        return 1;
    if (read_pin(opts_get(o, NOPT(o), "pin-file"), user, &ul)) {
        hsm_wipe(so, sizeof so);
        return 1;
    }
    rc = hsm_module_load(module_of(o, NOPT(o)), &m);
    if (!rc)
        rc = hsm_token_init(m, opts_get(o, NOPT(o), "label"), so, user);
    hsm_wipe(so, sizeof so);
    hsm_wipe(user, sizeof user);
    if (m)
        hsm_module_unload(m);
    if (rc) {
        tool_error(rc, opts_get(o, NOPT(o), "label"));
        return 1;
    }
    printf("token %s initialised\n", opts_get(o, NOPT(o), "label"));
    return 0;
}

static int token_list(int argc, char **argv)
{
    struct opt o[] = {{"module", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos, n;
    struct hsm_token_info ti[16];
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos)) {
        fprintf(stderr, "usage: stisign token list [--module SO]\n");
        return 2;
    }
    int rc = hsm_p11_list_tokens(module_of(o, NOPT(o)), ti, 16, &n);
    if (rc) {
        tool_error(rc, NULL);
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        printf("slot %lu: label=%s serial=%s %s %s%s\n", ti[i].slot, ti[i].label, ti[i].serial,
               ti[i].manufacturer, ti[i].model, ti[i].initialized ? "" : " (not initialised)");
    return 0;
}

int tool_token(int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "init") == 0)
        return token_init(argc - 1, argv + 1);
    if (argc >= 1 && strcmp(argv[0], "list") == 0)
        return token_list(argc - 1, argv + 1);
    fprintf(stderr, "usage: stisign token init|list ...\n");
    return 2;
}

/* Opens a signer on the token for a key command; nkeys may be 0. */
static int key_open(const struct opt *o, size_t no, const struct hsm_key_sel *keys, size_t nkeys,
                    struct hsm_module **m, struct hsm_signer **s)
{
    char pin[HSM_PIN_MAX + 1];
    size_t pl;
    struct hsm_token_sel tok;
    struct hsm_key_sel ignored;
    int rc = hsm_uri_parse(opts_get(o, no, "token"), &tok, &ignored);
    if (rc) {
        tool_error(rc, opts_get(o, no, "token"));
        return rc;
    }
    if ((rc = read_pin(opts_get(o, no, "pin-file"), pin, &pl)))
        return rc;
    rc = hsm_module_load(module_of(o, no), m);
    if (!rc)
        rc = hsm_signer_open(*m, &tok, pin, pl, keys, nkeys, s);
    hsm_wipe(pin, sizeof pin);
    if (rc)
        tool_error(rc, opts_get(o, no, "token"));
    return rc;
}

int tool_key(int argc, char **argv)
{
    struct opt o[] = {{"module", 1, 0, {0}, 0},
                      {"token", 1, 0, {0}, 0},
                      {"pin-file", 1, 0, {0}, 0},
                      {"label", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    const char *verb = argc ? argv[0] : "";
    int gen = strcmp(verb, "generate") == 0, list = strcmp(verb, "list") == 0,
        attrs = strcmp(verb, "attrs") == 0;
    if ((!gen && !list && !attrs) || opts_parse(argc - 1, argv + 1, o, NOPT(o), pos, 0, &npos) ||
        !opts_get(o, NOPT(o), "token") || !opts_get(o, NOPT(o), "pin-file") ||
        ((gen || attrs) && !opts_get(o, NOPT(o), "label"))) {
        fprintf(stderr, "usage: stisign key generate|attrs [--module SO] --token T --pin-file F "
                        "--label L\n       stisign key list [--module SO] --token T --pin-file F\n");
        return 2;
    }
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    struct hsm_key_sel ks;
    int rc;
    memset(&ks, 0, sizeof ks);
    if (attrs && (rc = hsm_key_sel_parse(opts_get(o, NOPT(o), "label"), &ks))) {
        tool_error(rc, opts_get(o, NOPT(o), "label"));
        return 1;
    }
    if ((rc = key_open(o, NOPT(o), &ks, attrs ? 1 : 0, &m, &s)))
        goto out;
    if (gen) {
        uint8_t id[HSM_ID_MAX], point[HSM_EC_POINT_LEN];
        size_t idlen;
        rc = hsm_signer_keygen(s, opts_get(o, NOPT(o), "label"), id, &idlen, point);
        if (rc) {
            tool_error(rc, opts_get(o, NOPT(o), "label"));
            goto out;
        }
        printf("generated P-256 key %s id=", opts_get(o, NOPT(o), "label"));
        print_hex(id, idlen);
        printf(" public=");
        print_hex(point, sizeof point);
        printf("\n");
    } else if (list) {
        struct hsm_key_info ki[64];
        size_t n;
        if ((rc = hsm_signer_list_keys(s, ki, 64, &n))) {
            tool_error(rc, NULL);
            goto out;
        }
        for (size_t i = 0; i < n; i++) {
            printf("%s id=", ki[i].label);
            print_hex(ki[i].id, ki[i].id_len);
            printf("%s\n", ki[i].is_ec_p256 ? " ec-p256" : " (not P-256)");
        }
    } else {
        struct hsm_key_attrs a;
        if ((rc = hsm_signer_key_attrs(s, 0, &a))) {
            tool_error(rc, NULL);
            goto out;
        }
        printf("sensitive=%d extractable=%d private=%d sign=%d derive=%d decrypt=%d "
               "always_sensitive=%d never_extractable=%d\n",
               a.sensitive, a.extractable, a.priv, a.sign, a.derive, a.decrypt,
               a.always_sensitive, a.never_extractable);
    }
out:
    if (s)
        hsm_signer_close(s);
    if (m)
        hsm_module_unload(m);
    return rc ? 1 : 0;
}

int tool_csr_run(int argc, char **argv, int ca)
{
    struct opt o[] = {{"module", 1, 0, {0}, 0},  {"token", 1, 0, {0}, 0},
                      {"pin-file", 1, 0, {0}, 0}, {"key", 1, 0, {0}, 0},
                      {"subject", 1, 0, {0}, 0},  {"scope", 1, 0, {0}, 0},
                      {"out", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "key") ||
        !opts_get(o, NOPT(o), "subject") || !opts_get(o, NOPT(o), "scope")) {
        fprintf(stderr, "usage: stisign %scsr [--module SO] --token T --pin-file F --key LABEL "
                        "--subject \"C=US,O=Org,CN=%s\" --scope \"range:START/COUNT tn:TN "
                        "spc:SPC\" [--out FILE]\n",
                ca ? "ca " : "", ca ? "Org Delegate CA" : "SHAKEN 1234");
        return 2;
    }
    struct scope sc;
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL;
    char *pem = NULL;
    int rc;
    scope_init(&sc);
    if ((rc = scope_parse_list(opts_get(o, NOPT(o), "scope"), &sc)) || sc.n == 0) {
        rc = rc ? rc : STI_ESCOPE_SYNTAX;
        tool_error(rc, opts_get(o, NOPT(o), "scope"));
        goto out;
    }
    if ((rc = tool_p11_open(o, NOPT(o), &p)) ||
        (rc = tool_p11_key(p, opts_get(o, NOPT(o), "key"), &pk)))
        goto out;
    rc = ca ? pki_ca_csr_make(pk, opts_get(o, NOPT(o), "subject"), &sc, &pem)
            : pki_csr_make(pk, opts_get(o, NOPT(o), "subject"), &sc, &pem);
    if (rc) {
        tool_error(rc, opts_get(o, NOPT(o), "subject"));
        goto out;
    }
    if ((rc = tool_write_out(opts_get(o, NOPT(o), "out"), pem)))
        tool_error(rc, opts_get(o, NOPT(o), "out"));
out:
    free(pem);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    scope_free(&sc);
    return rc ? 1 : 0;
}

int tool_csr(int argc, char **argv)
{
    return tool_csr_run(argc, argv, 0);
}
