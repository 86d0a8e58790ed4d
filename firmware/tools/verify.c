/*
 * verify.c — `stisign verify`: a strict STI-VS on the command line.
 *
 *   stisign verify --trust-anchor ROOT.pem [--cert CHAIN.pem] [--max-age SECS]
 *                  [--skew SECS] [--spc-policy allow|deny] [--crl require|prefer|off]
 *                  [--tls-ca FILE] [--ports LIST] [--crl-http] [--now SECS]
 *                  HEADER_OR_TOKEN|-
 *   stisign verify --socket PATH [--max-age SECS] HEADER_OR_TOKEN|-
 *
 * Locally it runs the verifier's own pipeline (firmware/vs/): the chain
 * from --cert, else fetched from the x5u with the verifier's HTTP client,
 * and each certificate's CRL as --crl says. Exit 0 and the verified claims
 * on stdout; exit 1 and "verify failed: <check>: <code> (<NAME>):
 * <message>[: detail]" on stderr; exit 2 on a usage error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "opts.h"
#include "pki.h"
#include "sti_err.h"
#include "stisign.h"
#include "tools.h"
#include "verify.h"
#include "vs_cache.h"
#include "vs_fetch.h"
#include "vs_verify.h"

#define NOPT(t) (sizeof(t) / sizeof((t)[0]))

static void verify_usage(void)
{
    fprintf(stderr, "usage: stisign verify --trust-anchor ROOT.pem [--cert CHAIN.pem] "
                    "[--max-age SECS] [--skew SECS] [--spc-policy allow|deny] "
                    "[--crl require|prefer|off] [--tls-ca FILE] [--ports LIST] [--crl-http] "
                    "[--now SECS] HEADER_OR_TOKEN|-\n"
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

static const char *verify_rev_name(int rev)
{
    return rev == VS_REV_CHECKED ? "checked" : rev == VS_REV_UNKNOWN ? "unknown" : "off";
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
    printf("\niat: %lld\norigid: %s\nx5u: %s\nleaf: %s\nrevocation: %s\n", v.iat, v.origid, v.x5u,
           v.subject, verify_rev_name((int)v.revocation));
    return 0;
}

/* One local verification on a private event loop. */
struct vlocal {
    struct event_base *base;
    int done, rc;
};

static void verify_print(void *arg, const struct pki_vfy_result *r, int rev)
{
    struct vlocal *l = arg;
    l->done = 1;
    l->rc = r->code;
    event_base_loopbreak(l->base);
    if (r->code != STI_OK) {
        fprintf(stderr, "verify failed: %s: %d (%s): %s%s%s\n", r->check, r->code,
                sti_errname(r->code), sti_strerror(r->code), r->detail[0] ? ": " : "", r->detail);
        return;
    }
    const struct pp_claims *c = &r->claims.c;
    printf("attest: %c\norig: %s\ndest:", c->attest, c->orig);
    for (unsigned i = 0; i < c->ndest; i++)
        printf(" %s", c->dest[i]);
    printf("\niat: %lld\norigid: %s\nx5u: %s\nleaf: %s\nrevocation: %s\n", (long long)c->iat,
           c->origid, r->x5u, r->leaf_subject, verify_rev_name(rev));
}

/* The x5u the header names, to pin --cert under it (so the chain given
 * takes the same path as a fetched one, revocation included). */
static int verify_x5u_of(const char *in, size_t n, const struct vs_verify_cfg *vc, char *x5u,
                         size_t cap)
{
    static struct pki_vfy_result r;
    struct pki_vfy_opts o;
    struct pki_vfy_ctx *v = NULL;
    memset(&o, 0, sizeof o);
    o.max_age = 86400L * 366 * 100; /* only the x5u is wanted here */
    o.skew = o.max_age;
    o.now = time(NULL);
    o.anchors = vc->anchors;
    int rc = pki_vfy_begin(in, n, &o, &r, &v);
    pki_vfy_end(v);
    if (rc == STI_OK)
        snprintf(x5u, cap, "%s", r.x5u);
    return rc;
}

