/* cred.c — credentials: load, bind to token keys, select per call. */
#include "cred.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pki.h"
#include "sti_err.h"
#include "wire.h"

static int cred_load_one(struct cred *c, const struct cfg_cred *cc, const struct cfg_files *fs,
                         char *err, size_t errlen)
{
    char *pem = NULL;
    size_t n = 0;
    int rc;
    snprintf(c->name, sizeof c->name, "%s", cc->name);
    snprintf(c->x5u, sizeof c->x5u, "%s", cc->x5u);
    scope_init(&c->scope);
    if ((rc = pp_x5u_check(c->x5u))) {
        snprintf(err, errlen, "credential %s: x5u %s: %s", c->name, c->x5u, sti_strerror(rc));
        return rc;
    }
    if ((rc = hsm_key_sel_parse(cc->key, &c->key))) {
        snprintf(err, errlen, "credential %s: key %s: %s", c->name, cc->key, sti_strerror(rc));
        return rc;
    }
    if ((rc = cfg_read(fs, cc->chain, &pem, &n)) == STI_OK)
        rc = pki_chain_parse(pem, n, &c->chain);
    free(pem);
    if (rc || (rc = pki_chain_check_order(c->chain))) {
        snprintf(err, errlen, "credential %s: chain %s: %s", c->name, cc->chain, sti_strerror(rc));
        return rc;
    }
    X509 *leaf = sk_X509_value(c->chain, 0);
    unsigned char *der = NULL;
    int dl = i2d_X509(leaf, &der);
    int ok = dl > 0 && EVP_Digest(der, (size_t)dl, c->leaf_sha256, NULL, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok) {
        snprintf(err, errlen, "credential %s: leaf certificate: %s", c->name,
                 sti_strerror(STI_ENOMEM));
        return STI_ENOMEM;
    }
    if ((rc = pki_cert_scope(leaf, &c->scope)) ||
        (rc = pki_cert_times(leaf, &c->not_before, &c->not_after))) {
        snprintf(err, errlen, "credential %s: leaf certificate: %s", c->name, sti_strerror(rc));
        return rc;
    }
    if (scope_format(&c->scope, c->scope_text, sizeof c->scope_text) != STI_OK) {
        /* Too long to list: cut at the last whole entry and say so. */
        char *cut = strrchr(c->scope_text, ' ');
        while (cut && (size_t)(cut - c->scope_text) + 5 > sizeof c->scope_text)
            *cut = '\0', cut = strrchr(c->scope_text, ' ');
        if (cut)
            strcpy(cut, " ...");
    }
    X509_NAME_oneline(X509_get_subject_name(leaf), c->subject, sizeof c->subject);
    if ((rc = pp_cred_init(&c->pp, c->x5u))) {
        snprintf(err, errlen, "credential %s: header: %s", c->name, sti_strerror(rc));
        return rc;
    }
    return STI_OK;
}

int cred_load(struct cred_table *t, const struct cfg *cfg, char *err, size_t errlen)
{
    return cred_load_files(t, cfg, NULL, err, errlen);
}

int cred_load_files(struct cred_table *t, const struct cfg *cfg, const struct cfg_files *fs,
                    char *err, size_t errlen)
{
    memset(t, 0, sizeof *t);
    for (unsigned i = 0; i < cfg->ncred; i++) {
        struct cred *c = &t->c[t->n++];
        c->key_idx = (uint16_t)i;
        int rc = cred_load_one(c, &cfg->cred[i], fs, err, errlen);
        if (rc) {
            cred_free(t);
            return rc;
        }
    }
    return STI_OK;
}

void cred_free(struct cred_table *t)
{
    for (size_t i = 0; i < t->n; i++) {
        scope_free(&t->c[i].scope);
        pp_cred_free(&t->c[i].pp);
        if (t->c[i].chain)
            sk_X509_pop_free(t->c[i].chain, X509_free);
        t->c[i].chain = NULL;
    }
    t->n = 0;
}

void cred_key_sels(const struct cred_table *t, struct hsm_key_sel *keys, uint16_t *n)
{
    for (size_t i = 0; i < t->n; i++)
        keys[i] = t->c[i].key;
    *n = (uint16_t)t->n;
}

int cred_bind(struct cred *c, const uint8_t point[65])
{
    int rc = pki_cert_matches_point(sk_X509_value(c->chain, 0), point);
    c->bound = rc == STI_OK;
    return rc;
}

int cred_state(const struct cred *c, time_t now)
{
    if (!c->bound)
        return WIRE_CRED_UNAVAILABLE;
    if (now < c->not_before)
        return WIRE_CRED_NOT_YET;
    if (now > c->not_after)
        return WIRE_CRED_EXPIRED;
    return WIRE_CRED_VALID;
}

int cred_select(const struct cred_table *t, const char *tn, time_t now, const struct cred **out)
{
    int why = STI_ESCOPE, any_valid = 0;
    for (size_t i = 0; i < t->n; i++)
        any_valid |= cred_state(&t->c[i], now) == WIRE_CRED_VALID;
    if (!any_valid)
        return STI_ENOCRED;
    for (size_t i = 0; i < t->n; i++) {
        const struct cred *c = &t->c[i];
        if (!c->bound || !scope_covers_tn(&c->scope, tn))
            continue;
        switch (cred_state(c, now)) {
        case WIRE_CRED_VALID:
            *out = c;
            return STI_OK;
        case WIRE_CRED_EXPIRED:
            why = STI_EPKI_EXPIRED;
            break;
        case WIRE_CRED_NOT_YET:
            if (why == STI_ESCOPE)
                why = STI_EPKI_NOTYET;
            break;
        }
    }
    return why;
}
