/* tokenio.c — what the provisioning subcommands share: opening the token
 * of --token with the PIN of --pin-file through libp11, a key on it, and
 * writing a result file atomically. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "hsm.h"
#include "hsm_p11.h"
#include "opts.h"
#include "sti_err.h"
#include "tools.h"

#ifndef STI_DEFAULT_MODULE
#define STI_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#endif

/* Opens and logs in to the token of --token with the PIN of --pin-file. */
int tool_p11_open(const struct opt *o, size_t no, struct hsm_p11 **p)
{
    struct hsm_token_sel tok;
    struct hsm_key_sel ignored;
    char pin[HSM_PIN_MAX + 1];
    size_t pl;
    const char *module = opts_get(o, no, "module");
    int rc = hsm_uri_parse(opts_get(o, no, "token"), &tok, &ignored);
    if (rc) {
        tool_error(rc, opts_get(o, no, "token"));
        return rc;
    }
    if ((rc = hsm_pin_read(opts_get(o, no, "pin-file"), pin, sizeof pin, &pl))) {
        tool_error(rc, opts_get(o, no, "pin-file"));
        return rc;
    }
    rc = hsm_p11_open(module ? module : STI_DEFAULT_MODULE, &tok, pin, p);
    hsm_wipe(pin, sizeof pin);
    if (rc)
        tool_error(rc, opts_get(o, no, "token"));
    return rc;
}

int tool_p11_key(struct hsm_p11 *p, const char *spec, EVP_PKEY **key)
{
    struct hsm_key_sel ks;
    int rc = hsm_key_sel_parse(spec, &ks);
    if (!rc)
        rc = hsm_p11_private_key(p, &ks, key);
    if (rc)
        tool_error(rc, spec);
    return rc;
}

/* Writes text to path through a temporary file and rename, so a reader
 * never sees half a certificate; NULL path is stdout. */
int tool_write_out(const char *path, const char *text)
{
    char tmp[4096];
    if (path == NULL) {
        fputs(text, stdout);
        return fflush(stdout) == 0 ? STI_OK : STI_EIO;
    }
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return STI_ETOOLONG;
    FILE *f = fopen(tmp, "w");
    if (f == NULL)
        return STI_EIO;
    int ok = fputs(text, f) >= 0;
    ok = fflush(f) == 0 && ok;
    ok = fsync(fileno(f)) == 0 && ok;
    ok = fclose(f) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return STI_EIO;
    }
    return STI_OK;
}

