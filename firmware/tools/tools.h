/*
 * tools.h — the stisign subcommands, one function each, all taking the
 * arguments after the subcommand name. Each returns the process exit code:
 * 0 success, 1 the operation failed (the error code and message printed),
 * 2 usage error.
 */
#ifndef STI_TOOLS_H
#define STI_TOOLS_H

#include <stddef.h>

#include <openssl/evp.h>

int tool_sign(int argc, char **argv);
int tool_health(int argc, char **argv);
int tool_creds(int argc, char **argv);
int tool_bench(int argc, char **argv);
int tool_token(int argc, char **argv);
int tool_key(int argc, char **argv);
int tool_csr(int argc, char **argv);
int tool_verify(int argc, char **argv);
int tool_ca(int argc, char **argv);

/* Shared by the provisioning subcommands (tokenio.c). Each prints its own
 * error and returns the code. */
struct opt;
struct hsm_p11;
int tool_p11_open(const struct opt *o, size_t no, struct hsm_p11 **p);
int tool_p11_key(struct hsm_p11 *p, const char *spec, EVP_PKEY **key);
/* NULL path: stdout; else temporary file, fsync, rename. */
int tool_write_out(const char *path, const char *text);
/* stisign csr (ca = 0) and stisign ca csr (ca = 1: CA:TRUE, pathlen 0). */
int tool_csr_run(int argc, char **argv, int ca);

/* Prints "stisign: error NNN (STI_NAME): message[: detail]" to stderr. */
void tool_error(int code, const char *detail);

#endif
