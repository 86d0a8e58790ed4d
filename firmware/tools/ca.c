/*
 * ca.c — `stisign ca ...`: the Delegate CA on the appliance. Its key stays
 * on the token (libp11 signs); its certificate, optional chain above it
 * and its ledger (DIR/ledger) are files. PINs only from PIN files.
 *
 *   ca csr        the Delegate CA's request to the STI-CA
 *   ca issue      an end-entity certificate from a Customer AF's request
 *   ca self-issue request + issue for a Customer AF key on this token
 *   ca revoke     record a revocation in the ledger
 *   ca crl        a CRL of every revocation, signed on the token
 *   ca list       the ledger
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ca.h"
#include "hsm.h"
#include "hsm_p11.h"
#include "ledger.h"
#include "opts.h"
#include "pki.h"
#include "sti_err.h"
#include "tools.h"

#ifndef STI_DEFAULT_MODULE
#define STI_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif
#define NOPT(t) (sizeof(t) / sizeof((t)[0]))
#define CA_FILE_MAX (256 * 1024)
#define CA_PATH_MAX 4096
#define CA_OUTSIDE_MAX 8192

/* ------------------------------------------------------------------ */
/* Shared pieces */

/* Reads a whole file (at most max bytes) into a NUL-terminated buffer. */
static int ca_read_file(const char *path, size_t max, char **out, size_t *n)
{
    int rc = STI_EIO;
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return STI_EIO;
    buf = malloc(max + 1);
    STI_CHECK(buf != NULL, STI_ENOMEM);
    size_t got = fread(buf, 1, max + 1, f);
    STI_CHECK(!ferror(f), STI_EIO);
    STI_CHECK(got <= max, STI_ETOOLONG);
    buf[got] = '\0';
    *out = buf;
    *n = got;
    buf = NULL;
    rc = STI_OK;
out:
    free(buf);
    fclose(f);
    return rc;
}

static int ca_ledger_path(const char *dir, char out[CA_PATH_MAX])
{
    if (snprintf(out, CA_PATH_MAX, "%s/ledger", dir) >= CA_PATH_MAX)
        return STI_ETOOLONG;
    return STI_OK;
}

/* The CA context from --ca-cert/--ca-chain and a token key. */
static int ca_context(const struct opt *o, size_t no, EVP_PKEY *key, struct pki_ca *ca)
{
    const char *cert = opts_get(o, no, "ca-cert");
    int rc = pki_ca_load(ca, cert, opts_get(o, no, "ca-chain"), key, time(NULL));
    if (rc)
        tool_error(rc, cert);
    return rc;
}

static int ca_spc_policy(const struct opt *o, size_t no, enum scope_spc_policy *out)
{
    const char *v = opts_get(o, no, "spc-policy");
    if (v == NULL || strcmp(v, "deny") == 0)
        *out = SCOPE_SPC_DENY;
    else if (strcmp(v, "allow") == 0)
        *out = SCOPE_SPC_ALLOW;
    else
        return -1;
    return 0;
}

/* Issues from a request, records it in the ledger, returns the cert. A
 * certificate whose ledger line could not be written is never released. */
static int ca_issue_record(const struct pki_ca *ca, const char *dir, const char *csr, size_t n,
                           const struct pki_issue_policy *pol, X509 **cert)
{
    static char text[CA_OUTSIDE_MAX], detail[CA_OUTSIDE_MAX + 16];
    char ledger[CA_PATH_MAX];
    struct scope outside;
    int rc;

    scope_init(&outside);
    *cert = NULL;
    if ((rc = ca_ledger_path(dir, ledger))) {
        tool_error(rc, dir);
        return rc;
    }
    time_t now = time(NULL);
    rc = pki_ca_issue(ca, csr, n, pol, now, cert, &outside, detail, sizeof detail);
    if (rc == STI_ESCOPE_OUTSIDE) {
        if (scope_format(&outside, text, sizeof text) != STI_OK)
            strcpy(text, "(too many entries to list)");
        snprintf(detail, sizeof detail, "outside: %s", text);
        tool_error(rc, detail);
    } else if (rc) {
        tool_error(rc, detail[0] ? detail : NULL);
    } else if ((rc = pki_ledger_append_issue(ledger, *cert, now))) {
        tool_error(rc, ledger);
        X509_free(*cert);
        *cert = NULL;
    }
    scope_free(&outside);
    return rc;
}

