/* admin.c — the console's ops on the daemon side: HSM management on the
 * admin thread, store commits, reloads. See admin.h. */
#include "admin.h"
#include "selftest.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include <openssl/objects.h>

#include "bsp.h"
#include "ca.h"
#include "hsm.h"
#include "hsm_p11.h"
#include "log.h"
#include "passport.h"
#include "pki.h"
#include "scope.h"
#include "sti_err.h"
#include "store.h"
#include "wire.h"

#define RECONCILE_TICK_MS 250
#define RECONCILE_RETRY_TICKS 8 /* ask for the reload again every 2 s */
#define RECONCILE_MAX_TICKS 80  /* give up waiting after 20 s */

enum job_kind {
    J_KEYS,
    J_TOKEN_INIT,
    J_TOKEN_ATTACH,
    J_TOKEN_PIN,
    J_KEYGEN,
    J_CSR,
    J_IMPORT,
    J_X5U,
    J_RETIRE,
    J_RESET,
    J_CA_CSR,
    J_CA_CERT,
    J_CA_POLICY,
    J_CA_ISSUE,
    J_CA_SELF,
    J_CA_REVOKE,
    J_CA_CRL,
    J_CA_SHOW,
    J_UPD_STATUS,
    J_UPD_INSTALL,
    J_UPD_CONFIRM,
};

struct job {
    enum job_kind kind;
    char name[CLI_LINE_MAX + 1]; /* label, credential name */
    char key[CLI_LINE_MAX + 1];  /* key label, x5u URL */
    char subject[CLI_LINE_MAX + 1];
    char scope[CLI_LINE_MAX + 1];
    char x5u[CLI_LINE_MAX + 1];
    char pin1[CLI_SECRET_MAX + 1], pin2[CLI_SECRET_MAX + 1];
    enum cli_role role;
    char *pem;
    size_t pem_len;
    struct cli_done done;
    /* result */
    int rc;
    char *text;
    size_t text_len;
    int reload;      /* ask the daemon to reload, then wait for it */
    X509 *want_leaf; /* import: the running table must hold this leaf */
    long days;       /* ca policy */
    int health;      /* update confirm: the health state when asked (loop side) */
    /* When set, the audit log's result instead of "ok" / "failed CODE". */
    char audit_res[256];
};

struct admin {
    struct admin_env env;
    struct store *store;
    pthread_mutex_t mu; /* guards job, result, stop and the store */
    pthread_cond_t cv;
    pthread_t thread;
    int thread_ok, stop;
    struct job *job, *result, *waiting;
    int pipe_fd[2];
    struct event *pipe_ev, *reconcile_ev;
    unsigned ticks;
};

static const char *role_name(enum cli_role r)
{
    return r == CLI_ROLE_DELEGATE_CA ? "delegate-ca" : "customer-af";
}

static void job_free(struct job *j)
{
    if (!j)
        return;
    if (j->pem) {
        hsm_wipe(j->pem, j->pem_len);
        free(j->pem);
    }
    free(j->text);
    X509_free(j->want_leaf);
    hsm_wipe(j, sizeof *j);
    free(j);
}

static void audit(struct admin *a, const char *action, int rc)
{
    char res[160];
    if (rc)
        snprintf(res, sizeof res, "failed %s %s", sti_errname(rc), sti_strerror(rc));
    else
        snprintf(res, sizeof res, "ok");
    pthread_mutex_lock(&a->mu);
    store_audit(a->store, "admin", action, res);
    pthread_mutex_unlock(&a->mu);
}

static void state_copy(struct admin *a, struct store_state *st)
{
    pthread_mutex_lock(&a->mu);
    store_load(a->store, st);
    pthread_mutex_unlock(&a->mu);
}

/* ---- admin thread ---- */

/* The store's token and PIN, for ops that log in. */
static int token_login_info(struct admin *a, struct hsm_token_sel *tok, char *pin, size_t cap,
                            size_t *pin_len, FILE *out)
{
    struct store_state st;
    char path[700];
    state_copy(a, &st);
    memset(tok, 0, sizeof *tok);
    if (!st.token[0]) {
        fprintf(out, "No token attached: use token init or token attach.\n");
        return STI_EHSM_TOKEN;
    }
    if (snprintf(tok->label, sizeof tok->label, "%s", st.token) >= (int)sizeof tok->label)
        return STI_ETOOLONG;
    if (!st.has_pin) {
        fprintf(out, "No token PIN stored: use token pin.\n");
        return STI_EPINFILE;
    }
    pthread_mutex_lock(&a->mu);
    store_path(a->store, "pin", path, sizeof path);
    pthread_mutex_unlock(&a->mu);
    return hsm_pin_read(path, pin, cap, pin_len);
}

static int open_signer(struct admin *a, const struct hsm_key_sel *keys, size_t nkeys,
                       struct hsm_module **m, struct hsm_signer **s, FILE *out)
{
    struct hsm_token_sel tok;
    char pin[HSM_PIN_MAX + 2];
    size_t pl = 0;
    int rc = token_login_info(a, &tok, pin, sizeof pin, &pl, out);
    if (rc == STI_OK)
        rc = hsm_module_load(a->env.cfg->module, m);
    if (rc == STI_OK && (rc = hsm_signer_open(*m, &tok, pin, pl, keys, nkeys, s))) {
        hsm_module_unload(*m);
        *m = NULL;
    }
    hsm_wipe(pin, sizeof pin);
    return rc;
}

static void close_signer(struct hsm_module *m, struct hsm_signer *s)
{
    if (s)
        hsm_signer_close(s);
    if (m)
        hsm_module_unload(m);
}

static int do_keys(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    struct hsm_key_info ki[HSM_MAX_KEYS];
    struct store_state st;
    size_t n = 0;
    int rc = open_signer(a, NULL, 0, &m, &s, out);
    (void)j;
    if (rc == STI_OK)
        rc = hsm_signer_list_keys(s, ki, HSM_MAX_KEYS, &n);
    close_signer(m, s);
    if (rc && rc != STI_ETOOMANY)
        return rc;
    state_copy(a, &st);
    fprintf(out, "%-24s %-12s %-8s %s\n", "LABEL", "ROLE", "TYPE", "USED BY");
    for (size_t i = 0; i < n; i++) {
        const char *role = "-";
        char used[256] = "";
        for (size_t k = 0; k < st.nkey; k++)
            if (strcmp(st.key[k].label, ki[i].label) == 0)
                role = st.key[k].role;
        for (size_t k = 0; k < st.ncred; k++)
            if (strcmp(st.cred[k].key, ki[i].label) == 0 &&
                strlen(used) + strlen(st.cred[k].name) + 2 < sizeof used) {
                strcat(used, used[0] ? " " : "");
                strcat(used, st.cred[k].name);
            }
        fprintf(out, "%-24s %-12s %-8s %s\n", ki[i].label[0] ? ki[i].label : "(no label)", role,
                ki[i].is_ec_p256 ? "P-256" : "other", used[0] ? used : "-");
    }
    fprintf(out, "%zu key(s)%s\n", n, rc == STI_ETOOMANY ? " (list truncated)" : "");
    return STI_OK;
}

static int do_token_init(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_module *m = NULL;
    int rc = hsm_module_load(a->env.cfg->module, &m);
    if (rc == STI_OK) {
        rc = hsm_token_init(m, j->name, j->pin1, j->pin2);
        hsm_module_unload(m);
    }
    if (rc == STI_OK) {
        pthread_mutex_lock(&a->mu);
        rc = store_set_token(a->store, j->name);
        pthread_mutex_unlock(&a->mu);
    }
    if (rc == STI_OK)
        fprintf(out, "Token %s initialised and attached. Next: token pin, then key generate.\n",
                j->name);
    return rc;
}

static int do_token_attach(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_module *m = NULL;
    struct hsm_token_sel tok;
    unsigned long slot;
    memset(&tok, 0, sizeof tok);
    if (snprintf(tok.label, sizeof tok.label, "%s", j->name) >= (int)sizeof tok.label)
        return STI_ETOOLONG;
    int rc = hsm_module_load(a->env.cfg->module, &m);
    if (rc == STI_OK) {
        rc = hsm_find_slot(m, &tok, &slot);
        hsm_module_unload(m);
    }
    if (rc == STI_EHSM_TOKEN)
        fprintf(out, "No initialised token labelled %s.\n", j->name);
    if (rc == STI_OK) {
        pthread_mutex_lock(&a->mu);
        rc = store_set_token(a->store, j->name);
        pthread_mutex_unlock(&a->mu);
    }
    if (rc == STI_OK) {
        fprintf(out, "Token %s attached (slot %lu). Next: token pin.\n", j->name, slot);
        j->reload = 1;
    }
    return rc;
}

