/*
 * faultp11.c — a PKCS#11 module that wraps a real one and injects faults on
 * command, for the fault and load suites (tests/integration/fault_*.py).
 *
 * C_GetFunctionList dlopens the real module (env FAULTP11_MODULE, default
 * SoftHSM2), copies its function list and replaces a few entries with
 * wrappers; every other entry is the real module's own function.
 *
 * Faults come from a control file (env FAULTP11_CONTROL), one key=value a
 * line ('#' starts a comment):
 *   sign=CKR_...     C_SignInit / C_Sign return that code
 *   open=CKR_...     C_OpenSession fails
 *   login=CKR_...    C_Login fails
 *   slots=empty      the token is absent: C_GetSlotList(tokenPresent) lists
 *                    nothing, C_GetSlotInfo clears CKF_TOKEN_PRESENT,
 *                    C_GetTokenInfo and C_OpenSession say CKR_TOKEN_NOT_PRESENT
 *   delay_ms=N       every C_Sign sleeps N ms first
 *   corrupt_sig=1    C_Sign succeeds but one bit of the signature is flipped
 *   count=N          the faults apply to the next N matching calls in all
 *                    processes together, then stop (absent: until cleared)
 * Codes are CKR_ names or numbers (0x30). A missing or empty file means no
 * fault. The file is stat()ed on every wrapped call and re-read when its
 * inode, size or mtime changes; tests should replace it with rename(2).
 *
 * Counters: each injection increments "<kind>" and "total" in
 * FAULTP11_CONTROL + ".stats" (key=value lines) under flock(2), so that
 * several worker processes share one count and the test can check that a
 * fault really fired. The same file holds "gen" and "gen_used", the
 * consumption of count= for the current control file.
 *
 * Thread rules: one mutex guards the parsed control state and the stats
 * file; the delay sleeps outside it. Each process that loads the module has
 * its own state; only the stats file is shared.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <p11-kit/pkcs11.h>

#define FP_EXPORT __attribute__((visibility("default")))
#define FP_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"

enum fp_kind { FP_SIGN, FP_OPEN, FP_LOGIN, FP_SLOTS, FP_DELAY, FP_CORRUPT, FP_NKINDS };
static const char *const fp_kind_names[FP_NKINDS] = {"sign",  "open",  "login",
                                                     "slots", "delay", "corrupt"};

struct fp_ctl {
    CK_RV sign, open, login; /* 0: no fault */
    int slots_empty;
    unsigned delay_ms;
    int corrupt_sig;
    long count; /* -1: unlimited */
};

FP_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out);

static pthread_once_t fp_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t fp_lock = PTHREAD_MUTEX_INITIALIZER;
static void *fp_dl;
static CK_FUNCTION_LIST_PTR fp_real;
static CK_FUNCTION_LIST fp_list;
static CK_RV fp_init_rv = CKR_GENERAL_ERROR;

static char fp_ctl_path[4096];
static char fp_stats_path[4096 + 8];
static int fp_have_ctl;
static struct fp_ctl fp_cur = {0, 0, 0, 0, 0, 0, -1};
static struct stat fp_seen;
static int fp_seen_valid;
static char fp_gen[128] = "none";

#define CKR_ENTRY(x) {#x, x}
static const struct {
    const char *name;
    CK_RV rv;
} fp_codes[] = {
    CKR_ENTRY(CKR_OK),
    CKR_ENTRY(CKR_HOST_MEMORY),
    CKR_ENTRY(CKR_SLOT_ID_INVALID),
    CKR_ENTRY(CKR_GENERAL_ERROR),
    CKR_ENTRY(CKR_FUNCTION_FAILED),
    CKR_ENTRY(CKR_ARGUMENTS_BAD),
    CKR_ENTRY(CKR_DEVICE_ERROR),
    CKR_ENTRY(CKR_DEVICE_MEMORY),
    CKR_ENTRY(CKR_DEVICE_REMOVED),
    CKR_ENTRY(CKR_KEY_HANDLE_INVALID),
    CKR_ENTRY(CKR_KEY_FUNCTION_NOT_PERMITTED),
    CKR_ENTRY(CKR_OBJECT_HANDLE_INVALID),
    CKR_ENTRY(CKR_OPERATION_ACTIVE),
    CKR_ENTRY(CKR_PIN_INCORRECT),
    CKR_ENTRY(CKR_PIN_LOCKED),
    CKR_ENTRY(CKR_PIN_EXPIRED),
    CKR_ENTRY(CKR_SESSION_CLOSED),
    CKR_ENTRY(CKR_SESSION_COUNT),
    CKR_ENTRY(CKR_SESSION_HANDLE_INVALID),
    CKR_ENTRY(CKR_TOKEN_NOT_PRESENT),
    CKR_ENTRY(CKR_TOKEN_NOT_RECOGNIZED),
    CKR_ENTRY(CKR_USER_NOT_LOGGED_IN),
    CKR_ENTRY(CKR_USER_PIN_NOT_INITIALIZED),
    CKR_ENTRY(CKR_CRYPTOKI_NOT_INITIALIZED),
};