static int ca_policy_from(const struct opt *o, size_t no, struct pki_issue_policy *pol)
{
    memset(pol, 0, sizeof *pol);
    pol->policy_oid = opts_get(o, no, "policy-oid");
    pol->crl_uri = opts_get(o, no, "crl-uri");
    pol->subject_override = NULL;
    if (opts_long(o, no, "days", 365, 1, PKI_CA_DAYS_MAX, &pol->days) ||
        ca_spc_policy(o, no, &pol->spc_policy))
        return -1;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Subcommands */

static int ca_csr(int argc, char **argv)
{
    return tool_csr_run(argc, argv, 1);
}

static int ca_issue(int argc, char **argv)
{
    struct opt o[] = {
        {"module", 1, 0, {0}, 0},     {"token", 1, 0, {0}, 0},   {"pin-file", 1, 0, {0}, 0},
        {"key", 1, 0, {0}, 0},        {"ca-cert", 1, 0, {0}, 0}, {"ca-chain", 1, 0, {0}, 0},
        {"ca-dir", 1, 0, {0}, 0},     {"csr", 1, 0, {0}, 0},     {"policy-oid", 1, 0, {0}, 0},
        {"crl-uri", 1, 0, {0}, 0},    {"days", 1, 0, {0}, 0},    {"subject", 1, 0, {0}, 0},
        {"spc-policy", 1, 0, {0}, 0}, {"out", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    struct pki_issue_policy pol;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "key") ||
        !opts_get(o, NOPT(o), "ca-cert") || !opts_get(o, NOPT(o), "ca-dir") ||
        !opts_get(o, NOPT(o), "csr") || !opts_get(o, NOPT(o), "policy-oid") ||
        !opts_get(o, NOPT(o), "crl-uri") || ca_policy_from(o, NOPT(o), &pol)) {
        fprintf(stderr, "usage: stisign ca issue [--module SO] --token T --pin-file F --key LABEL "
                        "--ca-cert CA.pem [--ca-chain FILE] --ca-dir DIR --csr REQ.pem "
                        "--policy-oid OID --crl-uri URI [--days N] [--subject S] "
                        "[--spc-policy deny|allow] [--out CERT.pem]\n");
        return 2;
    }
    pol.subject_override = opts_get(o, NOPT(o), "subject");
    struct hsm_p11 *p = NULL;
    EVP_PKEY *key = NULL;
    struct pki_ca ca;
    X509 *cert = NULL;
    char *csr = NULL, *pem = NULL;
    size_t n = 0;
    int rc;
    memset(&ca, 0, sizeof ca);
    if ((rc = ca_read_file(opts_get(o, NOPT(o), "csr"), CA_FILE_MAX, &csr, &n))) {
        tool_error(rc, opts_get(o, NOPT(o), "csr"));
        goto out;
    }
    if ((rc = tool_p11_open(o, NOPT(o), &p)) ||
        (rc = tool_p11_key(p, opts_get(o, NOPT(o), "key"), &key)) ||
        (rc = ca_context(o, NOPT(o), key, &ca)))
        goto out;
    if ((rc = ca_issue_record(&ca, opts_get(o, NOPT(o), "ca-dir"), csr, n, &pol, &cert)))
        goto out;
    if ((rc = pki_cert_pem(cert, &pem)) || (rc = tool_write_out(opts_get(o, NOPT(o), "out"), pem)))
        tool_error(rc, opts_get(o, NOPT(o), "out"));
out:
    free(pem);
    free(csr);
    X509_free(cert);
    pki_ca_free(&ca);
    EVP_PKEY_free(key);
    if (p)
        hsm_p11_close(p);
    return rc ? 1 : 0;
}

static int ca_self_issue(int argc, char **argv)
{
    struct opt o[] = {
        {"module", 1, 0, {0}, 0},  {"token", 1, 0, {0}, 0},      {"pin-file", 1, 0, {0}, 0},
        {"ca-key", 1, 0, {0}, 0},  {"ca-cert", 1, 0, {0}, 0},    {"ca-chain", 1, 0, {0}, 0},
        {"ca-dir", 1, 0, {0}, 0},  {"af-key", 1, 0, {0}, 0},     {"scope", 1, 0, {0}, 0},
        {"subject", 1, 0, {0}, 0}, {"policy-oid", 1, 0, {0}, 0}, {"crl-uri", 1, 0, {0}, 0},
        {"days", 1, 0, {0}, 0},    {"spc-policy", 1, 0, {0}, 0}, {"out", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    struct pki_issue_policy pol;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "ca-key") ||
        !opts_get(o, NOPT(o), "ca-cert") || !opts_get(o, NOPT(o), "ca-dir") ||
        !opts_get(o, NOPT(o), "af-key") || !opts_get(o, NOPT(o), "scope") ||
        !opts_get(o, NOPT(o), "subject") || !opts_get(o, NOPT(o), "policy-oid") ||
        !opts_get(o, NOPT(o), "crl-uri") || !opts_get(o, NOPT(o), "out") ||
        ca_policy_from(o, NOPT(o), &pol)) {
        fprintf(stderr, "usage: stisign ca self-issue [--module SO] --token T --pin-file F "
                        "--ca-key CALABEL --ca-cert CA.pem [--ca-chain FILE] --ca-dir DIR "
                        "--af-key AFLABEL --scope \"...\" --subject S --policy-oid OID "
                        "--crl-uri URI [--days N] [--spc-policy deny|allow] --out CHAIN.pem\n");
        return 2;
    }
    struct scope sc;
    struct hsm_p11 *p = NULL;
    EVP_PKEY *cakey = NULL, *afkey = NULL;
    struct pki_ca ca;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    char *csr = NULL, *text = NULL;
    int rc;
    memset(&ca, 0, sizeof ca);
    scope_init(&sc);
    if ((rc = scope_parse_list(opts_get(o, NOPT(o), "scope"), &sc)) || sc.n == 0) {
        rc = rc ? rc : STI_ESCOPE_SYNTAX;
        tool_error(rc, opts_get(o, NOPT(o), "scope"));
        goto out;
    }
    if ((rc = tool_p11_open(o, NOPT(o), &p)) ||
        (rc = tool_p11_key(p, opts_get(o, NOPT(o), "ca-key"), &cakey)) ||
        (rc = tool_p11_key(p, opts_get(o, NOPT(o), "af-key"), &afkey)) ||
        (rc = ca_context(o, NOPT(o), cakey, &ca)))
        goto out;
    /* The request travels in memory only; the Customer AF key signs it on
     * the token like any other CSR, so the CA checks it like any other. */
    if ((rc = pki_csr_make(afkey, opts_get(o, NOPT(o), "subject"), &sc, &csr))) {
        tool_error(rc, opts_get(o, NOPT(o), "subject"));
        goto out;
    }
    if ((rc = ca_issue_record(&ca, opts_get(o, NOPT(o), "ca-dir"), csr, strlen(csr), &pol, &cert)))
        goto out;

    /* Leaf first, then the CA and whatever is above it. */
    chain = sk_X509_new_null();
    if (chain == NULL || !sk_X509_push(chain, cert) || !sk_X509_push(chain, ca.cert)) {
        rc = STI_ENOMEM;
        tool_error(rc, NULL);
        goto out;
    }
    for (int i = 0; i < sk_X509_num(ca.chain_above); i++)
        if (!sk_X509_push(chain, sk_X509_value(ca.chain_above, i))) {
            rc = STI_ENOMEM;
            tool_error(rc, NULL);
            goto out;
        }
    if ((rc = pki_chain_check_order(chain))) {
        tool_error(rc, NULL);
        goto out;
    }
    size_t len = 0;
    for (int i = 0; i < sk_X509_num(chain); i++) {
        char *pem = NULL;
        if ((rc = pki_cert_pem(sk_X509_value(chain, i), &pem))) {
            tool_error(rc, NULL);
            goto out;
        }
        char *grown = realloc(text, len + strlen(pem) + 1);
        if (grown == NULL) {
            free(pem);
            rc = STI_ENOMEM;
            tool_error(rc, NULL);
            goto out;
        }
        text = grown;
        memcpy(text + len, pem, strlen(pem) + 1);
        len += strlen(pem);
        free(pem);
    }
    if ((rc = tool_write_out(opts_get(o, NOPT(o), "out"), text)))
        tool_error(rc, opts_get(o, NOPT(o), "out"));
out:
    free(text);
    sk_X509_free(chain); /* borrowed pointers */
    free(csr);
    X509_free(cert);
    pki_ca_free(&ca);
    EVP_PKEY_free(afkey);
    EVP_PKEY_free(cakey);
    if (p)
        hsm_p11_close(p);
    scope_free(&sc);
    return rc ? 1 : 0;
}

static int ca_revoke(int argc, char **argv)
{
    struct opt o[] = {{"ca-dir", 1, 0, {0}, 0}, {"serial", 1, 0, {0}, 0}, {"reason", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    int reason = PKI_REASON_UNSPECIFIED;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "ca-dir") ||
        !opts_get(o, NOPT(o), "serial") ||
        (opts_get(o, NOPT(o), "reason") &&
         pki_crl_reason_parse(opts_get(o, NOPT(o), "reason"), &reason))) {
        fprintf(stderr, "usage: stisign ca revoke --ca-dir DIR --serial HEX [--reason "
                        "unspecified|keyCompromise|cACompromise|affiliationChanged|superseded|"
                        "cessationOfOperation|privilegeWithdrawn]\n");
        return 2;
    }
    char ledger[CA_PATH_MAX];
    int rc = ca_ledger_path(opts_get(o, NOPT(o), "ca-dir"), ledger);
    if (!rc)
        rc = pki_ledger_revoke(ledger, opts_get(o, NOPT(o), "serial"), reason, time(NULL));
    if (rc) {
        tool_error(rc, opts_get(o, NOPT(o), "serial"));
        return 1;
    }
    printf("revoked %s (%s)\n", opts_get(o, NOPT(o), "serial"), pki_crl_reason_name(reason));
    return 0;
}

static int ca_crl(int argc, char **argv)
{
    struct opt o[] = {
        {"module", 1, 0, {0}, 0}, {"token", 1, 0, {0}, 0},   {"pin-file", 1, 0, {0}, 0},
        {"key", 1, 0, {0}, 0},    {"ca-cert", 1, 0, {0}, 0}, {"ca-chain", 1, 0, {0}, 0},
        {"ca-dir", 1, 0, {0}, 0}, {"days", 1, 0, {0}, 0},    {"out", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    long days;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "token") ||
        !opts_get(o, NOPT(o), "pin-file") || !opts_get(o, NOPT(o), "key") ||
        !opts_get(o, NOPT(o), "ca-cert") || !opts_get(o, NOPT(o), "ca-dir") ||
        opts_long(o, NOPT(o), "days", 7, 1, 365, &days)) {
        fprintf(stderr, "usage: stisign ca crl [--module SO] --token T --pin-file F --key LABEL "
                        "--ca-cert CA.pem [--ca-chain FILE] --ca-dir DIR [--days NEXTUPDATE] "
                        "[--out FILE]\n");
        return 2;
    }
    struct hsm_p11 *p = NULL;
    EVP_PKEY *key = NULL;
    struct pki_ca ca;
    struct pki_ledger l;
    char ledger[CA_PATH_MAX], *pem = NULL;
    int rc;
    memset(&ca, 0, sizeof ca);
    pki_ledger_init(&l);
    if ((rc = ca_ledger_path(opts_get(o, NOPT(o), "ca-dir"), ledger)) ||
        (rc = pki_ledger_load(ledger, &l))) {
        tool_error(rc, ledger);
        goto out;
    }
    if ((rc = tool_p11_open(o, NOPT(o), &p)) ||
        (rc = tool_p11_key(p, opts_get(o, NOPT(o), "key"), &key)) ||
        (rc = ca_context(o, NOPT(o), key, &ca)))
        goto out;
    if ((rc = pki_ca_crl(&ca, &l, time(NULL), days, &pem))) {
        tool_error(rc, NULL);
        goto out;
    }
    if ((rc = tool_write_out(opts_get(o, NOPT(o), "out"), pem)))
        tool_error(rc, opts_get(o, NOPT(o), "out"));
out:
    free(pem);
    pki_ledger_free(&l);
    pki_ca_free(&ca);
    EVP_PKEY_free(key);
    if (p)
        hsm_p11_close(p);
    return rc ? 1 : 0;
}

static int ca_list(int argc, char **argv)
{
    struct opt o[] = {{"ca-dir", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos;
    if (opts_parse(argc, argv, o, NOPT(o), pos, 0, &npos) || !opts_get(o, NOPT(o), "ca-dir")) {
        fprintf(stderr, "usage: stisign ca list --ca-dir DIR\n");
        return 2;
    }
    struct pki_ledger l;
    char ledger[CA_PATH_MAX];
    pki_ledger_init(&l);
    int rc = ca_ledger_path(opts_get(o, NOPT(o), "ca-dir"), ledger);
    if (!rc)
        rc = pki_ledger_load(ledger, &l);
    if (rc) {
        tool_error(rc, ledger);
        return 1;
    }
    time_t now = time(NULL);
    for (size_t i = 0; i < l.n; i++) {
        const struct pki_ledger_entry *e = &l.e[i];
        char issued[21], na[21], rv[21];
        pki_time_format(e->issued, issued);
        pki_time_format(e->not_after, na);
        printf("%s: ", e->serial);
        if (e->revoked) {
            pki_time_format(e->revoked_at, rv);
            printf("revoked %s (%s)\n", rv, pki_crl_reason_name(e->reason));
        } else {
            printf("%s\n", now > e->not_after ? "expired" : "valid");
        }
        printf("  subject: %s\n  scope: %s\n  issued: %s\n  notAfter: %s\n", e->subject, e->scope,
               issued, na);
    }
    pki_ledger_free(&l);
    return 0;
}

int tool_ca(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } verbs[] = {{"csr", ca_csr},       {"issue", ca_issue}, {"self-issue", ca_self_issue},
                 {"revoke", ca_revoke}, {"crl", ca_crl},     {"list", ca_list}};
    for (size_t i = 0; argc >= 1 && i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(argv[0], verbs[i].name) == 0)
            return verbs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "usage: stisign ca csr|issue|self-issue|revoke|crl|list ...\n");
    return 2;
}