static int do_token_pin(struct admin *a, struct job *j, FILE *out)
{
    struct store_state st;
    struct hsm_token_sel tok;
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    state_copy(a, &st);
    if (!st.token[0]) {
        fprintf(out, "No token attached: use token init or token attach.\n");
        return STI_EHSM_TOKEN;
    }
    memset(&tok, 0, sizeof tok);
    if (snprintf(tok.label, sizeof tok.label, "%s", st.token) >= (int)sizeof tok.label)
        return STI_ETOOLONG;
    /* Checked by logging in once: a wrong PIN stored would fail every start. */
    int rc = hsm_module_load(a->env.cfg->module, &m);
    if (rc == STI_OK)
        rc = hsm_signer_open(m, &tok, j->pin1, strlen(j->pin1), NULL, 0, &s);
    close_signer(m, s);
    if (rc == STI_EHSM_LOGIN)
        fprintf(out, "The token refused this PIN; nothing stored.\n");
    if (rc == STI_OK) {
        pthread_mutex_lock(&a->mu);
        rc = store_set_pin(a->store, j->pin1, strlen(j->pin1));
        pthread_mutex_unlock(&a->mu);
    }
    if (rc == STI_OK) {
        fprintf(out, "PIN stored for unattended start (root-only file; it is not shown again).\n");
        j->reload = 1;
    }
    return rc;
}

