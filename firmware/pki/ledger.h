/*
 * ledger.h — the Delegate CA's issuance ledger: an append-only text file
 * that records every certificate the CA released and every revocation. The
 * CRL is generated from it, so a certificate is released only after its
 * line is on disk (written with O_APPEND, one write(2) per line, fsync).
 *
 * Format (docs/delegate-ca.md), one record per line, fields separated by a
 * single TAB, times in UTC as 2025-06-15T15:06:40Z:
 *   issue  TAB time TAB serial TAB subject TAB scope TAB notAfter
 *   revoke TAB time TAB serial TAB reason
 * serial: lowercase hex, no leading zeros. subject: RFC 2253 form with
 * control and non-ASCII characters escaped (so never a TAB or newline).
 * scope: the scope text form ("range:12025550100/100 tn:..."). reason: an
 * RFC 5280 CRLReason name (keyCompromise, superseded, ...).
 *
 * Conventions: functions take the ledger's path; writers hold an exclusive
 * fcntl lock on the file while they read, check and append, so two
 * processes cannot both revoke the same serial. A ledger that does not
 * exist yet reads as empty. struct pki_ledger owns its entries and their
 * strings; pki_ledger_free releases them. Not thread-safe per object.
 */
#ifndef STI_PKI_LEDGER_H
#define STI_PKI_LEDGER_H

#include <stddef.h>
#include <time.h>

#include <openssl/x509.h>

/* A serial number is at most 20 octets (RFC 5280 4.1.2.2). */
#define PKI_SERIAL_HEX_MAX 40
/* Longest line accepted or written; a subject and a scope fit with room. */
#define PKI_LEDGER_LINE_MAX 16384

/* RFC 5280 CRLReason codes the ledger accepts (certificateHold and
 * removeFromCRL are not offered: a revocation here is final). */
enum pki_crl_reason {
    PKI_REASON_UNSPECIFIED = 0,
    PKI_REASON_KEY_COMPROMISE = 1,
    PKI_REASON_CA_COMPROMISE = 2,
    PKI_REASON_AFFILIATION_CHANGED = 3,
    PKI_REASON_SUPERSEDED = 4,
    PKI_REASON_CESSATION_OF_OPERATION = 5,
    PKI_REASON_PRIVILEGE_WITHDRAWN = 9
};

struct pki_ledger_entry {
    char serial[PKI_SERIAL_HEX_MAX + 1]; /* canonical hex */
    time_t issued;
    time_t not_after;
    char *subject; /* malloc'd */
    char *scope;   /* malloc'd */
    int revoked;   /* 0/1 */
    time_t revoked_at;
    int reason; /* enum pki_crl_reason, when revoked */
};

struct pki_ledger {
    struct pki_ledger_entry *e; /* in issuance order */
    size_t n, cap;
};

void pki_ledger_init(struct pki_ledger *l);
void pki_ledger_free(struct pki_ledger *l);

/* Reads the whole ledger into l (initialised, emptied first). A missing
 * file is an empty ledger. STI_EIO on a line that is not a valid record, a
 * duplicate issue, or a revoke of a serial not issued before it; an
 * incomplete last line (no newline: a write cut short) is ignored, and
 * removed by the next append. */
int pki_ledger_load(const char *path, struct pki_ledger *l);
/* Index of serial (canonical form) in l, or -1. */
long pki_ledger_find(const struct pki_ledger *l, const char *serial);

/* Appends the issue record of cert (serial, subject, TNAuthList scope,
 * notAfter) issued at now; creates the file (0640) if needed. STI_EEXISTS
 * if the serial is already in the ledger. */
int pki_ledger_append_issue(const char *path, X509 *cert, time_t now);
/* Appends a revoke record. serial in any case, optional 0x prefix and
 * leading zeros. STI_ENOTFOUND if never issued, STI_EEXISTS if already
 * revoked, STI_EINVAL for a malformed serial or a reason not in the enum. */
int pki_ledger_revoke(const char *path, const char *serial, int reason, time_t now);

/* Canonical serial text: lowercase hex without leading zeros ("0" never:
 * serials are positive). STI_EINVAL on anything else. */
int pki_serial_canon(const char *in, char out[PKI_SERIAL_HEX_MAX + 1]);
/* Canonical serial of a certificate. STI_EPKI_PROFILE if not positive. */
int pki_serial_of(X509 *cert, char out[PKI_SERIAL_HEX_MAX + 1]);

/* CRLReason names <-> codes; parse returns STI_EINVAL for unknown names. */
int pki_crl_reason_parse(const char *name, int *reason);
const char *pki_crl_reason_name(int reason);

/* "2025-06-15T15:06:40Z" (21 bytes with NUL) and back. */
int pki_time_format(time_t t, char out[21]);
int pki_time_parse(const char *text, time_t *out);

#endif
