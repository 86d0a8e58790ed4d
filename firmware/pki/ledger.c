/*
 * ledger.c — the Delegate CA's append-only issuance ledger (ledger.h).
 *
 * Every writer opens the file O_APPEND, takes an exclusive fcntl lock,
 * reads and checks the whole ledger, then appends its one line with a
 * single write(2) and fsyncs before it reports success. A line cut short by
 * a crash has no newline: readers ignore it and the next writer truncates
 * it away (it was never acknowledged), so a torn record never corrupts the
 * records after it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/x509v3.h>

#include "ledger.h"
#include "pki.h"
#include "scope.h"
#include "sti_err.h"

/* A ledger is kilobytes per thousand certificates; this is a sanity cap. */
#define LEDGER_FILE_MAX (256L * 1024 * 1024)

/* ------------------------------------------------------------------ */
/* Small conversions */

static const struct {
    int code;
    const char *name;
} ledger_reasons[] = {
    {PKI_REASON_UNSPECIFIED, "unspecified"},
    {PKI_REASON_KEY_COMPROMISE, "keyCompromise"},
    {PKI_REASON_CA_COMPROMISE, "cACompromise"},
    {PKI_REASON_AFFILIATION_CHANGED, "affiliationChanged"},
    {PKI_REASON_SUPERSEDED, "superseded"},
    {PKI_REASON_CESSATION_OF_OPERATION, "cessationOfOperation"},
    {PKI_REASON_PRIVILEGE_WITHDRAWN, "privilegeWithdrawn"},
};

int pki_crl_reason_parse(const char *name, int *reason)
{
    if (name == NULL || reason == NULL)
        return STI_EINVAL;
    for (size_t i = 0; i < sizeof ledger_reasons / sizeof ledger_reasons[0]; i++)
        if (strcmp(name, ledger_reasons[i].name) == 0) {
            *reason = ledger_reasons[i].code;
            return STI_OK;
        }
    return STI_EINVAL;
}

const char *pki_crl_reason_name(int reason)
{
    for (size_t i = 0; i < sizeof ledger_reasons / sizeof ledger_reasons[0]; i++)
        if (ledger_reasons[i].code == reason)
            return ledger_reasons[i].name;
    return NULL;
}

int pki_serial_canon(const char *in, char out[PKI_SERIAL_HEX_MAX + 1])
{
    if (in == NULL || out == NULL)
        return STI_EINVAL;
    if (in[0] == '0' && (in[1] == 'x' || in[1] == 'X'))
        in += 2;
    while (*in == '0')
        in++;
    size_t n = strlen(in);
    if (n == 0 || n > PKI_SERIAL_HEX_MAX)
        return STI_EINVAL;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return STI_EINVAL;
        out[i] = c;
    }
    out[n] = '\0';
    return STI_OK;
}

int pki_serial_of(X509 *cert, char out[PKI_SERIAL_HEX_MAX + 1])
{
    int rc;
    BIGNUM *bn = NULL;
    char *hex = NULL;

    if (cert == NULL || out == NULL)
        return STI_EINVAL;
    bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    STI_CHECK(bn != NULL, STI_EPKI_PARSE);
    STI_CHECK(!BN_is_negative(bn) && !BN_is_zero(bn), STI_EPKI_PROFILE);
    hex = BN_bn2hex(bn);
    STI_CHECK(hex != NULL, STI_ENOMEM);
    rc = pki_serial_canon(hex, out);
    if (rc == STI_EINVAL)
        rc = STI_EPKI_PROFILE; /* longer than 20 octets */
out:
    OPENSSL_free(hex);
    BN_free(bn);
    return rc;
}

/* Days since 1970-01-01 of a Gregorian date (same arithmetic as cert.c):
 * timegm() is not ISO C. */
static long long ledger_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