static int fp_parse_rv(const char *s, CK_RV *out)
{
    for (size_t i = 0; i < sizeof fp_codes / sizeof fp_codes[0]; i++) {
        if (strcmp(s, fp_codes[i].name) == 0) {
            *out = fp_codes[i].rv;
            return 0;
        }
    }
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 0);
    if (errno || end == s || *end)
        return -1;
    *out = (CK_RV)v;
    return 0;
}

static char *fp_trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
        s[--n] = '\0';
    return s;
}

/* Unknown keys and bad values are reported on stderr and ignored: a typo
 * in a test must not silently look like "no fault", hence the message. */
static void fp_parse(const char *text, struct fp_ctl *c)
{
    char line[512];
    const char *p = text;
    memset(c, 0, sizeof *c);
    c->count = -1;
    while (*p) {
        size_t n = strcspn(p, "\n");
        size_t m = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, p, m);
        line[m] = '\0';
        p += n + (p[n] == '\n');
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *eq = strchr(line, '=');
        if (!eq) {
            if (*fp_trim(line))
                fprintf(stderr, "faultp11: ignored line: %s\n", line);
            continue;
        }
        *eq = '\0';
        char *k = fp_trim(line), *v = fp_trim(eq + 1);
        int bad = 0;
        if (strcmp(k, "sign") == 0)
            bad = fp_parse_rv(v, &c->sign);
        else if (strcmp(k, "open") == 0)
            bad = fp_parse_rv(v, &c->open);
        else if (strcmp(k, "login") == 0)
            bad = fp_parse_rv(v, &c->login);
        else if (strcmp(k, "slots") == 0) {
            c->slots_empty = strcmp(v, "empty") == 0;
            bad = !c->slots_empty && strcmp(v, "normal") != 0;
        } else if (strcmp(k, "delay_ms") == 0)
            c->delay_ms = (unsigned)strtoul(v, NULL, 10);
        else if (strcmp(k, "corrupt_sig") == 0)
            c->corrupt_sig = atoi(v) != 0;
        else if (strcmp(k, "count") == 0)
            c->count = strtol(v, NULL, 10);
        else
            bad = 1;
        if (bad)
            fprintf(stderr, "faultp11: ignored %s=%s\n", k, v);
    }
}

