/*
 * tools.h — the stisign subcommands, one function each, all taking the
 * arguments after the subcommand name. Each returns the process exit code:
 * 0 success, 1 the operation failed (the error code and message printed),
 * 2 usage error.
 */
#ifndef STI_TOOLS_H
#define STI_TOOLS_H

int tool_sign(int argc, char **argv);
int tool_health(int argc, char **argv);
int tool_creds(int argc, char **argv);
int tool_bench(int argc, char **argv);
int tool_token(int argc, char **argv);
int tool_key(int argc, char **argv);
int tool_csr(int argc, char **argv);
int tool_verify(int argc, char **argv);
int tool_ca(int argc, char **argv);

/* Prints "stisign: error NNN (STI_NAME): message[: detail]" to stderr. */
void tool_error(int code, const char *detail);

#endif