int pki_time_format(time_t t, char out[21])
{
    struct tm tm;
    if (out == NULL || gmtime_r(&t, &tm) == NULL)
        return STI_EINVAL;
    if (strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
        return STI_EINVAL;
    return STI_OK;
}

int pki_time_parse(const char *text, time_t *out)
{
    unsigned v[6] = {0};
    /* Fixed layout YYYY-MM-DDTHH:MM:SSZ, digits checked one by one. */
    static const char layout[] = "dddd-dd-ddTdd:dd:ddZ";
    static const int field[] = {0, 0, 0, 0, -1, 1, 1, -1, 2, 2, -1, 3, 3, -1, 4, 4, -1, 5, 5, -1};
    if (text == NULL || out == NULL || strlen(text) != sizeof layout - 1)
        return STI_EINVAL;
    for (size_t i = 0; i < sizeof layout - 1; i++) {
        if (layout[i] == 'd') {
            if (text[i] < '0' || text[i] > '9')
                return STI_EINVAL;
            v[field[i]] = v[field[i]] * 10 + (unsigned)(text[i] - '0');
        } else if (text[i] != layout[i]) {
            return STI_EINVAL;
        }
    }
    if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
        return STI_EINVAL;
    long long secs =
        ledger_days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600LL + v[4] * 60LL + v[5];
    *out = (time_t)secs;
    return STI_OK;
}

/* ------------------------------------------------------------------ */
/* The in-memory ledger */

void pki_ledger_init(struct pki_ledger *l)
{
    memset(l, 0, sizeof *l);
}

void pki_ledger_free(struct pki_ledger *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++) {
        free(l->e[i].subject);
        free(l->e[i].scope);
    }
    free(l->e);
    pki_ledger_init(l);
}

long pki_ledger_find(const struct pki_ledger *l, const char *serial)
{
    if (l == NULL || serial == NULL)
        return -1;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->e[i].serial, serial) == 0)
            return (long)i;
    return -1;
}

static int ledger_push(struct pki_ledger *l, struct pki_ledger_entry *e)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct pki_ledger_entry *ne = realloc(l->e, cap * sizeof *ne);
        if (ne == NULL)
            return STI_ENOMEM;
        l->e = ne;
        l->cap = cap;
    }
    l->e[l->n++] = *e;
    return STI_OK;
}

/* Splits line (NUL-terminated, no newline) at TABs in place. */
static size_t ledger_split(char *line, char **f, size_t max)
{
    size_t n = 0;
    for (;;) {
        if (n == max)
            return max + 1;
        f[n++] = line;
        char *tab = strchr(line, '\t');
        if (tab == NULL)
            return n;
        *tab = '\0';
        line = tab + 1;
    }
}

static int ledger_serial_field(const char *text, char out[PKI_SERIAL_HEX_MAX + 1])
{
    /* Records carry the canonical form only. */
    if (pki_serial_canon(text, out) != STI_OK || strcmp(out, text) != 0)
        return STI_EIO;
    return STI_OK;
}

static int ledger_scope_ok(const char *text)
{
    struct scope s;
    scope_init(&s);
    int ok = scope_parse_list(text, &s) == STI_OK && s.n > 0;
    scope_free(&s);
    return ok;
}

static int ledger_parse_line(char *line, struct pki_ledger *l)
{
    int rc = STI_EIO;
    char *f[7];
    struct pki_ledger_entry e;

    memset(&e, 0, sizeof e);
    size_t nf = ledger_split(line, f, 6);
    if (strcmp(f[0], "issue") == 0 && nf == 6) {
        STI_TRY(ledger_serial_field(f[2], e.serial));
        STI_CHECK(pki_time_parse(f[1], &e.issued) == STI_OK, STI_EIO);
        STI_CHECK(pki_time_parse(f[5], &e.not_after) == STI_OK, STI_EIO);
        STI_CHECK(f[3][0] != '\0' && ledger_scope_ok(f[4]), STI_EIO);
        STI_CHECK(pki_ledger_find(l, e.serial) < 0, STI_EIO);
        e.subject = strdup(f[3]);
        e.scope = strdup(f[4]);
        STI_CHECK(e.subject != NULL && e.scope != NULL, STI_ENOMEM);
        STI_TRY(ledger_push(l, &e));
        return STI_OK;
    }
    if (strcmp(f[0], "revoke") == 0 && nf == 4) {
        time_t at;
        int reason;
        STI_TRY(ledger_serial_field(f[2], e.serial));
        STI_CHECK(pki_time_parse(f[1], &at) == STI_OK, STI_EIO);
        STI_CHECK(pki_crl_reason_parse(f[3], &reason) == STI_OK, STI_EIO);
        long i = pki_ledger_find(l, e.serial);
        STI_CHECK(i >= 0 && !l->e[i].revoked, STI_EIO);
        l->e[i].revoked = 1;
        l->e[i].revoked_at = at;
        l->e[i].reason = reason;
        return STI_OK;
    }
out:
    free(e.subject);
    free(e.scope);
    return rc;
}

