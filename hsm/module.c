/*
 * module.c — loading a PKCS#11 module: dlopen, C_GetFunctionList,
 * C_Initialize with OS locking, one reference-counted object per path, and
 * the CK_RV -> STI_E* table.
 */
#include "hsm_int.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sti_err.h"

struct hsm_module {
    char path[PATH_MAX];
    void *dl;
    CK_FUNCTION_LIST_PTR fl;
    unsigned long refs;
    pid_t pid;     /* the process that ran C_Initialize */
    int owns_init; /* we ran C_Initialize, so we run C_Finalize */
    struct hsm_module *next;
};

/* The registry is process-wide; loads and unloads are rare. */
static pthread_mutex_t hsm_modules_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hsm_module *hsm_modules;

CK_FUNCTION_LIST_PTR hsm_module_fl(const struct hsm_module *m)
{
    return m->fl;
}

void hsm_module_ref(struct hsm_module *m)
{
    pthread_mutex_lock(&hsm_modules_lock);
    m->refs++;
    pthread_mutex_unlock(&hsm_modules_lock);
}

int hsm_module_load(const char *path, struct hsm_module **out)
{
    struct hsm_module *m = NULL;
    char real[PATH_MAX];
    int rc = STI_OK;

    if (!path || !*path || !out)
        return STI_EINVAL;
    *out = NULL;
    if (strlen(path) >= sizeof real)
        return STI_ETOOLONG;
    /* Two spellings of one library (a symlink) are one module: C_Initialize
     * must run once per process, not once per spelling. */
    if (!realpath(path, real))
        return STI_EHSM_MODULE;

    pthread_mutex_lock(&hsm_modules_lock);
    for (m = hsm_modules; m; m = m->next) {
        /* An entry inherited across fork() belongs to the parent. */
        if (m->pid == getpid() && strcmp(m->path, real) == 0) {
            m->refs++;
            *out = m;
            goto out;
        }
    }

    m = calloc(1, sizeof *m);
    STI_CHECK(m != NULL, STI_ENOMEM);
    memcpy(m->path, real, strlen(real) + 1);
    m->pid = getpid();
    m->refs = 1;
    m->dl = dlopen(real, RTLD_NOW | RTLD_LOCAL);
    STI_CHECK(m->dl != NULL, STI_EHSM_MODULE);

    CK_C_GetFunctionList getfl;
    /* POSIX guarantees that a data pointer from dlsym converts to a function
     * pointer; memcpy keeps -Wpedantic quiet about it. */
    void *sym = dlsym(m->dl, "C_GetFunctionList");
    STI_CHECK(sym != NULL, STI_EHSM_MODULE);
    memcpy(&getfl, &sym, sizeof getfl);
    STI_CHECK(getfl(&m->fl) == CKR_OK && m->fl != NULL, STI_EHSM_MODULE);

    CK_C_INITIALIZE_ARGS args;
    memset(&args, 0, sizeof args);
    args.flags = CKF_OS_LOCKING_OK;
    CK_RV rv = m->fl->C_Initialize(&args);
    if (rv == CKR_OK)
        m->owns_init = 1;
    else if (rv != CKR_CRYPTOKI_ALREADY_INITIALIZED)
        STI_CHECK(0, STI_EHSM_MODULE);

    m->next = hsm_modules;
    hsm_modules = m;
    *out = m;
    m = NULL;
out:
    if (rc != STI_OK && m) {
        if (m->dl)
            dlclose(m->dl);
        free(m);
    }
    pthread_mutex_unlock(&hsm_modules_lock);
    return rc;
}

void hsm_module_unload(struct hsm_module *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&hsm_modules_lock);
    if (--m->refs > 0) {
        pthread_mutex_unlock(&hsm_modules_lock);
        return;
    }
    for (struct hsm_module **pp = &hsm_modules; *pp; pp = &(*pp)->next) {
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    }
    pthread_mutex_unlock(&hsm_modules_lock);

    /* Someone else initialised the module (libp11 in this process): leave
     * their library state alone. A forked child never finalises the
     * parent's initialisation. */
    if (m->owns_init && m->pid == getpid())
        m->fl->C_Finalize(NULL);
    dlclose(m->dl);
    free(m);
}

int hsm_rv_session_lost(CK_RV rv)
{
    switch (rv) {
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_ERROR:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_GENERAL_ERROR:
    /* A sign operation left active by an interrupted call cannot be
     * cancelled in PKCS#11 2.40; a fresh session is the only way out. */
    case CKR_OPERATION_ACTIVE:
        return 1;
    default:
        return 0;
    }
}

int hsm_rv_map(CK_RV rv, int fallback)
{
    switch (rv) {
    case CKR_OK:
        return STI_OK;
    case CKR_HOST_MEMORY:
        return STI_ENOMEM;
    case CKR_CRYPTOKI_NOT_INITIALIZED:
        return STI_EHSM_MODULE;
    case CKR_TOKEN_NOT_PRESENT:
    case CKR_DEVICE_REMOVED:
    case CKR_TOKEN_NOT_RECOGNIZED:
    case CKR_SLOT_ID_INVALID:
        return STI_EHSM_TOKEN;
    case CKR_PIN_INCORRECT:
    case CKR_PIN_INVALID:
    case CKR_PIN_LEN_RANGE:
    case CKR_PIN_EXPIRED:
    case CKR_PIN_LOCKED:
    case CKR_USER_NOT_LOGGED_IN:
    case CKR_USER_PIN_NOT_INITIALIZED:
    case CKR_USER_TYPE_INVALID:
    case CKR_USER_ANOTHER_ALREADY_LOGGED_IN:
    case CKR_USER_TOO_MANY_TYPES:
        return STI_EHSM_LOGIN;
    case CKR_OBJECT_HANDLE_INVALID:
    case CKR_KEY_HANDLE_INVALID:
    case CKR_KEY_TYPE_INCONSISTENT:
    case CKR_KEY_FUNCTION_NOT_PERMITTED:
        return STI_EHSM_KEY;
    case CKR_DEVICE_ERROR:
    case CKR_DEVICE_MEMORY:
    case CKR_GENERAL_ERROR:
    case CKR_FUNCTION_FAILED:
        return STI_EHSM_DEVICE;
    case CKR_SESSION_HANDLE_INVALID:
    case CKR_SESSION_CLOSED:
    case CKR_SESSION_COUNT:
    case CKR_SESSION_EXISTS:
    case CKR_SESSION_READ_ONLY:
    case CKR_OPERATION_ACTIVE:
        return STI_EHSM_SESSION;
    default:
        return fallback;
    }
}