static int verify_local(const char *in, size_t n, const char *cert, const char *tls_ca,
                        const struct vs_fetch_cfg *fc0, const struct vs_verify_cfg *vc0, time_t now)
{
    struct vs_fetch_cfg fc = *fc0;
    struct vs_verify_cfg vc = *vc0;
    struct vs_cache_cfg cc;
    struct vs_fetcher *f = NULL;
    struct vs_cache *c = NULL;
    struct vs_verifier *v = NULL;
    struct evdns_base *dns = NULL;
    SSL_CTX *tls = NULL;
    STACK_OF(X509) *chain = NULL;
    struct vlocal l = {NULL, 0, 0};
    char x5u[PP_X5U_MAX + 1];
    int rc;
    struct event_base *base = event_base_new();
    STI_CHECK(base, STI_ENOMEM);
    l.base = base;
    if (tls_ca ? vs_tls_new(tls_ca, &tls) != STI_OK
               : (tls = SSL_CTX_new(TLS_client_method())) == NULL ||
                     !SSL_CTX_set_min_proto_version(tls, TLS1_2_VERSION) ||
                     SSL_CTX_set_default_verify_paths(tls) != 1) {
        tool_error(STI_EIO, tls_ca ? tls_ca : "the system's TLS trust");
        rc = STI_EIO;
        goto out;
    }
    SSL_CTX_set_verify(tls, SSL_VERIFY_PEER, NULL);
    dns = vs_dns_new(base);
    STI_CHECK(dns, STI_ENOMEM);
    fc.base = base;
    fc.dns = dns;
    fc.tls = tls;
    STI_TRY(vs_fetcher_new(&fc, &f));
    memset(&cc, 0, sizeof cc);
    STI_TRY(vs_cache_new(&cc, f, &c));
    if (cert) {
        if ((rc = pki_chain_load(cert, &chain)) != STI_OK) {
            tool_error(rc, cert);
            goto out;
        }
        /* A header that does not even name an x5u fails its own checks in
         * the pipeline; the chain is then not needed. */
        if (verify_x5u_of(in, n, &vc, x5u, sizeof x5u) == STI_OK)
            STI_TRY(vs_cache_pin(c, x5u, chain));
    }
    STI_TRY(vs_verifier_new(c, &vc, &v));
    STI_TRY(vs_verify_start(v, in, n, 0, now, verify_print, &l));
    while (!l.done && event_base_dispatch(base) == 0) {
    }
    rc = l.done ? l.rc : STI_EINTERNAL;
out:
    vs_cache_free(c);
    vs_verifier_free(v);
    vs_fetcher_free(f);
    sk_X509_pop_free(chain, X509_free);
    if (base) /* what libevent still holds for cancelled lookups (vs_fetch.h) */
        event_base_loop(base, EVLOOP_NONBLOCK);
    if (dns)
        evdns_base_free(dns, 0);
    SSL_CTX_free(tls);
    if (base)
        event_base_free(base);
    return rc;
}

int tool_verify(int argc, char **argv)
{
    struct opt o[] = {
        {"trust-anchor", 1, 0, {0}, 0}, {"cert", 1, 0, {0}, 0},       {"max-age", 1, 0, {0}, 0},
        {"skew", 1, 0, {0}, 0},         {"spc-policy", 1, 0, {0}, 0}, {"crl", 1, 0, {0}, 0},
        {"tls-ca", 1, 0, {0}, 0},       {"now", 1, 0, {0}, 0},        {"socket", 1, 0, {0}, 0},
        {"ports", 1, 0, {0}, 0},        {"crl-http", 0, 0, {0}, 0}};
    const char *pos[1];
    size_t npos, n;
    long max_age, skew, now;
    char *in = NULL;
    struct vs_fetch_cfg fc;
    struct vs_verify_cfg vc;
    int ret = 1;

    if (opts_parse(argc, argv, o, NOPT(o), pos, 1, &npos) != 0 ||
        opts_long(o, NOPT(o), "max-age", PKI_VFY_MAX_AGE_DEFAULT, 1, 86400L * 366, &max_age) != 0 ||
        opts_long(o, NOPT(o), "skew", 0, 0, 3600, &skew) != 0 ||
        opts_long(o, NOPT(o), "now", (long)time(NULL), 1, 253402300799L, &now) != 0) {
        verify_usage();
        return 2;
    }
    const char *ta = opts_get(o, NOPT(o), "trust-anchor"),
               *pol = opts_get(o, NOPT(o), "spc-policy");
    const char *sock = opts_get(o, NOPT(o), "socket"), *crl = opts_get(o, NOPT(o), "crl");
    const char *ports = opts_get(o, NOPT(o), "ports");
    if (sock && npos == 1)
        return verify_remote(sock, pos[0], opts_get(o, NOPT(o), "max-age") ? max_age : 0);
    memset(&fc, 0, sizeof fc);
    memset(&vc, 0, sizeof vc);
    if (ta == NULL || npos != 1 ||
        (pol != NULL && strcmp(pol, "allow") != 0 && strcmp(pol, "deny") != 0) ||
        (crl != NULL && strcmp(crl, "require") != 0 && strcmp(crl, "prefer") != 0 &&
         strcmp(crl, "off") != 0) ||
        (ports != NULL && vs_ports_parse(ports, fc.ports) != STI_OK)) {
        verify_usage();
        return 2;
    }
    fc.crl_http = opts_get(o, NOPT(o), "crl-http") != NULL;
    vc.anchors = X509_STORE_new();
    if (vc.anchors == NULL || X509_STORE_load_file(vc.anchors, ta) != 1) {
        ERR_clear_error();
        fprintf(stderr, "verify failed: chain: %d (%s): cannot load trust anchor %s\n", STI_EIO,
                sti_errname(STI_EIO), ta);
        goto out;
    }
    vc.max_age = max_age;
    vc.skew = skew;
    vc.spc_policy = pol != NULL && strcmp(pol, "allow") == 0 ? SCOPE_SPC_ALLOW : SCOPE_SPC_DENY;
    vc.crl = crl == NULL || strcmp(crl, "prefer") == 0 ? VS_CRL_PREFER
             : strcmp(crl, "require") == 0             ? VS_CRL_REQUIRE
                                                       : VS_CRL_OFF;
    if (strcmp(pos[0], "-") == 0) {
        in = verify_stdin(&n);
        if (in == NULL) {
            tool_error(STI_ENOMEM, NULL);
            goto out;
        }
    } else {
        n = strlen(pos[0]);
    }
    ret = verify_local(in ? in : pos[0], n, opts_get(o, NOPT(o), "cert"),
                       opts_get(o, NOPT(o), "tls-ca"), &fc, &vc, (time_t)now) == STI_OK
              ? 0
              : 1;
out:
    X509_STORE_free(vc.anchors);
    free(in);
    return ret;
}
