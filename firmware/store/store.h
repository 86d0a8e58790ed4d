/*
 * store.h — the appliance's persistent state on the board's storage, in one
 * folder (mode 0700):
 *
 *   appliance.conf   token label and [credential NAME] sections, the file
 *                    stisignd reads after its main configuration (config.h);
 *                    store-only facts (pending credentials, key roles) ride
 *                    in "#! " comment lines the daemon's parser skips
 *   chains/NAME.G.pem  certificate chains, G the commit generation, so a new
 *                    chain never overwrites the one the live state names
 *   pin              the token PIN for unattended start (0600)
 *   admin            the console's admin passphrase record (0600)
 *   audit.log        append-only: time, who, action, result (0600)
 *
 * Every change is a commit: write a temporary file, fsync it, rename it
 * over the old one, fsync the folder. appliance.conf is the commit point of
 * the credentials: a power cut leaves the old state or the new, never a
 * torn one. Opening removes leftover temporary files and chain files the
 * state does not name.
 *
 * Conventions: struct store is owned by one thread at a time (the daemon's
 * admin thread). PINs and passphrase records are never logged nor audited;
 * buffers that held them are wiped. All functions return STI_OK or an
 * STI_E* code; a failed commit is STI_ESTORE and leaves the old state.
 */
#ifndef STI_STORE_H
#define STI_STORE_H

#include <stddef.h>

#define STORE_NAME_MAX 63  /* credential names: [A-Za-z0-9_.-] */
#define STORE_LABEL_MAX 64 /* token and key labels */
#define STORE_X5U_MAX 255
#define STORE_MAX_CREDS 32
#define STORE_MAX_KEYS 32
#define STORE_CHAIN_MAX (64 * 1024)
#define STORE_ADMIN_MAX 512

struct store_cred {
    char name[STORE_NAME_MAX + 1];
    char key[STORE_LABEL_MAX + 1];
    char chain[STORE_NAME_MAX + 48]; /* relative to the store: chains/NAME.G.pem */
    char x5u[STORE_X5U_MAX + 1];     /* empty: pending, not used for signing */
};

struct store_key {
    char label[STORE_LABEL_MAX + 1];
    char role[16]; /* customer-af | delegate-ca */
};

struct store_state {
    unsigned long gen; /* commit generation */
    char token[STORE_LABEL_MAX + 1];
    struct store_cred cred[STORE_MAX_CREDS];
    size_t ncred;
    struct store_key key[STORE_MAX_KEYS];
    size_t nkey;
    int has_pin, has_admin;
};

struct store;

/* Opens (creating with mode 0700 if missing) the store folder and loads it.
 * STI_ESTORE if the folder is unusable or appliance.conf is malformed. */
int store_open(const char *dir, struct store **out);
void store_close(struct store *s);
const char *store_dir(const struct store *s);
/* The current state (a copy). */
int store_load(struct store *s, struct store_state *out);
/* Parses an appliance.conf text into st (used by store_load and tests). */
int store_parse(const char *text, size_t n, struct store_state *st);

/* ---- commits ---- */
int store_set_token(struct store *s, const char *label);
/* Adds or replaces credential name. x5u NULL or "" leaves it pending (or,
 * when replacing, keeps the old x5u). The chain is written first under a
 * new file name; the state naming it is the commit. */
int store_put_credential(struct store *s, const char *name, const char *key, const char *chain_pem,
                         size_t n, const char *x5u);
int store_set_x5u(struct store *s, const char *name, const char *x5u);
/* Removes credential name from the state; its chain file goes after. */
int store_retire_credential(struct store *s, const char *name);
/* Records the role of a token key (shown by the console). */
int store_put_key(struct store *s, const char *label, const char *role);
/* The PIN file; the PIN is not kept. */
int store_set_pin(struct store *s, const char *pin, size_t n);
int store_set_admin_hash(struct store *s, const char *record);
/* STI_ENOTFOUND when no passphrase was ever set. */
int store_get_admin_hash(struct store *s, char *out, size_t cap);
/* Appends "ISO-time who action result" and fsyncs. Newlines and control
 * characters in the fields are replaced; never pass a secret. */
int store_audit(struct store *s, const char *who, const char *action, const char *result);
/* The last max_bytes of the audit log (malloc'd, NUL-terminated). */
int store_audit_tail(struct store *s, size_t max_bytes, char **text, size_t *n);
/* Factory reset: removes every file of the store (audit.log survives as
 * the record of the reset, with one last entry written by the caller). */
int store_wipe(struct store *s);

/* ---- the Delegate CA's files (folder ca/, mode 0700) ----
 *   ca/ca.pem    the CA certificate, then the chain above it (PEM)
 *   ca/key       the token label of the CA key (one line)
 *   ca/policy    issuance policy: lines oid=, crl=, days=
 *   ca/ledger    the issuance ledger (ledger.h; appended, never rewritten)
 * name is one of "ca.pem", "key", "policy". store_ca_put writes it
 * atomically like every other store file (0600); store_ca_get returns it
 * malloc'd and NUL-terminated, STI_ENOTFOUND if it was never written. */
int store_ca_put(struct store *s, const char *name, const void *data, size_t n);
int store_ca_get(struct store *s, const char *name, char **out, size_t *n);

/* The path of a store file (for the daemon: pin_file, chains). */
int store_path(const struct store *s, const char *rel, char *out, size_t cap);

#endif