/* Called with fp_lock held: one stat(), a re-read only on change. */
static void fp_refresh(void)
{
    struct stat st;
    if (!fp_have_ctl)
        return;
    if (stat(fp_ctl_path, &st) != 0) {
        if (fp_seen_valid) {
            fp_parse("", &fp_cur);
            fp_seen_valid = 0;
            snprintf(fp_gen, sizeof fp_gen, "none");
        }
        return;
    }
    if (fp_seen_valid && st.st_ino == fp_seen.st_ino && st.st_size == fp_seen.st_size &&
        st.st_mtim.tv_sec == fp_seen.st_mtim.tv_sec &&
        st.st_mtim.tv_nsec == fp_seen.st_mtim.tv_nsec)
        return;
    char text[4096];
    size_t len = 0;
    int fd = open(fp_ctl_path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t r;
        while (len < sizeof text - 1 && (r = read(fd, text + len, sizeof text - 1 - len)) > 0)
            len += (size_t)r;
        close(fd);
    }
    text[len] = '\0';
    fp_parse(text, &fp_cur);
    fp_seen = st;
    fp_seen_valid = 1;
    snprintf(fp_gen, sizeof fp_gen, "%lu:%lld:%lld.%09ld", (unsigned long)st.st_ino,
             (long long)st.st_size, (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

struct fp_stats {
    char gen[128];
    unsigned long long used, kind[FP_NKINDS], total;
};

static void fp_stats_parse(const char *text, struct fp_stats *s)
{
    const char *p = text;
    memset(s, 0, sizeof *s);
    while (*p) {
        char key[64], val[128];
        size_t n = strcspn(p, "\n");
        const char *eq = memchr(p, '=', n);
        if (eq && (size_t)(eq - p) < sizeof key && n - (size_t)(eq - p) - 1 < sizeof val) {
            memcpy(key, p, (size_t)(eq - p));
            key[eq - p] = '\0';
            memcpy(val, eq + 1, n - (size_t)(eq - p) - 1);
            val[n - (size_t)(eq - p) - 1] = '\0';
            if (strcmp(key, "gen") == 0)
                snprintf(s->gen, sizeof s->gen, "%s", val);
            else if (strcmp(key, "gen_used") == 0)
                s->used = strtoull(val, NULL, 10);
            else if (strcmp(key, "total") == 0)
                s->total = strtoull(val, NULL, 10);
            for (int k = 0; k < FP_NKINDS; k++)
                if (strcmp(key, fp_kind_names[k]) == 0)
                    s->kind[k] = strtoull(val, NULL, 10);
        }
        p += n + (p[n] == '\n');
    }
}

/* Called with fp_lock held. Decides whether one fault of this kind fires
 * now (count= is shared by every process through the stats file) and, if
 * so, records it. Returns 1 to inject. */
static int fp_take(enum fp_kind kind)
{
    int inject = 1;
    int fd = open(fp_stats_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return fp_cur.count < 0; /* cannot count: unlimited faults still fire */
    while (flock(fd, LOCK_EX) != 0 && errno == EINTR)
        ;
    char text[2048];
    ssize_t r = pread(fd, text, sizeof text - 1, 0);
    text[r > 0 ? r : 0] = '\0';
    struct fp_stats s;
    fp_stats_parse(text, &s);
    if (strcmp(s.gen, fp_gen) != 0) {
        snprintf(s.gen, sizeof s.gen, "%s", fp_gen);
        s.used = 0;
    }
    if (fp_cur.count >= 0 && s.used >= (unsigned long long)fp_cur.count)
        inject = 0;
    if (inject) {
        s.used++;
        s.kind[kind]++;
        s.total++;
        int n = snprintf(text, sizeof text, "gen=%s\ngen_used=%llu\ntotal=%llu\n", s.gen, s.used,
                         s.total);
        for (int k = 0; k < FP_NKINDS && n > 0 && (size_t)n < sizeof text; k++)
            n += snprintf(text + n, sizeof text - (size_t)n, "%s=%llu\n", fp_kind_names[k],
                          s.kind[k]);
        if (n > 0 && (size_t)n < sizeof text && ftruncate(fd, 0) == 0 &&
            pwrite(fd, text, (size_t)n, 0) != n)
            fprintf(stderr, "faultp11: cannot write %s\n", fp_stats_path);
    }
    flock(fd, LOCK_UN);
    close(fd);
    return inject;
}

/* Snapshot of the current control state; nothing is consumed. */
static struct fp_ctl fp_snapshot(void)
{
    pthread_mutex_lock(&fp_lock);
    fp_refresh();
    struct fp_ctl c = fp_cur;
    pthread_mutex_unlock(&fp_lock);
    return c;
}

/* Returns 1 when the fault of this kind is set and fires now (and counts it). */
static int fp_fire(enum fp_kind kind)
{
    pthread_mutex_lock(&fp_lock);
    fp_refresh();
    int active = 0;
    switch (kind) {
    case FP_SIGN:
        active = fp_cur.sign != 0;
        break;
    case FP_OPEN:
        active = fp_cur.open != 0;
        break;
    case FP_LOGIN:
        active = fp_cur.login != 0;
        break;
    case FP_SLOTS:
        active = fp_cur.slots_empty;
        break;
    case FP_DELAY:
        active = fp_cur.delay_ms != 0;
        break;
    case FP_CORRUPT:
        active = fp_cur.corrupt_sig;
        break;
    default:
        break;
    }
    int fire = active && fp_take(kind);
    pthread_mutex_unlock(&fp_lock);
    return fire;
}

static CK_RV fp_GetSlotList(CK_BBOOL present, CK_SLOT_ID_PTR list, CK_ULONG_PTR n)
{
    if (present && n && fp_fire(FP_SLOTS)) {
        *n = 0;
        return CKR_OK;
    }
    return fp_real->C_GetSlotList(present, list, n);
}

/* Callers that list every slot (tokenPresent false, as libp11 does) see
 * the slot without its token. */
static CK_RV fp_GetSlotInfo(CK_SLOT_ID slot, CK_SLOT_INFO_PTR info)
{
    CK_RV rv = fp_real->C_GetSlotInfo(slot, info);
    if (rv == CKR_OK && info && fp_snapshot().slots_empty)
        info->flags &= ~(CK_FLAGS)CKF_TOKEN_PRESENT;
    return rv;
}

static CK_RV fp_GetTokenInfo(CK_SLOT_ID slot, CK_TOKEN_INFO_PTR info)
{
    if (fp_fire(FP_SLOTS))
        return CKR_TOKEN_NOT_PRESENT;
    return fp_real->C_GetTokenInfo(slot, info);
}

static CK_RV fp_OpenSession(CK_SLOT_ID slot, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify,
                            CK_SESSION_HANDLE_PTR sess)
{
    struct fp_ctl c = fp_snapshot();
    if (c.open && fp_fire(FP_OPEN))
        return c.open;
    if (c.slots_empty)
        return CKR_TOKEN_NOT_PRESENT;
    return fp_real->C_OpenSession(slot, flags, app, notify, sess);
}

static CK_RV fp_Login(CK_SESSION_HANDLE sess, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin,
                      CK_ULONG pin_len)
{
    struct fp_ctl c = fp_snapshot();
    if (c.login && fp_fire(FP_LOGIN))
        return c.login;
    return fp_real->C_Login(sess, user, pin, pin_len);
}

static CK_RV fp_SignInit(CK_SESSION_HANDLE sess, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key)
{
    struct fp_ctl c = fp_snapshot();
    if (c.sign && fp_fire(FP_SIGN))
        return c.sign;
    return fp_real->C_SignInit(sess, mech, key);
}

static CK_RV fp_Sign(CK_SESSION_HANDLE sess, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig,
                     CK_ULONG_PTR sig_len)
{
    struct fp_ctl c = fp_snapshot();
    /* A size query (sig == NULL) neither sleeps nor fails. */
    if (sig && c.delay_ms && fp_fire(FP_DELAY)) {
        struct timespec ts = {c.delay_ms / 1000, (long)(c.delay_ms % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
    }
    if (sig && c.sign && fp_fire(FP_SIGN)) {
        /* A failing C_Sign ends the operation (PKCS#11 2.40 5.2): finish
         * the real one so the session is left as a real token would. */
        CK_BYTE scratch[512];
        CK_ULONG n = sizeof scratch;
        fp_real->C_Sign(sess, data, len, scratch, &n);
        memset(scratch, 0, sizeof scratch);
        return c.sign;
    }
    CK_RV rv = fp_real->C_Sign(sess, data, len, sig, sig_len);
    if (rv == CKR_OK && sig && sig_len && *sig_len > 0 && c.corrupt_sig && fp_fire(FP_CORRUPT))
        sig[*sig_len - 1] ^= 0x01;
    return rv;
}

static void fp_load(void)
{
    const char *mod = getenv("FAULTP11_MODULE");
    const char *ctl = getenv("FAULTP11_CONTROL");
    if (!mod || !*mod)
        mod = FP_DEFAULT_MODULE;
    if (ctl && *ctl && strlen(ctl) < sizeof fp_ctl_path) {
        snprintf(fp_ctl_path, sizeof fp_ctl_path, "%s", ctl);
        snprintf(fp_stats_path, sizeof fp_stats_path, "%s.stats", ctl);
        fp_have_ctl = 1;
    }
    fp_dl = dlopen(mod, RTLD_NOW | RTLD_LOCAL);
    if (!fp_dl) {
        fprintf(stderr, "faultp11: %s\n", dlerror());
        return;
    }
    CK_C_GetFunctionList getfl;
    void *sym = dlsym(fp_dl, "C_GetFunctionList");
    if (!sym) {
        fprintf(stderr, "faultp11: %s has no C_GetFunctionList\n", mod);
        return;
    }
    memcpy(&getfl, &sym, sizeof getfl);
    if ((fp_init_rv = getfl(&fp_real)) != CKR_OK || !fp_real) {
        fp_init_rv = CKR_GENERAL_ERROR;
        return;
    }
    fp_list = *fp_real;
    fp_list.C_GetFunctionList = C_GetFunctionList;
    fp_list.C_GetSlotList = fp_GetSlotList;
    fp_list.C_GetSlotInfo = fp_GetSlotInfo;
    fp_list.C_GetTokenInfo = fp_GetTokenInfo;
    fp_list.C_OpenSession = fp_OpenSession;
    fp_list.C_Login = fp_Login;
    fp_list.C_SignInit = fp_SignInit;
    fp_list.C_Sign = fp_Sign;
    fp_init_rv = CKR_OK;
}

FP_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR out)
{
    if (!out)
        return CKR_ARGUMENTS_BAD;
    pthread_once(&fp_once, fp_load);
    if (fp_init_rv != CKR_OK)
        return fp_init_rv;
    *out = &fp_list;
    return CKR_OK;
}
