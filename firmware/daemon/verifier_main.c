/*
 * verifier_main.c — the verifier process (`stisignd --verifier -c FILE`,
 * started by the daemon with its channel on fd 3). Everything it needs
 * from the file system is read first, as root: the configuration, the
 * trust anchors, the TLS trust for fetching, pinned chains, the resolver's
 * files and the appliance's own CRL. Then it confines itself (no token, no
 * PIN, no store, its own unprivileged user in an empty root) and serves
 * verifications until the front closes the channel.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "config.h"
#include "log.h"
#include "pki.h"
#include "privsep.h"
#include "sti_err.h"
#include "vs_cache.h"
#include "vs_fetch.h"
#include "vs_server.h"
#include "vs_verify.h"

struct vmain {
    struct cfg cfg;
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;
    X509_STORE *anchors;
    struct vs_fetcher *fetcher;
    struct vs_cache *cache;
    struct vs_verifier *verifier;
    struct vs_server *server;
    struct vs_verify_cfg vc;
};

/* The Delegate CA's own CRL, as `ca crl` stored it, under the URI its
 * policy publishes: certificates it issued are checked without a fetch. */
static void vmain_own_crl(struct vmain *m)
{
    char path[CFG_PATH_MAX + 16], line[600], uri[520] = "";
    if (!m->cfg.store_dir[0])
        return;
    snprintf(path, sizeof path, "%s/ca/policy", m->cfg.store_dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "crl=", 4) == 0) {
            line[strcspn(line, "\r\n")] = '\0';
            if (strlen(line + 4) < sizeof uri)
                memcpy(uri, line + 4, strlen(line + 4) + 1);
        }
    fclose(f);
    snprintf(path, sizeof path, "%s/ca/crl", m->cfg.store_dir);
    f = uri[0] ? fopen(path, "r") : NULL;
    X509_CRL *crl = f ? PEM_read_X509_CRL(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    ERR_clear_error();
    if (crl && vs_cache_pin_crl(m->cache, uri, crl) == STI_OK)
        log_info("verifier: the Delegate CA's CRL is used for %s", uri);
    X509_CRL_free(crl);
}

static int vmain_setup(struct vmain *m, const char *cfgpath)
{
    char err[512];
    struct cfg *c = &m->cfg;
    int rc;
    cfg_defaults(c);
    if (cfg_load(cfgpath, c, err, sizeof err) != STI_OK) {
        log_error("verifier: %s", err);
        return STI_ECONFIG;
    }
    m->base = event_base_new();
    m->anchors = X509_STORE_new();
    if (!m->base || !m->anchors)
        return STI_ENOMEM;
    if (X509_STORE_load_file(m->anchors, c->verify_trust_anchor) != 1) {
        ERR_clear_error();
        log_error("verifier: cannot load the trust anchor %s", c->verify_trust_anchor);
        return STI_EIO;
    }
    /* The TLS trust and the resolver's files are read now; the empty root
     * has neither. */
    if ((rc = vs_tls_new(c->verify_tls_ca[0] ? c->verify_tls_ca : NULL, &m->tls))) {
        log_error("verifier: cannot load the TLS trust for fetching from %s",
                  c->verify_tls_ca[0] ? c->verify_tls_ca : X509_get_default_cert_file());
        return rc;
    }
    if (!(m->dns = vs_dns_new(m->base)))
        return STI_ENOMEM;

    struct vs_fetch_cfg fc;
    memset(&fc, 0, sizeof fc);
    fc.base = m->base;
    fc.dns = m->dns;
    fc.tls = m->tls;
    fc.timeout_ms = c->verify_timeout_ms;
    fc.max_head = c->verify_max_head;
    fc.max_body = c->verify_max_body;
    fc.max_crl_body = c->verify_max_crl_body;
    fc.max_inflight = c->verify_max_inflight;
    fc.crl_http = c->verify_crl_http;
    if (vs_ports_parse(c->verify_ports, fc.ports) != STI_OK) {
        log_error("verifier: verify_fetch_ports: expected up to %d port numbers", VS_MAX_PORTS);
        return STI_ECONFIG;
    }
    fc.offline = !c->verify_fetch;
    if ((rc = vs_fetcher_new(&fc, &m->fetcher)))
        return rc;
    struct vs_cache_cfg cc = {
        .max_entries = c->verify_cache_entries,
        .max_bytes = c->verify_cache_bytes,
        .ttl_min = c->verify_ttl_min,
        .ttl_max = c->verify_ttl_max,
        .ttl_default = c->verify_ttl_default,
        .neg_ttl = c->verify_neg_ttl,
    };
    if ((rc = vs_cache_new(&cc, m->fetcher, &m->cache)))
        return rc;
    for (unsigned i = 0; i < c->nverify_pin; i++) {
        STACK_OF(X509) *chain = NULL;
        rc = pki_chain_load(c->verify_pin[i].path, &chain);
        if (rc == STI_OK)
            rc = vs_cache_pin(m->cache, c->verify_pin[i].url, chain);
        sk_X509_pop_free(chain, X509_free);
        if (rc) {
            log_error("verifier: verify_pin %s %s: %s", c->verify_pin[i].url, c->verify_pin[i].path,
                      sti_strerror(rc));
            return rc;
        }
    }
    vmain_own_crl(m);
    m->vc.anchors = m->anchors;
    m->vc.max_age = c->verify_max_age;
    m->vc.spc_policy =
        strcmp(c->verify_spc_policy, "allow") == 0 ? SCOPE_SPC_ALLOW : SCOPE_SPC_DENY;
    m->vc.crl = strcmp(c->verify_crl, "off") == 0       ? VS_CRL_OFF
                : strcmp(c->verify_crl, "require") == 0 ? VS_CRL_REQUIRE
                                                        : VS_CRL_PREFER;
    return vs_verifier_new(m->cache, &m->vc, &m->verifier);
}

int verifier_main(const char *cfgpath, int fd)
{
    static struct vmain m;
    log_setup("stisignd-verifier", 0, LOG_LVL_INFO);
    int rc = vmain_setup(&m, cfgpath);
    enum log_level lvl = LOG_LVL_INFO;
    log_level_parse(m.cfg.log_level, &lvl);
    log_setup("stisignd-verifier", m.cfg.log_syslog, lvl);
    if (rc == STI_OK)
        rc = privsep_confine(PRIVSEP_VERIFIER, &m.cfg);
    if (rc == STI_OK)
        rc = vs_server_new(m.base, fd, m.verifier, m.cfg.verify_max_pending, &m.server);
    if (rc == STI_OK)
        event_base_dispatch(m.base);
    else
        log_error("verifier: not started: %s (%s)", sti_strerror(rc), sti_errname(rc));
    /* The order vs_server.h asks for: nothing runs in between. */
    vs_server_free(m.server);
    vs_cache_free(m.cache);
    vs_verifier_free(m.verifier);
    vs_fetcher_free(m.fetcher);
    if (m.base) /* what libevent still holds for cancelled lookups (vs_fetch.h) */
        event_base_loop(m.base, EVLOOP_NONBLOCK);
    if (m.dns)
        evdns_base_free(m.dns, 0);
    if (m.base)
        event_base_free(m.base);
    SSL_CTX_free(m.tls);
    X509_STORE_free(m.anchors);
    return rc == STI_OK ? 0 : 1;
}
