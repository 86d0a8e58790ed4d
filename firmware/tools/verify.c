/*
 * verify.c — `stisign verify`: a strict STI-VS on the command line.
 *
 *   stisign verify --trust-anchor ROOT.pem [--cert CHAIN.pem] [--max-age SECS]
 *                  [--skew SECS] [--spc-policy allow|deny] [--cache-dir DIR]
 *                  [--tls-ca FILE] [--now SECS] HEADER_OR_TOKEN|-
 *
 * Exit 0 and the verified claims on stdout; exit 1 and
 * "verify failed: <check>: <code> (<NAME>): <message>[: detail]" on stderr;
 * exit 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "opts.h"
#include "pki.h"
#include "sti_err.h"
#include "stisign.h"
#include "tools.h"
#include "verify.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))

static void verify_usage(void)
{
    fprintf(stderr, "usage: stisign verify --trust-anchor ROOT.pem [--cert CHAIN.pem] "
                    "[--max-age SECS] [--skew SECS] [--spc-policy allow|deny] [--cache-dir DIR] "
                    "[--tls-ca FILE] [--now SECS] HEADER_OR_TOKEN|-\n"
                    "       stisign verify --socket PATH [--max-age SECS] HEADER_OR_TOKEN|-"
                    "   (the daemon verifies)\n");
}

/* The whole of stdin, up to one byte more than any acceptable input. */
static char *verify_stdin(size_t *n)
{
    char *buf = malloc(ID_INPUT_MAX + 2);
    if (buf == NULL)
        return NULL;
    *n = fread(buf, 1, ID_INPUT_MAX + 1, stdin);
    buf[*n] = '\0';
    return buf;
}

/* --socket: the daemon verifies (its trust anchor, cache and policy). */
static int verify_remote(const char *sock, const char *arg, long max_age)
{
    static struct stisign_verify_result v;
    struct stisign_client *c;
    size_t n;
    char *in = strcmp(arg, "-") == 0 ? verify_stdin(&n) : NULL;
    int rc = stisign_connect(sock, &c);
    if (rc == STI_OK) {
        rc = stisign_verify(c, in ? in : arg, (unsigned)max_age, &v);
        stisign_close(c);
    }
    free(in);
    if (rc) {
        tool_error(rc, sock);
        return 1;
    }
    if (v.status) {
        fprintf(stderr, "verify failed: %s: %d (%s): %s%s%s\n", v.check, v.status,
                sti_errname(v.status), v.message, v.detail[0] ? ": " : "", v.detail);
        return 1;
    }
    printf("attest: %c\norig: %s\ndest:", v.attest, v.orig);
    for (unsigned i = 0; i < v.ndest; i++)
        printf(" %s", v.dest[i]);
    printf("\niat: %lld\norigid: %s\nx5u: %s\nleaf: %s\n", v.iat, v.origid, v.x5u, v.subject);
    return 0;
}

int tool_verify(int argc, char **argv)
{
    struct opt o[] = {{"trust-anchor", 1, 0, {0}, 0}, {"cert", 1, 0, {0}, 0},
                      {"max-age", 1, 0, {0}, 0},      {"skew", 1, 0, {0}, 0},
                      {"spc-policy", 1, 0, {0}, 0},   {"cache-dir", 1, 0, {0}, 0},
                      {"tls-ca", 1, 0, {0}, 0},       {"now", 1, 0, {0}, 0},
                      {"socket", 1, 0, {0}, 0}};
    const char *pos[1];
    size_t npos, n;
    long max_age, skew, now;
    char *in = NULL;
    static struct pki_vfy_result r;
    struct pki_vfy_opts vo;
    int rc, ret = 1;

    if (opts_parse(argc, argv, o, NOPT(o), pos, 1, &npos) != 0 ||
        opts_long(o, NOPT(o), "max-age", PKI_VFY_MAX_AGE_DEFAULT, 1, 86400L * 366, &max_age) != 0 ||
        opts_long(o, NOPT(o), "skew", 0, 0, 3600, &skew) != 0 ||
        opts_long(o, NOPT(o), "now", (long)time(NULL), 1, 253402300799L, &now) != 0) {
        verify_usage();
        return 2;
    }
    const char *ta = opts_get(o, NOPT(o), "trust-anchor"), *pol = opts_get(o, NOPT(o), "spc-policy");
    const char *sock = opts_get(o, NOPT(o), "socket");
    if (sock && npos == 1)
        return verify_remote(sock, pos[0], opts_get(o, NOPT(o), "max-age") ? max_age : 0);
    if (ta == NULL || npos != 1 ||
        (pol != NULL && strcmp(pol, "allow") != 0 && strcmp(pol, "deny") != 0)) {
        verify_usage();
        return 2;
    }
    memset(&vo, 0, sizeof vo);
    vo.trust_anchor_file = ta;
    vo.max_age = max_age;
    vo.skew = skew;
    vo.now = (time_t)now;
    vo.spc_policy = pol != NULL && strcmp(pol, "allow") == 0 ? SCOPE_SPC_ALLOW : SCOPE_SPC_DENY;
    vo.cache_dir = opts_get(o, NOPT(o), "cache-dir");
    vo.tls_ca_file = opts_get(o, NOPT(o), "tls-ca");
    vo.allow_fetch = 1;
    const char *cert = opts_get(o, NOPT(o), "cert");
    if (cert != NULL && (rc = pki_chain_load(cert, &vo.chain)) != STI_OK) {
        tool_error(rc, cert);
        return 1;
    }

    if (strcmp(pos[0], "-") == 0) {
        in = verify_stdin(&n);
        if (in == NULL) {
            tool_error(STI_ENOMEM, NULL);
            goto out;
        }
    } else {
        n = strlen(pos[0]);
    }
    rc = pki_verify(in ? in : pos[0], n, &vo, &r);
    if (rc != STI_OK) {
        fprintf(stderr, "verify failed: %s: %d (%s): %s%s%s\n", r.check, rc, sti_errname(rc),
                sti_strerror(rc), r.detail[0] ? ": " : "", r.detail);
        goto out;
    }
    const struct pp_claims *c = &r.claims.c;
    printf("attest: %c\norig: %s\ndest:", c->attest, c->orig);
    for (unsigned i = 0; i < c->ndest; i++)
        printf(" %s", c->dest[i]);
    printf("\niat: %lld\norigid: %s\nx5u: %s\nleaf: %s\n", (long long)c->iat, c->origid, r.x5u,
           r.leaf_subject);
    ret = 0;
out:
    sk_X509_pop_free(vo.chain, X509_free);
    free(in);
    return ret;
}
