/*
 * ca.h — the Delegate CA (RFC 9060, ATIS-1000092): a TN Provider's CA whose
 * private key stays in the HSM. The STI-CA grants it a CA certificate whose
 * TNAuthList bounds what it may delegate; it issues SHAKEN end-entity
 * certificates to its Customer AFs, each scope inside its own, and CRLs
 * for what it revoked (ledger.h keeps the record).
 *
 * Conventions: struct pki_ca holds its own references (pki_ca_init takes
 * new references to the certificate, key and chain; pki_ca_free drops
 * them), so the caller keeps ownership of what it passed. The key is
 * normally an HSM-backed EVP_PKEY (hsm_p11_private_key); it must stay
 * valid, i.e. its hsm_p11 open, for the life of the context. Outputs:
 * X509 ** and char ** results belong to the caller (X509_free, free);
 * struct scope outputs must be scope_init'ed and are appended to. A
 * context is read-only after init: several threads may issue from one,
 * provided the key's token session allows it. Nothing here is on the
 * signing hot path.
 */
#ifndef STI_PKI_CA_H
#define STI_PKI_CA_H

#include <stddef.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ledger.h"
#include "scope.h"

/* Longest validity pki_ca_issue grants, in days. */
#define PKI_CA_DAYS_MAX 3650

struct pki_ca {
    X509 *cert;                   /* the Delegate CA's certificate */
    EVP_PKEY *key;                /* its private key (HSM-backed) */
    struct scope scope;           /* the CA certificate's TNAuthList */
    STACK_OF(X509) * chain_above; /* certificates above cert, nearest first; may be empty */
};

/* What the CA puts into every certificate beyond the request. */
struct pki_issue_policy {
    const char *policy_oid;       /* required: dotted OID, e.g. 2.16.840.1.114569.1.1.3 */
    const char *crl_uri;          /* required: http:// or https:// URI of the CRL */
    long days;                    /* validity, 1..PKI_CA_DAYS_MAX, clipped to the CA's */
    const char *subject_override; /* NULL: the request's subject */
    enum scope_spc_policy spc_policy;
};

/* The Delegate CA's own request to the STI-CA: subject (pki_csr_make's
 * text form), BasicConstraints critical CA:TRUE pathLenConstraint 0,
 * KeyUsage critical keyCertSign+cRLSign, the TNAuthList of scope
 * (non-empty). Signed with key (P-256, normally on the token) and verified
 * after signing. PEM in *pem (malloc'd, NUL-terminated). */
int pki_ca_csr_make(EVP_PKEY *key, const char *subject, const struct scope *scope, char **pem);

/* Fills ca (contents overwritten) after checking the CA certificate:
 * BasicConstraints CA:TRUE and KeyUsage keyCertSign (else
 * STI_EPKI_PROFILE), TNAuthList present (STI_EPKI_NOTNAUTH / _TNAUTH),
 * certificate key = key's public key (STI_EPKI_KEYMISMATCH, or
 * STI_EPKI_KEYTYPE if not P-256), within validity at now (STI_EPKI_NOTYET /
 * _EXPIRED), and cert followed by chain_above (may be NULL) in issuing order
 * (STI_EPKI_CHAIN). On failure ca is left empty (pki_ca_free is harmless). */
int pki_ca_init(struct pki_ca *ca, X509 *cert, EVP_PKEY *key, STACK_OF(X509) * chain_above,
                time_t now);
/* pki_ca_init from files: cert_path holds the CA certificate first, then
 * optionally the chain above it; chain_path (may be NULL) more of it. */
int pki_ca_load(struct pki_ca *ca, const char *cert_path, const char *chain_path, EVP_PKEY *key,
                time_t now);
void pki_ca_free(struct pki_ca *ca);

/* Issues an end-entity certificate from a PEM request (n bytes):
 *  - request signature (STI_EPKI_SIG), P-256 key (STI_EPKI_KEYTYPE),
 *    TNAuthList requested (STI_EPKI_NOTNAUTH, or STI_EPKI_TNAUTH);
 *  - the requested scope must lie within the CA's: else
 *    STI_ESCOPE_OUTSIDE, and outside (may be NULL) receives exactly the
 *    entries, or parts of ranges, that fall outside;
 *  - subject (the request's or pol->subject_override) with C, O and CN,
 *    and equal neither to the CA's own subject, nor to the subject of a
 *    certificate above it, nor to the issuer of the topmost one (the
 *    root): else STI_EPKI_PROFILE, and detail (may be NULL; detail_cap
 *    bytes) names what is wrong or what the subject clashes with; a bad
 *    policy (OID, URI, days) is STI_EINVAL;
 *  - the CA must be within validity at now.
 * The certificate (SHAKEN profile, docs/delegate-ca.md): v3, random
 * positive 127-bit serial, ecdsa-with-SHA256, validity now-60s ..
 * now+days (within the CA's), BasicConstraints critical CA:FALSE, KeyUsage
 * critical digitalSignature, SKI, AKI = CA key id, one CertificatePolicies
 * OID, one CRL distribution point, the requested TNAuthList re-encoded.
 * No other requested extension is copied. Signed with the CA key and
 * verified with the CA certificate's key before it is returned in *out. */
int pki_ca_issue(const struct pki_ca *ca, const char *csr_pem, size_t n,
                 const struct pki_issue_policy *pol, time_t now, X509 **out, struct scope *outside,
                 char *detail, size_t detail_cap);

/* A v2 CRL signed by the CA key: every revoked serial of ledger with its
 * revocation date and reason (none for unspecified), thisUpdate now,
 * nextUpdate now + next_update_days (1..365), CRL number = now (seconds:
 * increases with every CRL the CA makes), AKI = CA key id. PEM in *pem. */
int pki_ca_crl(const struct pki_ca *ca, const struct pki_ledger *ledger, time_t now,
               long next_update_days, char **pem);

/* PEM text of a certificate (malloc'd, NUL-terminated). */
int pki_cert_pem(X509 *cert, char **pem);

#endif