/* Parses buf[0..n) into l. *whole receives the length up to and including
 * the last newline: what remains after it is a torn record. */
static int ledger_parse(char *buf, size_t n, struct pki_ledger *l, size_t *whole)
{
    size_t at = 0;
    while (at < n) {
        char *nl = memchr(buf + at, '\n', n - at);
        if (nl == NULL)
            break; /* a torn last record: never acknowledged, ignored */
        size_t len = (size_t)(nl - (buf + at));
        *nl = '\0';
        if (len >= PKI_LEDGER_LINE_MAX || memchr(buf + at, '\0', len) != NULL)
            return STI_EIO;
        if (len > 0) {
            int rc = ledger_parse_line(buf + at, l);
            if (rc != STI_OK)
                return rc;
        }
        at += len + 1;
    }
    *whole = at;
    return STI_OK;
}

/* Reads the file behind fd from offset 0 and parses it into l; *size and
 * *whole are the file's length and the length of its complete lines. */
static int ledger_read_fd(int fd, struct pki_ledger *l, size_t *size_out, size_t *whole)
{
    int rc = STI_EIO;
    char *buf = NULL;
    struct stat st;

    pki_ledger_free(l);
    STI_CHECK(fstat(fd, &st) == 0 && S_ISREG(st.st_mode), STI_EIO);
    STI_CHECK(st.st_size <= LEDGER_FILE_MAX, STI_ETOOLONG);
    size_t size = (size_t)st.st_size;
    buf = malloc(size + 1);
    STI_CHECK(buf != NULL, STI_ENOMEM);
    size_t got = 0;
    while (got < size) {
        ssize_t r = pread(fd, buf + got, size - got, (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        STI_CHECK(r > 0, STI_EIO);
        got += (size_t)r;
    }
    buf[size] = '\0';
    *size_out = size;
    rc = ledger_parse(buf, size, l, whole);
    if (rc != STI_OK)
        pki_ledger_free(l);
out:
    free(buf);
    return rc;
}

static int ledger_lock(int fd, short type)
{
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = type;
    fl.l_whence = SEEK_SET;
    while (fcntl(fd, F_SETLKW, &fl) != 0)
        if (errno != EINTR)
            return STI_EIO;
    return STI_OK;
}

int pki_ledger_load(const char *path, struct pki_ledger *l)
{
    size_t size, whole;
    if (path == NULL || l == NULL)
        return STI_EINVAL;
    pki_ledger_free(l);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? STI_OK : STI_EIO;
    int rc = ledger_lock(fd, F_RDLCK);
    if (rc == STI_OK)
        rc = ledger_read_fd(fd, l, &size, &whole);
    close(fd);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Appending */

static int ledger_write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return STI_EIO;
        p += w;
        n -= (size_t)w;
    }
    return STI_OK;
}

/* The record check and the write run under one lock: check(l, arg) sees
 * the current ledger and may refuse; then line is appended and synced. */
typedef int (*ledger_check_fn)(const struct pki_ledger *l, const void *arg);

static int ledger_append(const char *path, const char *line, ledger_check_fn check, const void *arg)
{
    int rc;
    size_t size = 0, whole = 0;
    struct pki_ledger l;

    pki_ledger_init(&l);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return STI_EIO;
    STI_TRY(ledger_lock(fd, F_WRLCK));
    STI_TRY(ledger_read_fd(fd, &l, &size, &whole));
    STI_TRY(check(&l, arg));
    /* A torn record was never acknowledged to anyone: drop it rather than
     * let the new record complete it into a line nobody wrote. */
    if (whole != size)
        STI_CHECK(ftruncate(fd, (off_t)whole) == 0, STI_EIO);
    /* One write(2) per record. */
    STI_TRY(ledger_write_all(fd, line, strlen(line)));
    STI_CHECK(fsync(fd) == 0, STI_EIO);
out:
    pki_ledger_free(&l);
    close(fd); /* releases the lock */
    return rc;
}

static int ledger_check_new(const struct pki_ledger *l, const void *arg)
{
    return pki_ledger_find(l, arg) < 0 ? STI_OK : STI_EEXISTS;
}

static int ledger_check_revocable(const struct pki_ledger *l, const void *arg)
{
    long i = pki_ledger_find(l, arg);
    if (i < 0)
        return STI_ENOTFOUND;
    return l->e[i].revoked ? STI_EEXISTS : STI_OK;
}

/* Subject as "C=US,O=Acme,CN=SHAKEN 1234": RFC 2253 escaping (controls and
 * non-ASCII as \XX) in the certificate's own order. */
static int ledger_subject(X509 *cert, char *out, size_t cap)
{
    int rc = STI_ENOMEM;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;

    STI_CHECK(bio != NULL, STI_ENOMEM);
    unsigned long flags = XN_FLAG_SEP_COMMA_PLUS | ASN1_STRFLGS_RFC2253 | XN_FLAG_FN_SN;
    STI_CHECK(X509_NAME_print_ex(bio, X509_get_subject_name(cert), 0, flags) >= 0, STI_EPKI_PARSE);
    long len = BIO_get_mem_data(bio, &data);
    STI_CHECK(len > 0 && data != NULL, STI_EPKI_PROFILE);
    STI_CHECK((size_t)len < cap, STI_ETOOLONG);
    for (long i = 0; i < len; i++)
        out[i] = (unsigned char)data[i] < 0x20 || data[i] == 0x7f ? '?' : data[i];
    out[len] = '\0';
    rc = STI_OK;
out:
    BIO_free(bio);
    return rc;
}

int pki_ledger_append_issue(const char *path, X509 *cert, time_t now)
{
    int rc;
    char serial[PKI_SERIAL_HEX_MAX + 1], t_now[21], t_na[21];
    char *subject = NULL, *scopetext = NULL, *line = NULL;
    time_t nb, na;
    struct scope s;

    scope_init(&s);
    if (path == NULL || cert == NULL)
        return STI_EINVAL;
    subject = malloc(PKI_LEDGER_LINE_MAX);
    scopetext = malloc(PKI_LEDGER_LINE_MAX);
    line = malloc(PKI_LEDGER_LINE_MAX);
    STI_CHECK(subject != NULL && scopetext != NULL && line != NULL, STI_ENOMEM);
    STI_TRY(pki_serial_of(cert, serial));
    STI_TRY(pki_cert_times(cert, &nb, &na));
    STI_TRY(pki_cert_scope(cert, &s));
    STI_TRY(scope_format(&s, scopetext, PKI_LEDGER_LINE_MAX));
    STI_TRY(ledger_subject(cert, subject, PKI_LEDGER_LINE_MAX));
    STI_TRY(pki_time_format(now, t_now));
    STI_TRY(pki_time_format(na, t_na));
    int len = snprintf(line, PKI_LEDGER_LINE_MAX, "issue\t%s\t%s\t%s\t%s\t%s\n", t_now, serial,
                       subject, scopetext, t_na);
    STI_CHECK(len > 0 && len < PKI_LEDGER_LINE_MAX, STI_ETOOLONG);
    rc = ledger_append(path, line, ledger_check_new, serial);
out:
    free(subject);
    free(scopetext);
    free(line);
    scope_free(&s);
    return rc;
}

int pki_ledger_revoke(const char *path, const char *serial, int reason, time_t now)
{
    char canon[PKI_SERIAL_HEX_MAX + 1], t_now[21], line[128];
    const char *rname = pki_crl_reason_name(reason);

    if (path == NULL || serial == NULL || rname == NULL)
        return STI_EINVAL;
    int rc = pki_serial_canon(serial, canon);
    if (rc != STI_OK)
        return rc;
    if ((rc = pki_time_format(now, t_now)) != STI_OK)
        return rc;
    int len = snprintf(line, sizeof line, "revoke\t%s\t%s\t%s\n", t_now, canon, rname);
    if (len <= 0 || (size_t)len >= sizeof line)
        return STI_EINTERNAL;
    return ledger_append(path, line, ledger_check_revocable, canon);
}