static int do_keygen(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    uint8_t id[HSM_ID_MAX], point[HSM_EC_POINT_LEN];
    size_t idlen = 0;
    int rc = open_signer(a, NULL, 0, &m, &s, out);
    if (rc == STI_OK)
        rc = hsm_signer_keygen(s, j->name, id, &idlen, point);
    close_signer(m, s);
    if (rc == STI_EEXISTS)
        fprintf(out, "A key labelled %s is already on the token.\n", j->name);
    if (rc)
        return rc;
    /* Pair-wise consistency: the new key signs, mbedTLS (an independent
     * implementation) verifies against the point the token reported. */
    struct hsm_key_sel ks;
    uint8_t digest[32], sig[HSM_SIG_LEN];
    memset(&ks, 0, sizeof ks);
    memcpy(ks.id, id, idlen);
    ks.id_len = idlen;
    RAND_bytes(digest, sizeof digest);
    m = NULL;
    s = NULL;
    rc = open_signer(a, &ks, 1, &m, &s, out);
    if (rc == STI_OK)
        rc = hsm_signer_sign(s, 0, digest, sig);
    close_signer(m, s);
    if (rc == STI_OK)
        rc = selftest_verify_p256(point, digest, sig);
    if (rc) {
        fprintf(out, "Key %s was generated but failed the pair-wise check (%s): do not use it.\n",
                j->name, sti_errname(rc));
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    rc = store_put_key(a->store, j->name, role_name(j->role));
    pthread_mutex_unlock(&a->mu);
    fprintf(out,
            "Key %s generated on the token (%s, P-256, sensitive, non-extractable, "
            "pair-wise check passed), id ",
            j->name, role_name(j->role));
    for (size_t i = 0; i < idlen; i++)
        fprintf(out, "%02x", id[i]);
    fprintf(out, ".\nNext: csr %s subject \"C=US,O=...,CN=...\" scope \"...\"\n", j->name);
    return rc;
}

static int do_csr(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_token_sel tok;
    struct hsm_key_sel ks;
    struct hsm_p11 *p = NULL;
    struct scope sc;
    EVP_PKEY *pk = NULL;
    char pin[HSM_PIN_MAX + 2], *pem = NULL;
    size_t pl = 0;
    int rc;
    scope_init(&sc);
    if ((rc = scope_parse_list(j->scope, &sc)) || sc.n == 0) {
        fprintf(out, "Scope: entries like range:12025550100/100 tn:12025550123 spc:1234\n");
        rc = rc ? rc : STI_ESCOPE_SYNTAX;
        goto out;
    }
    STI_TRY(hsm_key_sel_parse(j->key, &ks));
    STI_TRY(token_login_info(a, &tok, pin, sizeof pin, &pl, out));
    rc = hsm_p11_open(a->env.cfg->module, &tok, pin, &p);
    hsm_wipe(pin, sizeof pin);
    if (rc)
        goto out;
    STI_TRY(hsm_p11_private_key(p, &ks, &pk));
    rc = pki_csr_make(pk, j->subject, &sc, &pem);
    if (rc == STI_EINVAL)
        fprintf(out, "Subject: C=US,O=Example,CN=SHAKEN 1234 (or /C=US/O=.../CN=...)\n");
    if (rc)
        goto out;
    fputs(pem, out);
out:
    free(pem);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    scope_free(&sc);
    return rc;
}

static void fmt_time(time_t t, char *out, size_t cap)
{
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static int do_import(struct admin *a, struct job *j, FILE *out)
{
    STACK_OF(X509) *chain = NULL;
    struct hsm_key_sel ks;
    struct hsm_module *m = NULL;
    struct hsm_signer *s = NULL;
    uint8_t point[HSM_EC_POINT_LEN];
    struct scope sc;
    char text[1024], nb[32], na[32];
    time_t t0, t1;
    int rc;
    scope_init(&sc);
    if (j->x5u[0] && (rc = pp_x5u_check(j->x5u)))
        goto out;
    if ((rc = pki_chain_parse(j->pem, j->pem_len, &chain))) {
        fprintf(out, "The paste is not a PEM certificate chain.\n");
        goto out;
    }
    STI_TRY(hsm_key_sel_parse(j->key, &ks));
    rc = open_signer(a, &ks, 1, &m, &s, out);
    if (rc == STI_OK)
        rc = hsm_signer_pubkey(s, 0, point);
    close_signer(m, s);
    if (rc == STI_EHSM_KEY)
        fprintf(out, "No key labelled %s on the token.\n", j->key);
    if (rc)
        goto out;
    rc = pki_credential_check(chain, point, time(NULL), &sc);
    X509 *leaf = sk_X509_value(chain, 0);
    switch (rc) {
    case STI_OK:
        break;
    case STI_EPKI_KEYMISMATCH:
        fprintf(out, "The certificate is not for key %s.\n", j->key);
        goto out;
    case STI_EPKI_CHAIN:
        fprintf(out, "Paste the chain leaf first, each certificate followed by its issuer.\n");
        goto out;
    default:
        goto out;
    }
    pthread_mutex_lock(&a->mu);
    rc = store_put_credential(a->store, j->name, j->key, j->pem, j->pem_len, j->x5u);
    pthread_mutex_unlock(&a->mu);
    if (rc)
        goto out;
    pki_cert_times(leaf, &t0, &t1);
    fmt_time(t0, nb, sizeof nb);
    fmt_time(t1, na, sizeof na);
    X509_NAME_oneline(X509_get_subject_name(leaf), text, sizeof text);
    fprintf(out, "Credential %s: %s\n  valid %s .. %s\n", j->name, text, nb, na);
    if (scope_format(&sc, text, sizeof text) == STI_OK)
        fprintf(out, "  scope %s\n", text);
    if (j->x5u[0]) {
        j->want_leaf = X509_dup(leaf);
        j->reload = 1;
    } else {
        fprintf(out, "Stored, pending: set its URL with credential x5u %s https://...\n", j->name);
    }
out:
    sk_X509_pop_free(chain, X509_free);
    scope_free(&sc);
    return rc;
}

static int do_x5u(struct admin *a, struct job *j, FILE *out)
{
    int rc = pp_x5u_check(j->key);
    if (rc) {
        fprintf(out, "x5u: https://host/path, no user, query or fragment.\n");
        return rc;
    }
    pthread_mutex_lock(&a->mu);
    rc = store_set_x5u(a->store, j->name, j->key);
    pthread_mutex_unlock(&a->mu);
    if (rc == STI_ENOTFOUND)
        fprintf(out, "No credential %s.\n", j->name);
    if (rc == STI_OK) {
        fprintf(out, "Credential %s: x5u %s\n", j->name, j->key);
        j->reload = 1;
    }
    return rc;
}

static int do_retire(struct admin *a, struct job *j, FILE *out)
{
    pthread_mutex_lock(&a->mu);
    int rc = store_retire_credential(a->store, j->name);
    pthread_mutex_unlock(&a->mu);
    if (rc == STI_ENOTFOUND)
        fprintf(out, "No credential %s in the store.\n", j->name);
    if (rc == STI_OK) {
        fprintf(out, "Credential %s retired.\n", j->name);
        j->reload = 1;
    }
    return rc;
}

static int do_reset(struct admin *a, struct job *j, FILE *out)
{
    struct store_state st;
    int rc = STI_OK;
    state_copy(a, &st);
    if (j->pin1[0] && st.token[0]) {
        /* Re-initialising the token destroys every object on it. The new
         * user PIN is random and forgotten: token init sets a real one. */
        unsigned char rnd[16];
        char pin[33];
        struct hsm_module *m = NULL;
        if (RAND_bytes(rnd, sizeof rnd) != 1)
            return STI_EINTERNAL;
        for (size_t i = 0; i < sizeof rnd; i++)
            snprintf(pin + 2 * i, 3, "%02x", rnd[i]);
        rc = hsm_module_load(a->env.cfg->module, &m);
        if (rc == STI_OK) {
            rc = hsm_token_init(m, st.token, j->pin1, pin);
            hsm_module_unload(m);
        }
        hsm_wipe(pin, sizeof pin);
        hsm_wipe(rnd, sizeof rnd);
        if (rc) {
            fprintf(out, "The token was not re-initialised (wrong SO PIN?); the store is kept.\n");
            return rc;
        }
        fprintf(out, "Token %s re-initialised: every key on it is destroyed.\n", st.token);
    } else if (st.token[0]) {
        fprintf(out, "Token left as it is (no SO PIN given): its keys remain.\n");
    }
    pthread_mutex_lock(&a->mu);
    rc = store_wipe(a->store);
    pthread_mutex_unlock(&a->mu);
    if (rc == STI_OK)
        fprintf(out, "Store wiped. The admin passphrase must be set again at the next login.\n"
                     "Restart the appliance to drop the credentials still in memory.\n");
    return rc;
}

/* ---- the Delegate CA (docs/provisioning.md, "Delegate CA at the console") ---- */

#define CA_DEFAULT_DAYS 365
#define CA_CRL_DAYS 7

struct ca_pol {
    char oid[256];
    char crl[512];
    long days;
};

/* Opens the token (libp11) and the private key labelled label. */
static int ca_p11_key(struct admin *a, const char *label, struct hsm_p11 **p, EVP_PKEY **pk,
                      FILE *out)
{
    struct hsm_token_sel tok;
    struct hsm_key_sel ks;
    char pin[HSM_PIN_MAX + 2];
    size_t pl = 0;
    int rc;
    if ((rc = hsm_key_sel_parse(label, &ks)))
        return rc;
    if (!*p) {
        rc = token_login_info(a, &tok, pin, sizeof pin, &pl, out);
        if (rc == STI_OK)
            rc = hsm_p11_open(a->env.cfg->module, &tok, pin, p);
        hsm_wipe(pin, sizeof pin);
        if (rc)
            return rc;
    }
    rc = hsm_p11_private_key(*p, &ks, pk);
    if (rc)
        fprintf(out, "No usable key labelled %s on the token.\n", label);
    return rc;
}

static int ca_path(struct admin *a, const char *rel, char *out, size_t cap)
{
    pthread_mutex_lock(&a->mu);
    int rc = store_path(a->store, rel, out, cap);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int ca_get(struct admin *a, const char *name, char **text, size_t *n)
{
    pthread_mutex_lock(&a->mu);
    int rc = store_ca_get(a->store, name, text, n);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int ca_put(struct admin *a, const char *name, const char *text, size_t n)
{
    pthread_mutex_lock(&a->mu);
    int rc = store_ca_put(a->store, name, text, n);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* The stored CA: its key on the token and its certificate + chain. */
static int ca_open(struct admin *a, struct hsm_p11 **p, EVP_PKEY **pk, struct pki_ca *ca, FILE *out)
{
    char *label = NULL, path[700];
    size_t n = 0;
    int rc = ca_get(a, "key", &label, &n);
    if (rc == STI_ENOTFOUND)
        fprintf(out, "No Delegate CA yet: ca csr, then ca certificate.\n");
    if (rc)
        return rc;
    label[strcspn(label, "\r\n")] = '\0';
    rc = ca_p11_key(a, label, p, pk, out);
    free(label);
    if (rc == STI_OK && (rc = ca_path(a, "ca/ca.pem", path, sizeof path)) == STI_OK)
        rc = pki_ca_load(ca, path, NULL, *pk, time(NULL));
    if (rc && rc != STI_EHSM_UNAVAILABLE)
        fprintf(out, "The stored Delegate CA cannot be used (%s).\n", sti_errname(rc));
    return rc;
}

static int ca_policy_load(struct admin *a, struct ca_pol *pol, FILE *out)
{
    char *text = NULL, *save = NULL;
    size_t n = 0;
    int rc = ca_get(a, "policy", &text, &n);
    memset(pol, 0, sizeof *pol);
    pol->days = CA_DEFAULT_DAYS;
    if (rc == STI_ENOTFOUND)
        fprintf(out, "No issuance policy: ca policy oid OID crl URI [days N].\n");
    if (rc)
        return rc;
    for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "oid=", 4) == 0)
            snprintf(pol->oid, sizeof pol->oid, "%s", l + 4);
        else if (strncmp(l, "crl=", 4) == 0)
            snprintf(pol->crl, sizeof pol->crl, "%s", l + 4);
        else if (strncmp(l, "days=", 5) == 0)
            pol->days = strtol(l + 5, NULL, 10);
    }
    free(text);
    return pol->oid[0] && pol->crl[0] ? STI_OK : STI_ESTORE;
}

static int ca_ledger(struct admin *a, char *path, size_t cap)
{
    return ca_path(a, "ca/ledger", path, cap);
}

/* Issues from a request and records it; a certificate whose ledger line is
 * not on disk is never released. j->x5u receives the serial for the audit. */
static int ca_issue_record(struct admin *a, struct job *j, const struct pki_ca *ca, const char *csr,
                           size_t n, X509 **cert, FILE *out)
{
    struct ca_pol cp;
    struct pki_issue_policy pol;
    struct scope outside;
    char ledger[700], serial[PKI_SERIAL_HEX_MAX + 1], detail[400];
    time_t now = time(NULL);
    int rc = ca_policy_load(a, &cp, out);
    *cert = NULL;
    if (rc)
        return rc;
    memset(&pol, 0, sizeof pol);
    pol.policy_oid = cp.oid;
    pol.crl_uri = cp.crl;
    pol.days = cp.days;
    pol.spc_policy = SCOPE_SPC_DENY;
    scope_init(&outside);
    rc = pki_ca_issue(ca, csr, n, &pol, now, cert, &outside, detail, sizeof detail);
    if (rc == STI_ESCOPE_OUTSIDE) {
        char text[4096];
        if (scope_format(&outside, text, sizeof text) != STI_OK)
            snprintf(text, sizeof text, "(too many entries to list)");
        fprintf(out, "Refused: outside the CA's scope: %s\n", text);
        snprintf(j->x5u, sizeof j->x5u, "outside: %.400s", text);
    } else if (rc && detail[0]) {
        fprintf(out, "Refused: %s\n", detail);
        snprintf(j->x5u, sizeof j->x5u, "%.400s", detail);
    } else if (rc == STI_OK && (rc = ca_ledger(a, ledger, sizeof ledger)) == STI_OK &&
               (rc = pki_ledger_append_issue(ledger, *cert, now)) != STI_OK) {
        fprintf(out, "The ledger could not be written: the certificate is not released.\n");
    }
    scope_free(&outside);
    if (rc) {
        X509_free(*cert);
        *cert = NULL;
        return rc;
    }
    if (pki_serial_of(*cert, serial) == STI_OK)
        snprintf(j->x5u, sizeof j->x5u, "serial %s", serial);
    return STI_OK;
}

static int do_ca_csr(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL;
    struct scope sc;
    char *pem = NULL;
    int rc;
    scope_init(&sc);
    if ((rc = scope_parse_list(j->scope, &sc)) || sc.n == 0) {
        fprintf(out, "Scope: entries like range:12025550100/100 tn:12025550123 spc:1234\n");
        rc = rc ? rc : STI_ESCOPE_SYNTAX;
        goto out;
    }
    if ((rc = ca_p11_key(a, j->key, &p, &pk, out)))
        goto out;
    rc = pki_ca_csr_make(pk, j->subject, &sc, &pem);
    if (rc == STI_EINVAL)
        fprintf(out, "Subject: C=US,O=Example,CN=Example Delegate CA\n");
    if (rc)
        goto out;
    fputs(pem, out);
    fprintf(out, "Send this request to the STI-CA; then ca certificate %s.\n", j->key);
out:
    free(pem);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    scope_free(&sc);
    return rc;
}

static int do_ca_cert(struct admin *a, struct job *j, FILE *out)
{
    STACK_OF(X509) *chain = NULL, *above = NULL;
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL;
    struct pki_ca ca;
    char *text = NULL, nb[32], na[32], buf[1024];
    size_t len = 0;
    time_t t0, t1;
    int rc;
    memset(&ca, 0, sizeof ca);
    if ((rc = pki_chain_parse(j->pem, j->pem_len, &chain))) {
        fprintf(out, "The paste is not a PEM certificate chain.\n");
        goto out;
    }
    if (!(above = sk_X509_new_null())) {
        rc = STI_ENOMEM;
        goto out;
    }
    for (int i = 1; i < sk_X509_num(chain); i++)
        if (!sk_X509_push(above, sk_X509_value(chain, i))) {
            rc = STI_ENOMEM;
            goto out;
        }
    if ((rc = ca_p11_key(a, j->key, &p, &pk, out)))
        goto out;
    rc = pki_ca_init(&ca, sk_X509_value(chain, 0), pk, above, time(NULL));
    switch (rc) {
    case STI_OK:
        break;
    case STI_EPKI_PROFILE:
        fprintf(out, "Not a CA certificate (CA:TRUE and keyCertSign required).\n");
        goto out;
    case STI_EPKI_KEYMISMATCH:
        fprintf(out, "The certificate is not for key %s.\n", j->key);
        goto out;
    case STI_EPKI_CHAIN:
        fprintf(out, "Paste the CA certificate first, each certificate followed by its "
                     "issuer.\n");
        goto out;
    default:
        goto out;
    }
    /* Normalised PEM: the CA certificate, then the chain above it. */
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rc = STI_ENOMEM;
        goto out;
    }
    for (int i = 0; i < sk_X509_num(chain); i++) {
        char *pem = NULL;
        if (pki_cert_pem(sk_X509_value(chain, i), &pem) == STI_OK)
            fputs(pem, f);
        else
            rc = STI_ENOMEM;
        free(pem);
    }
    fclose(f);
    if (rc)
        goto out;
    /* The key label first: ca.pem is the commit point (a power cut between
     * the two leaves a key label the old certificate does not match, which
     * ca commands report; repeat ca certificate). */
    if ((rc = ca_put(a, "key", j->key, strlen(j->key))) || (rc = ca_put(a, "ca.pem", text, len)))
        goto out;
    pki_cert_times(ca.cert, &t0, &t1);
    fmt_time(t0, nb, sizeof nb);
    fmt_time(t1, na, sizeof na);
    X509_NAME_oneline(X509_get_subject_name(ca.cert), buf, sizeof buf);
    fprintf(out, "Delegate CA %s\n  key      %s\n  valid    %s .. %s\n", buf, j->key, nb, na);
    if (scope_format(&ca.scope, buf, sizeof buf) == STI_OK)
        fprintf(out, "  scope    %s\n", buf);
    fprintf(out,
            "  chain    %d certificate(s) above it\nStored. Next: ca policy oid OID crl "
            "URI [days N].\n",
            sk_X509_num(above));
out:
    free(text);
    pki_ca_free(&ca);
    sk_X509_free(above); /* borrowed */
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    return rc;
}

static int do_ca_policy(struct admin *a, struct job *j, FILE *out)
{
    char text[1024];
    ASN1_OBJECT *o = OBJ_txt2obj(j->subject, 1);
    int uri_ok = (strncmp(j->scope, "http://", 7) == 0 || strncmp(j->scope, "https://", 8) == 0) &&
                 !strpbrk(j->scope, " \t\r\n\"") && strlen(j->scope) < 500;
    ASN1_OBJECT_free(o);
    if (!o || !strchr(j->subject, '.') || strlen(j->subject) > 200) {
        fprintf(out, "oid: a dotted OID, e.g. 2.16.840.1.114569.1.1.3\n");
        return STI_EINVAL;
    }
    if (!uri_ok) {
        fprintf(out, "crl: an http:// or https:// URI\n");
        return STI_EINVAL;
    }
    long days = j->days ? j->days : CA_DEFAULT_DAYS;
    int n = snprintf(text, sizeof text, "oid=%s\ncrl=%s\ndays=%ld\n", j->subject, j->scope, days);
    int rc = ca_put(a, "policy", text, (size_t)n);
    if (rc == STI_OK)
        fprintf(out,
                "Issuance policy: policy %s, CRL %s, %ld day(s) (clipped to the CA's "
                "validity).\n",
                j->subject, j->scope, days);
    return rc;
}

static int do_ca_issue(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL;
    struct pki_ca ca;
    X509 *cert = NULL;
    char *pem = NULL, subj[1024];
    int rc;
    memset(&ca, 0, sizeof ca);
    if ((rc = ca_open(a, &p, &pk, &ca, out)))
        goto out;
    rc = ca_issue_record(a, j, &ca, j->pem, j->pem_len, &cert, out);
    if (rc == STI_EPKI_SIG || rc == STI_EPKI_PARSE)
        fprintf(out, "The request does not parse or its signature does not verify.\n");
    if (rc)
        goto out;
    if ((rc = pki_cert_pem(cert, &pem)))
        goto out;
    X509_NAME_oneline(X509_get_subject_name(cert), subj, sizeof subj);
    fputs(pem, out);
    fprintf(out, "Issued %s to %s (recorded in the ledger).\n", j->x5u, subj);
out:
    free(pem);
    X509_free(cert);
    pki_ca_free(&ca);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    return rc;
}

static int do_ca_self_issue(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL, *afk = NULL;
    struct pki_ca ca;
    struct scope sc;
    X509 *cert = NULL;
    char *csr = NULL, *text = NULL;
    size_t len = 0;
    int rc;
    memset(&ca, 0, sizeof ca);
    scope_init(&sc);
    if ((rc = scope_parse_list(j->scope, &sc)) || sc.n == 0) {
        fprintf(out, "Scope: entries like range:12025550100/100 tn:12025550123 spc:1234\n");
        rc = rc ? rc : STI_ESCOPE_SYNTAX;
        goto out;
    }
    if ((rc = ca_open(a, &p, &pk, &ca, out)) || (rc = ca_p11_key(a, j->key, &p, &afk, out)))
        goto out;
    /* The request travels in memory only; the AF key signs it on the token
     * and the CA checks it like any other. */
    if ((rc = pki_csr_make(afk, j->subject, &sc, &csr))) {
        if (rc == STI_EINVAL)
            fprintf(out, "Subject: C=US,O=Example,CN=SHAKEN 1234\n");
        goto out;
    }
    if ((rc = ca_issue_record(a, j, &ca, csr, strlen(csr), &cert, out)))
        goto out;
    FILE *f = open_memstream(&text, &len);
    if (!f) {
        rc = STI_ENOMEM;
        goto out;
    }
    int nc = 2 + sk_X509_num(ca.chain_above);
    for (int i = 0; i < nc && rc == STI_OK; i++) {
        X509 *x = i == 0 ? cert : i == 1 ? ca.cert : sk_X509_value(ca.chain_above, i - 2);
        char *pem = NULL;
        if ((rc = pki_cert_pem(x, &pem)) == STI_OK)
            fputs(pem, f);
        free(pem);
    }
    fclose(f);
    if (rc)
        goto out;
    pthread_mutex_lock(&a->mu);
    rc = store_put_credential(a->store, j->key, j->key, text, len, NULL);
    pthread_mutex_unlock(&a->mu);
    if (rc)
        goto out;
    fputs(text, out);
    fprintf(out,
            "Issued %s; chain (leaf, Delegate CA, above) stored as credential %s, pending.\n"
            "Publish the chain above at its URL, then: credential x5u %s https://...\n",
            j->x5u, j->key, j->key);
out:
    free(text);
    free(csr);
    X509_free(cert);
    pki_ca_free(&ca);
    EVP_PKEY_free(afk);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    scope_free(&sc);
    return rc;
}

static int do_ca_revoke(struct admin *a, struct job *j, FILE *out)
{
    char ledger[700], serial[PKI_SERIAL_HEX_MAX + 1];
    int reason = PKI_REASON_UNSPECIFIED, rc;
    if (j->subject[0] && pki_crl_reason_parse(j->subject, &reason)) {
        fprintf(out, "Reasons: unspecified keyCompromise cACompromise affiliationChanged "
                     "superseded cessationOfOperation privilegeWithdrawn\n");
        return STI_EINVAL;
    }
    if (pki_serial_canon(j->name, serial)) {
        fprintf(out, "Serial: hexadecimal, as ca issue printed it.\n");
        return STI_EINVAL;
    }
    if ((rc = ca_ledger(a, ledger, sizeof ledger)))
        return rc;
    rc = pki_ledger_revoke(ledger, serial, reason, time(NULL));
    if (rc == STI_ENOTFOUND)
        fprintf(out, "Serial %s was never issued by this CA.\n", serial);
    else if (rc == STI_EEXISTS)
        fprintf(out, "Serial %s is already revoked.\n", serial);
    else if (rc == STI_OK)
        fprintf(out, "Serial %s revoked (%s). Publish a new CRL: ca crl\n", serial,
                pki_crl_reason_name(reason));
    return rc;
}

static int do_ca_crl(struct admin *a, struct job *j, FILE *out)
{
    struct hsm_p11 *p = NULL;
    EVP_PKEY *pk = NULL;
    struct pki_ca ca;
    struct pki_ledger l;
    char ledger[700], *pem = NULL;
    int rc;
    memset(&ca, 0, sizeof ca);
    pki_ledger_init(&l);
    if ((rc = ca_ledger(a, ledger, sizeof ledger)) || (rc = pki_ledger_load(ledger, &l))) {
        fprintf(out, "The ledger cannot be read.\n");
        goto out;
    }
    if ((rc = ca_open(a, &p, &pk, &ca, out)) ||
        (rc = pki_ca_crl(&ca, &l, time(NULL), CA_CRL_DAYS, &pem)))
        goto out;
    /* Kept in the store too: the verifier checks this CA's certificates
     * against it without a fetch (docs/verify.md, Revocation). */
    if ((rc = ca_put(a, "crl", pem, strlen(pem))) != STI_OK) {
        fprintf(out, "The CRL could not be stored.\n");
        goto out;
    }
    j->reload = 1; /* a new verifier process reads it */
    fputs(pem, out);
out:
    free(pem);
    pki_ledger_free(&l);
    pki_ca_free(&ca);
    EVP_PKEY_free(pk);
    if (p)
        hsm_p11_close(p);
    return rc;
}

/* No token work: the stored files only. */
static int do_ca_show(struct admin *a, struct job *j, FILE *out)
{
    STACK_OF(X509) *chain = NULL;
    struct pki_ledger l;
    struct scope sc;
    struct ca_pol pol;
    char *text = NULL, buf[1024], nb[32], na[32], ledger[700];
    size_t n = 0, revoked = 0;
    time_t t0, t1;
    (void)j;
    scope_init(&sc);
    pki_ledger_init(&l);
    int rc = ca_get(a, "ca.pem", &text, &n);
    if (rc == STI_ENOTFOUND) {
        fprintf(out, "No Delegate CA: ca csr KEY ..., then ca certificate KEY.\n");
        rc = STI_OK;
        goto out;
    }
    if (rc || (rc = pki_chain_parse(text, n, &chain)))
        goto out;
    X509 *cert = sk_X509_value(chain, 0);
    free(text);
    text = NULL;
    if (ca_get(a, "key", &text, &n) == STI_OK)
        text[strcspn(text, "\r\n")] = '\0';
    X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
    fprintf(out, "Delegate CA  %s\n", buf);
    X509_NAME_oneline(X509_get_issuer_name(cert), buf, sizeof buf);
    fprintf(out, "  issuer     %s\n  key        %s\n", buf, text ? text : "(unknown)");
    pki_cert_times(cert, &t0, &t1);
    fmt_time(t0, nb, sizeof nb);
    fmt_time(t1, na, sizeof na);
    time_t now = time(NULL);
    fprintf(out, "  valid      %s .. %s%s\n", nb, na,
            now > t1   ? " (EXPIRED)"
            : now < t0 ? " (NOT YET VALID)"
                       : "");
    if (pki_cert_scope(cert, &sc) == STI_OK && scope_format(&sc, buf, sizeof buf) == STI_OK)
        fprintf(out, "  scope      %s\n", buf);
    fprintf(out, "  chain      %d certificate(s) above it\n", sk_X509_num(chain) - 1);
    FILE *devnull = fopen("/dev/null", "w");
    if (ca_policy_load(a, &pol, devnull ? devnull : out) == STI_OK)
        fprintf(out, "  policy     oid %s, crl %s, %ld day(s)\n", pol.oid, pol.crl, pol.days);
    else
        fprintf(out, "  policy     (none: ca policy oid OID crl URI [days N])\n");
    if (devnull)
        fclose(devnull);
    if ((rc = ca_ledger(a, ledger, sizeof ledger)) || (rc = pki_ledger_load(ledger, &l)))
        goto out;
    for (size_t i = 0; i < l.n; i++)
        revoked += l.e[i].revoked != 0;
    fprintf(out, "  ledger     %zu issued, %zu revoked\n", l.n, revoked);
out:
    free(text);
    pki_ledger_free(&l);
    scope_free(&sc);
    sk_X509_pop_free(chain, X509_free);
    return rc;
}

/* ---- firmware updates (docs/update-image.md) ---- */

/* The slots, and the operator's line for them. */
struct upd_slots {
    struct bsp_slots s;
    char line[256], version[16];
};

static void upd_slots_read(struct upd_slots *u)
{
    bsp_update_slots(&u->s);
    bsp_update_status(u->line, sizeof u->line);
    bsp_version_str(u->s.version, u->version, sizeof u->version);
}

/* "slot a" or "the factory image", for sentences. */
static const char *upd_slot_words(char slot, char *buf, size_t cap)
{
    if (slot == 'a' || slot == 'b')
        snprintf(buf, cap, "slot %c", slot);
    else
        snprintf(buf, cap, "the factory image");
    return buf;
}

static int do_update_status(struct admin *a, struct job *j, FILE *out)
{
    struct upd_slots s;
    char w1[32], w2[32];
    (void)a;
    (void)j;
    upd_slots_read(&s);
    int trial = s.s.trial;
    fprintf(out, "Firmware:     %s, %s%s\n", s.version, upd_slot_words(s.s.running, w1, sizeof w1),
            trial ? ", on trial" : "");
    fprintf(out, "Slots:        %s\n", s.line);
    if (trial)
        fprintf(out,
                "Trial:        not confirmed yet: it confirms itself once the self-test passed\n"
                "              and it serves, or now with update confirm. A boot before that\n"
                "              falls back to %s.\n",
                upd_slot_words(s.s.active, w2, sizeof w2));
    else if (s.s.pending)
        fprintf(out, "Next boot:    a trial of %s (installed; restart the appliance to run it)\n",
                upd_slot_words(s.s.pending, w2, sizeof w2));
    else
        fprintf(out, "Next boot:    the same image\n");
    if (s.s.rollback)
        fprintf(out, "Fell back:    this boot fell back from %s: its trial never confirmed\n",
                upd_slot_words(s.s.rollback, w2, sizeof w2));
    return STI_OK;
}

static int do_update_install(struct admin *a, struct job *j, FILE *out)
{
    struct upd_slots s;
    struct stat sb;
    char why[512], w[32];
    int urc;
    (void)a;
    /* bsp_update_install reads whatever it is given: not a FIFO (it would
     * block this thread for good) or a device. A path that does not exist
     * is the board's to report, after its own checks. */
    int st = stat(j->name, &sb);
    if (st == 0 && !S_ISREG(sb.st_mode)) {
        snprintf(why, sizeof why, "%.400s: not a regular file", j->name);
        urc = BSP_UPD_EIO;
    } else if (st == 0 && (uint64_t)sb.st_size > (uint64_t)BSP_IMG_HDR_LEN + BSP_IMG_MAX_PAYLOAD) {
        snprintf(why, sizeof why, "not an update image (larger than %u MiB)",
                 BSP_IMG_MAX_PAYLOAD >> 20);
        urc = BSP_UPD_EFORMAT;
    } else {
        urc = bsp_update_install(j->name, why, sizeof why);
    }
    upd_slots_read(&s);
    if (urc != BSP_UPD_OK) {
        fprintf(out, "Not installed: %s (%s %d).\n", why, bsp_update_rc_name(urc), urc);
        if (urc == BSP_UPD_EBUSY && s.s.trial)
            fprintf(out, "To keep the running trial image: update confirm.\n");
        fprintf(out, "The update slots are unchanged.\n");
        snprintf(j->audit_res, sizeof j->audit_res, "refused %s %d: %s", bsp_update_rc_name(urc),
                 urc, why);
        return STI_EUPDATE;
    }
    if (why[0] >= 'a' && why[0] <= 'z')
        why[0] = (char)(why[0] - 'a' + 'A');
    fprintf(out, "%s.\n", why);
    fprintf(out,
            "Next: restart the appliance. Its next boot is a trial of the new image: it\n"
            "confirms itself once the self-test passed and it serves (or: update confirm).\n"
            "A trial that never confirms falls back to %s at the boot after.\n",
            upd_slot_words(s.s.active, w, sizeof w));
    fprintf(out, "Slots:        %s\n", s.line);
    snprintf(j->audit_res, sizeof j->audit_res, "ok: %s", why);
    return STI_OK;
}

static int do_update_confirm(struct admin *a, struct job *j, FILE *out)
{
    struct upd_slots s;
    char w[32];
    (void)a;
    upd_slots_read(&s);
    if (!s.s.trial) {
        fprintf(out, "Nothing to confirm: the running image (%s, %s) is not on trial.\n", s.version,
                upd_slot_words(s.s.running, w, sizeof w));
        fprintf(out, "Slots:        %s\n", s.line);
        snprintf(j->audit_res, sizeof j->audit_res, "ok: nothing to confirm");
        return STI_OK;
    }
    int rc = bsp_update_confirm();
    if (rc) {
        fprintf(out, "The trial of %s could not be confirmed: the slot files cannot be written.\n",
                upd_slot_words(s.s.running, w, sizeof w));
        return rc;
    }
    fprintf(out, "Confirmed: %s (%s) is the active image now; later boots keep it.\n",
            upd_slot_words(s.s.running, w, sizeof w), s.version);
    if (j->health != 0)
        fprintf(out, "Note: confirmed by hand while health is %s: %s\n",
                j->health == 1 ? "degraded" : "down", j->subject[0] ? j->subject : "see the log");
    snprintf(j->audit_res, sizeof j->audit_res, "ok: %s %s confirmed%s", w, s.version,
             j->health ? " by hand while not healthy" : "");
    upd_slots_read(&s);
    fprintf(out, "Slots:        %s\n", s.line);
    return STI_OK;
}

static void run_job(struct admin *a, struct job *j)
{
    char action[2048];
    FILE *out = open_memstream(&j->text, &j->text_len);
    if (!out) {
        j->rc = STI_ENOMEM;
        return;
    }
    switch (j->kind) {
    case J_KEYS:
        j->rc = do_keys(a, j, out);
        break;
    case J_TOKEN_INIT:
        j->rc = do_token_init(a, j, out);
        snprintf(action, sizeof action, "token init %s", j->name);
        break;
    case J_TOKEN_ATTACH:
        j->rc = do_token_attach(a, j, out);
        snprintf(action, sizeof action, "token attach %s", j->name);
        break;
    case J_TOKEN_PIN:
        j->rc = do_token_pin(a, j, out);
        snprintf(action, sizeof action, "token pin");
        break;
    case J_KEYGEN:
        j->rc = do_keygen(a, j, out);
        snprintf(action, sizeof action, "key generate %s %s", role_name(j->role), j->name);
        break;
    case J_CSR:
        j->rc = do_csr(a, j, out);
        snprintf(action, sizeof action, "csr %s subject \"%.200s\" scope \"%.200s\"", j->key,
                 j->subject, j->scope);
        break;
    case J_IMPORT:
        j->rc = do_import(a, j, out);
        snprintf(action, sizeof action, "credential import %s key %s x5u %s", j->name, j->key,
                 j->x5u[0] ? j->x5u : "(pending)");
        break;
    case J_X5U:
        j->rc = do_x5u(a, j, out);
        snprintf(action, sizeof action, "credential x5u %s %.300s", j->name, j->key);
        break;
    case J_RETIRE:
        j->rc = do_retire(a, j, out);
        snprintf(action, sizeof action, "credential retire %s", j->name);
        break;
    case J_RESET:
        j->rc = do_reset(a, j, out);
        snprintf(action, sizeof action, "factory-reset%s",
                 j->pin1[0] ? " (token re-initialised)" : "");
        break;
    case J_CA_CSR:
        j->rc = do_ca_csr(a, j, out);
        snprintf(action, sizeof action, "ca csr %s subject \"%.200s\" scope \"%.200s\"", j->key,
                 j->subject, j->scope);
        break;
    case J_CA_CERT:
        j->rc = do_ca_cert(a, j, out);
        snprintf(action, sizeof action, "ca certificate %s", j->key);
        break;
    case J_CA_POLICY:
        j->rc = do_ca_policy(a, j, out);
        snprintf(action, sizeof action, "ca policy oid %.200s crl %.300s days %ld", j->subject,
                 j->scope, j->days);
        break;
    case J_CA_ISSUE:
        j->rc = do_ca_issue(a, j, out);
        snprintf(action, sizeof action, "ca issue %.500s", j->x5u);
        break;
    case J_CA_SELF:
        j->rc = do_ca_self_issue(a, j, out);
        snprintf(action, sizeof action, "ca self-issue %s scope \"%.200s\" %.500s", j->key,
                 j->scope, j->x5u);
        break;
    case J_CA_REVOKE:
        j->rc = do_ca_revoke(a, j, out);
        snprintf(action, sizeof action, "ca revoke %.100s reason %.40s", j->name,
                 j->subject[0] ? j->subject : "unspecified");
        break;
    case J_CA_CRL:
        j->rc = do_ca_crl(a, j, out);
        snprintf(action, sizeof action, "ca crl");
        break;
    case J_CA_SHOW:
        j->rc = do_ca_show(a, j, out);
        snprintf(action, sizeof action, "show ca");
        break;
    case J_UPD_STATUS:
        j->rc = do_update_status(a, j, out);
        snprintf(action, sizeof action, "update status");
        break;
    case J_UPD_INSTALL:
        j->rc = do_update_install(a, j, out);
        snprintf(action, sizeof action, "update install %.300s", j->name);
        break;
    case J_UPD_CONFIRM:
        j->rc = do_update_confirm(a, j, out);
        snprintf(action, sizeof action, "update confirm");
        break;
    }
    hsm_wipe(j->pin1, sizeof j->pin1);
    hsm_wipe(j->pin2, sizeof j->pin2);
    fclose(out);
    int quiet = j->kind == J_KEYS || j->kind == J_UPD_STATUS; /* read-only: not audited */
    if (j->audit_res[0]) {
        pthread_mutex_lock(&a->mu);
        store_audit(a->store, "admin", action, j->audit_res);
        pthread_mutex_unlock(&a->mu);
    } else if (!quiet) {
        audit(a, action, j->rc);
    }
    if (j->rc)
        log_warn("console: %s: %s", j->kind == J_KEYS ? "show keys" : action,
                 j->audit_res[0] ? j->audit_res : sti_strerror(j->rc));
    else if (j->audit_res[0])
        log_info("console: %s: %s", action, j->audit_res);
    else if (!quiet)
        log_info("console: %s: done", action);
}

static void *admin_main(void *arg)
{
    struct admin *a = arg;
    pthread_mutex_lock(&a->mu);
    for (;;) {
        while (!a->job && !a->stop)
            pthread_cond_wait(&a->cv, &a->mu);
        if (a->stop)
            break;
        struct job *j = a->job;
        pthread_mutex_unlock(&a->mu);
        run_job(a, j);
        pthread_mutex_lock(&a->mu);
        a->job = NULL;
        a->result = j;
        ssize_t w;
        do
            w = write(a->pipe_fd[1], "r", 1);
        while (w < 0 && errno == EINTR);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

/* ---- loop side ---- */

static const struct ctl_cred_state *view_cred(const struct admin_view *v, const char *name)
{
    for (unsigned k = 0; v->health && k < v->health->ncreds; k++)
        if (strcmp(v->health->cred[k].name, name) == 0)
            return &v->health->cred[k];
    return NULL;
}

/* The front signs with what the store says: it runs the configuration the
 * parent sent last, and every stored credential with an x5u is in use
 * with that x5u and its key bound (an import: with this very leaf). */
static int in_sync(struct admin *a, const struct job *j)
{
    struct store_state st;
    struct admin_view v;
    a->env.view(a->env.view_arg, &v);
    /* The front runs what the parent sent last, and has tested its keys. */
    if (!v.health || v.health->gen != v.gen || v.health->selftest == 3)
        return 0;
    state_copy(a, &st);
    for (size_t i = 0; i < st.ncred; i++) {
        if (!st.cred[i].x5u[0])
            continue;
        const struct ctl_cred_state *c = view_cred(&v, st.cred[i].name);
        if (!c || strcmp(c->x5u, st.cred[i].x5u) != 0 || !c->bound)
            return 0;
        if (j->want_leaf && strcmp(j->name, c->name) == 0) {
            unsigned char md[32], *der = NULL;
            int dl = i2d_X509(j->want_leaf, &der);
            int same = dl > 0 && EVP_Digest(der, (size_t)dl, md, NULL, EVP_sha256(), NULL) &&
                       memcmp(md, c->leaf_sha256, 32) == 0;
            OPENSSL_free(der);
            if (!same)
                return 0;
        }
    }
    if (j->kind == J_RETIRE && view_cred(&v, j->name))
        return 0;
    return 1;
}

static void deliver(struct admin *a, struct job *j, int rc, const char *extra)
{
    char *text = j->text;
    size_t n = j->text_len;
    char *joined = NULL;
    if (extra) {
        size_t e = strlen(extra);
        joined = malloc(n + e + 1);
        if (joined) {
            memcpy(joined, text ? text : "", n);
            memcpy(joined + n, extra, e + 1);
            text = joined;
            n += e;
        }
    }
    (void)a;
    j->done.fn(j->done.ctx, rc, text, n);
    free(joined);
    job_free(j);
}

static void on_reconcile(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    struct job *j = a->waiting;
    (void)fd;
    (void)what;
    if (!j)
        return;
    a->ticks++;
    if (in_sync(a, j)) {
        a->waiting = NULL;
        deliver(a, j, STI_OK,
                j->kind == J_RETIRE                         ? "No longer signing with it.\n"
                : (j->kind == J_IMPORT || j->kind == J_X5U) ? "Signing with it now.\n"
                                                            : "Reloaded.\n");
        return;
    }
    if (a->ticks >= RECONCILE_MAX_TICKS) {
        a->waiting = NULL;
        deliver(a, j, STI_ETIMEOUT,
                "Committed to the store, but the daemon has not taken it up (see the log).\n");
        return;
    }
    if (a->ticks % RECONCILE_RETRY_TICKS == 0) /* a reload was under way: ask again */
        a->env.request_reload();
    struct timeval tv = {0, RECONCILE_TICK_MS * 1000};
    evtimer_add(a->reconcile_ev, &tv);
}

static void on_result(evutil_socket_t fd, short what, void *arg)
{
    struct admin *a = arg;
    char buf[16];
    (void)what;
    while (read(fd, buf, sizeof buf) > 0)
        ;
    pthread_mutex_lock(&a->mu);
    struct job *j = a->result;
    a->result = NULL;
    pthread_mutex_unlock(&a->mu);
    if (!j)
        return;
    if (j->rc == STI_OK && j->reload) {
        a->env.request_reload();
        if (j->kind == J_RESET) {
            deliver(a, j, STI_OK, NULL);
            return;
        }
        a->waiting = j;
        a->ticks = 0;
        struct timeval tv = {0, RECONCILE_TICK_MS * 1000};
        evtimer_add(a->reconcile_ev, &tv);
        return;
    }
    deliver(a, j, j->rc, NULL);
}

static struct job *job_new(enum job_kind kind, struct cli_done done)
{
    struct job *j = calloc(1, sizeof *j);
    if (!j) {
        done.fn(done.ctx, STI_ENOMEM, NULL, 0);
        return NULL;
    }
    j->kind = kind;
    j->done = done;
    return j;
}

static void submit(struct admin *a, struct job *j)
{
    if (!j)
        return;
    pthread_mutex_lock(&a->mu);
    int busy = a->job || a->result || a->waiting;
    if (!busy)
        a->job = j;
    pthread_cond_signal(&a->cv);
    pthread_mutex_unlock(&a->mu);
    if (busy) {
        struct cli_done d = j->done;
        job_free(j);
        d.fn(d.ctx, STI_EBUSY, NULL, 0);
    }
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* ---- the ops ---- */

static int op_admin_get(void *arg, char *rec, size_t cap)
{
    struct admin *a = arg;
    pthread_mutex_lock(&a->mu);
    int rc = store_get_admin_hash(a->store, rec, cap);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static int op_admin_set(void *arg, const char *rec)
{
    struct admin *a = arg;
    pthread_mutex_lock(&a->mu);
    int rc = store_set_admin_hash(a->store, rec);
    pthread_mutex_unlock(&a->mu);
    return rc;
}

static void op_audit(void *arg, const char *who, const char *action, const char *result)
{
    struct admin *a = arg;
    pthread_mutex_lock(&a->mu);
    store_audit(a->store, who, action, result);
    pthread_mutex_unlock(&a->mu);
    log_info("console: %s %s: %s", who, action, result);
}

static const char *cred_state_name(int s)
{
    return s == 0 ? "valid" : s == 1 ? "EXPIRED" : s == 2 ? "NOT YET VALID" : "unavailable";
}

static void show_status(struct admin *a, FILE *out)
{
    struct store_state st;
    struct admin_view v;
    time_t now = time(NULL);
    char ts[32];
    size_t pending = 0;
    a->env.view(a->env.view_arg, &v);
    const struct ctl_health *h = v.health;
    const struct cred_table *t = v.creds;
    state_copy(a, &st);
    fmt_time(now, ts, sizeof ts);
    fprintf(out, "Clock:        %s\n", ts);
    fprintf(out, "Token:        %s%s\n", a->env.cfg->token[0] ? a->env.cfg->token : "(none)",
            st.has_pin ? ", PIN stored" : ", no PIN stored");
    if (!h) {
        fprintf(out, "Front:        not reporting (starting or restarting)\n");
    } else if (h->have_pool) {
        fprintf(out, "HSM workers:  %u of %u ready, %llu restart(s), last error %s\n", h->ready,
                h->workers, (unsigned long long)h->worker_deaths,
                h->last_error ? sti_errname(h->last_error) : "none");
    } else {
        fprintf(out, "HSM workers:  none (not provisioned)\n");
    }
    if (h) {
        fprintf(out, "Health:       %s%s%s\n",
                h->state == 0   ? "ready"
                : h->state == 1 ? "degraded"
                                : "down",
                h->reason[0] ? ": " : "", h->reason);
        fprintf(out, "Self-test:    %s\n",
                !h->have_pool      ? "not run (no token session)"
                : h->selftest == 1 ? "passed"
                : h->selftest == 2 ? "FAILED (see Health)"
                : h->selftest == 3 ? "running"
                                   : "not run (no token session)");
        fprintf(out, "Counters:     %llu signed, %llu failed, %u in flight\n",
                (unsigned long long)h->signed_ok, (unsigned long long)h->failed, h->in_flight);
    }
    fprintf(out, "Credentials:  %u in use\n", h ? h->ncreds : 0);
    for (size_t i = 0; t && i < t->n; i++) {
        const struct cred *c = &t->c[i];
        const struct ctl_cred_state *u = view_cred(&v, c->name);
        if (!u)
            continue;
        char na[32];
        fmt_time(c->not_after, na, sizeof na);
        long days = (long)((c->not_after - now) / 86400);
        fprintf(out, "  %-16s %s%s, until %s (%ld day(s)), %llu signed\n", c->name,
                cred_state_name(u->state), u->bound ? "" : " (key not bound)", na, days,
                (unsigned long long)u->signed_ok);
        fprintf(out, "  %-16s scope %s\n  %-16s x5u %s\n", "", c->scope_text, "", u->x5u);
    }
    for (size_t i = 0; i < st.ncred; i++)
        pending += !st.cred[i].x5u[0];
    fprintf(out, "Store:        %s, generation %lu, %zu credential(s), %zu pending x5u\n",
            store_dir(a->store), st.gen, st.ncred, pending);
}

static void show_creds(struct admin *a, FILE *out)
{
    struct store_state st;
    struct admin_view v;
    time_t now = time(NULL);
    a->env.view(a->env.view_arg, &v);
    const struct cred_table *t = v.creds;
    state_copy(a, &st);
    if (st.ncred == 0)
        fprintf(out, "No credentials in the store.\n");
    for (size_t i = 0; i < st.ncred; i++) {
        const struct store_cred *sc = &st.cred[i];
        const struct cred *c = NULL;
        for (size_t k = 0; t && k < t->n; k++)
            if (strcmp(t->c[k].name, sc->name) == 0)
                c = &t->c[k];
        const struct ctl_cred_state *u = view_cred(&v, sc->name);
        fprintf(out, "credential %s\n  key      %s\n  chain    %s\n  x5u      %s\n", sc->name,
                sc->key, sc->chain, sc->x5u[0] ? sc->x5u : "(pending: credential x5u)");
        if (c && u) {
            char nb[32], na[32];
            fmt_time(c->not_before, nb, sizeof nb);
            fmt_time(c->not_after, na, sizeof na);
            fprintf(out, "  subject  %s\n  valid    %s .. %s (%s)\n  scope    %s\n  in use   %s\n",
                    c->subject, nb, na, cred_state_name(cred_state(c, now)), c->scope_text,
                    u->bound ? "yes" : "no (key not bound)");
        } else {
            fprintf(out, "  in use   no\n");
        }
    }
}

static void op_show(void *arg, enum cli_show what, struct cli_done done)
{
    struct admin *a = arg;
    char *text = NULL;
    size_t n = 0;
    int rc = STI_OK;
    if (what == CLI_SHOW_KEYS) {
        submit(a, job_new(J_KEYS, done));
        return;
    }
    if (what == CLI_SHOW_AUDIT) {
        pthread_mutex_lock(&a->mu);
        rc = store_audit_tail(a->store, 64 * 1024, &text, &n);
        pthread_mutex_unlock(&a->mu);
        done.fn(done.ctx, rc, text, n);
        free(text);
        return;
    }
    FILE *out = open_memstream(&text, &n);
    if (!out) {
        done.fn(done.ctx, STI_ENOMEM, NULL, 0);
        return;
    }
    if (what == CLI_SHOW_STATUS)
        show_status(a, out);
    else
        show_creds(a, out);
    fclose(out);
    done.fn(done.ctx, STI_OK, text, n);
    free(text);
}

static void op_token_init(void *arg, const char *label, const char *so_pin, const char *user_pin,
                          struct cli_done done)
{
    struct job *j = job_new(J_TOKEN_INIT, done);
    if (j) {
        copy(j->name, sizeof j->name, label);
        copy(j->pin1, sizeof j->pin1, so_pin);
        copy(j->pin2, sizeof j->pin2, user_pin);
    }
    submit(arg, j);
}

static void op_token_attach(void *arg, const char *label, struct cli_done done)
{
    struct job *j = job_new(J_TOKEN_ATTACH, done);
    if (j)
        copy(j->name, sizeof j->name, label);
    submit(arg, j);
}

static void op_token_pin(void *arg, const char *pin, struct cli_done done)
{
    struct job *j = job_new(J_TOKEN_PIN, done);
    if (j)
        copy(j->pin1, sizeof j->pin1, pin);
    submit(arg, j);
}

static void op_key_generate(void *arg, enum cli_role role, const char *label, struct cli_done done)
{
    struct job *j = job_new(J_KEYGEN, done);
    if (j) {
        j->role = role;
        copy(j->name, sizeof j->name, label);
    }
    submit(arg, j);
}

static void op_csr(void *arg, const char *key, const char *subject, const char *scope,
                   struct cli_done done)
{
    struct job *j = job_new(J_CSR, done);
    if (j) {
        copy(j->key, sizeof j->key, key);
        copy(j->subject, sizeof j->subject, subject);
        copy(j->scope, sizeof j->scope, scope);
    }
    submit(arg, j);
}

static void op_cred_import(void *arg, const char *name, const char *key, const char *pem, size_t n,
                           const char *x5u, struct cli_done done)
{
    struct job *j = job_new(J_IMPORT, done);
    if (j) {
        copy(j->name, sizeof j->name, name);
        copy(j->key, sizeof j->key, key);
        copy(j->x5u, sizeof j->x5u, x5u);
        j->pem = malloc(n + 1);
        if (!j->pem) {
            job_free(j);
            done.fn(done.ctx, STI_ENOMEM, NULL, 0);
            return;
        }
        memcpy(j->pem, pem, n);
        j->pem[n] = '\0';
        j->pem_len = n;
    }
    submit(arg, j);
}

static void op_cred_x5u(void *arg, const char *name, const char *url, struct cli_done done)
{
    struct job *j = job_new(J_X5U, done);
    if (j) {
        copy(j->name, sizeof j->name, name);
        copy(j->key, sizeof j->key, url);
    }
    submit(arg, j);
}

static void op_cred_retire(void *arg, const char *name, struct cli_done done)
{
    struct job *j = job_new(J_RETIRE, done);
    if (j)
        copy(j->name, sizeof j->name, name);
    submit(arg, j);
}

static void op_factory_reset(void *arg, const char *so_pin, struct cli_done done)
{
    struct job *j = job_new(J_RESET, done);
    if (j) {
        copy(j->pin1, sizeof j->pin1, so_pin);
        j->reload = 1;
    }
    submit(arg, j);
}

static void op_ca_csr(void *arg, const char *key, const char *subject, const char *scope,
                      struct cli_done done)
{
    struct job *j = job_new(J_CA_CSR, done);
    if (j) {
        copy(j->key, sizeof j->key, key);
        copy(j->subject, sizeof j->subject, subject);
        copy(j->scope, sizeof j->scope, scope);
    }
    submit(arg, j);
}

static void op_ca_paste(void *arg, enum job_kind kind, const char *key, const char *pem, size_t n,
                        struct cli_done done)
{
    struct job *j = job_new(kind, done);
    if (j) {
        copy(j->key, sizeof j->key, key);
        j->pem = malloc(n + 1);
        if (!j->pem) {
            job_free(j);
            done.fn(done.ctx, STI_ENOMEM, NULL, 0);
            return;
        }
        memcpy(j->pem, pem, n);
        j->pem[n] = '\0';
        j->pem_len = n;
    }
    submit(arg, j);
}

static void op_ca_cert(void *arg, const char *key, const char *pem, size_t n, struct cli_done done)
{
    op_ca_paste(arg, J_CA_CERT, key, pem, n, done);
}

static void op_ca_issue(void *arg, const char *pem, size_t n, struct cli_done done)
{
    op_ca_paste(arg, J_CA_ISSUE, "", pem, n, done);
}

static void op_ca_policy(void *arg, const char *oid, const char *crl_uri, long days,
                         struct cli_done done)
{
    struct job *j = job_new(J_CA_POLICY, done);
    if (j) {
        copy(j->subject, sizeof j->subject, oid);
        copy(j->scope, sizeof j->scope, crl_uri);
        j->days = days;
    }
    submit(arg, j);
}

static void op_ca_self_issue(void *arg, const char *afkey, const char *subject, const char *scope,
                             struct cli_done done)
{
    struct job *j = job_new(J_CA_SELF, done);
    if (j) {
        copy(j->key, sizeof j->key, afkey);
        copy(j->subject, sizeof j->subject, subject);
        copy(j->scope, sizeof j->scope, scope);
    }
    submit(arg, j);
}

static void op_ca_revoke(void *arg, const char *serial, const char *reason, struct cli_done done)
{
    struct job *j = job_new(J_CA_REVOKE, done);
    if (j) {
        copy(j->name, sizeof j->name, serial);
        copy(j->subject, sizeof j->subject, reason);
    }
    submit(arg, j);
}

static void op_ca_crl(void *arg, struct cli_done done)
{
    submit(arg, job_new(J_CA_CRL, done));
}

static void op_ca_show(void *arg, struct cli_done done)
{
    submit(arg, job_new(J_CA_SHOW, done));
}

static void op_update_status(void *arg, struct cli_done done)
{
    submit(arg, job_new(J_UPD_STATUS, done));
}

static void op_update_install(void *arg, const char *path, struct cli_done done)
{
    struct job *j = job_new(J_UPD_INSTALL, done);
    if (j)
        copy(j->name, sizeof j->name, path);
    submit(arg, j);
}

static void op_update_confirm(void *arg, struct cli_done done)
{
    struct admin *a = arg;
    struct admin_view v;
    struct job *j = job_new(J_UPD_CONFIRM, done);
    /* The health is the front's last report: read here, used by the job. */
    a->env.view(a->env.view_arg, &v);
    if (j) {
        j->health = v.health ? v.health->state : WIRE_STATE_DOWN;
        snprintf(j->subject, sizeof j->subject, "%s",
                 v.health ? v.health->reason : "the front is not reporting");
    }
    submit(a, j);
}

void admin_cli_ops(struct admin *a, struct cli_ops *ops)
{
    memset(ops, 0, sizeof *ops);
    ops->arg = a;
    ops->admin_get = op_admin_get;
    ops->admin_set = op_admin_set;
    ops->audit = op_audit;
    ops->show = op_show;
    ops->token_init = op_token_init;
    ops->token_attach = op_token_attach;
    ops->token_pin = op_token_pin;
    ops->key_generate = op_key_generate;
    ops->csr = op_csr;
    ops->cred_import = op_cred_import;
    ops->cred_x5u = op_cred_x5u;
    ops->cred_retire = op_cred_retire;
    ops->factory_reset = op_factory_reset;
    ops->ca_csr = op_ca_csr;
    ops->ca_cert = op_ca_cert;
    ops->ca_policy = op_ca_policy;
    ops->ca_issue = op_ca_issue;
    ops->ca_self_issue = op_ca_self_issue;
    ops->ca_revoke = op_ca_revoke;
    ops->ca_crl = op_ca_crl;
    ops->ca_show = op_ca_show;
    ops->update_status = op_update_status;
    ops->update_install = op_update_install;
    ops->update_confirm = op_update_confirm;
}

int admin_new(const struct admin_env *env, struct admin **out)
{
    int rc;
    if (!env->cfg->store_dir[0])
        return STI_ECONFIG;
    struct admin *a = calloc(1, sizeof *a);
    if (!a)
        return STI_ENOMEM;
    a->env = *env;
    a->pipe_fd[0] = a->pipe_fd[1] = -1;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    if ((rc = store_open(env->cfg->store_dir, &a->store))) {
        log_error("store %s: %s", env->cfg->store_dir, sti_strerror(rc));
        goto fail;
    }
    rc = STI_EINTERNAL;
    if (pipe2(a->pipe_fd, O_CLOEXEC | O_NONBLOCK) != 0)
        goto fail;
    a->pipe_ev = event_new(env->base, a->pipe_fd[0], EV_READ | EV_PERSIST, on_result, a);
    a->reconcile_ev = evtimer_new(env->base, on_reconcile, a);
    if (!a->pipe_ev || !a->reconcile_ev || event_add(a->pipe_ev, NULL) != 0)
        goto fail;
    if (pthread_create(&a->thread, NULL, admin_main, a) != 0)
        goto fail;
    a->thread_ok = 1;
    *out = a;
    return STI_OK;
fail:
    admin_free(a);
    return rc;
}

void admin_free(struct admin *a)
{
    if (!a)
        return;
    if (a->thread_ok) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_signal(&a->cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    job_free(a->job);
    job_free(a->result);
    job_free(a->waiting);
    if (a->pipe_ev)
        event_free(a->pipe_ev);
    if (a->reconcile_ev)
        event_free(a->reconcile_ev);
    for (int i = 0; i < 2; i++)
        if (a->pipe_fd[i] >= 0)
            close(a->pipe_fd[i]);
    store_close(a->store);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cv);
    free(a);
}
