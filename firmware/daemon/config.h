/*
 * config.h — stisignd's configuration file.
 *
 *   # comment
 *   socket      = /run/stisign/sign.sock
 *   socket_mode = 0660
 *   module      = /usr/lib/softhsm/libsofthsm2.so
 *   token       = stisign                       (label or pkcs11: URI)
 *   pin_file    = /etc/stisign/pin              (mode 0600, never the PIN itself)
 *   workers     = 2
 *   worker_mode = process                        (process | thread)
 *   [credential acme]
 *   key   = acme-af                              (key label or pkcs11: URI)
 *   chain = /etc/stisign/acme-chain.pem          (leaf first)
 *   x5u   = https://cr.example.com/acme.pem
 *
 * Conventions: struct cfg is plain data filled by cfg_load; relative paths
 * are taken relative to the config file's folder. On error, err receives
 * "FILE:LINE: what is wrong".
 */
#ifndef STI_CONFIG_H
#define STI_CONFIG_H

#include <stddef.h>
#include <sys/types.h>

#include "hsm.h"
#include "passport.h"
#include "pool.h"

#define CFG_PATH_MAX 512
#define CFG_MAX_CREDS HSM_MAX_KEYS
#define CFG_NAME_MAX 63

struct cfg_cred {
    char name[CFG_NAME_MAX + 1];
    char key[256];
    char chain[CFG_PATH_MAX];
    char x5u[PP_X5U_MAX + 1];
    int line;
};

struct cfg {
    char socket[108];
    mode_t socket_mode;
    char socket_group[64];
    char module[CFG_PATH_MAX];
    char token[256];
    char pin_file[CFG_PATH_MAX];
    char pid_file[CFG_PATH_MAX];
    unsigned workers;
    enum pool_mode worker_mode;
    unsigned window;
    unsigned max_queue;
    unsigned max_conns;
    unsigned max_pending;
    int frame_timeout_ms;
    int write_timeout_ms;
    int start_timeout_ms;
    char log_level[16];
    int log_syslog;
    struct cfg_cred cred[CFG_MAX_CREDS];
    unsigned ncred;
};

void cfg_defaults(struct cfg *c);
int cfg_load(const char *path, struct cfg *c, char *err, size_t errlen);

#endif
