/*
 * stisign.h — libstisign, the client of the stisign signing RPC.
 *
 * Link with `pkg-config --libs stisign`. The wire protocol is described in
 * docs/protocol.md; this library is one implementation of it.
 *
 * Conventions:
 *  - Every function returns 0 or a stisign error code (the numbers of
 *    docs/protocol.md; stisign_strerror gives the message). A server-side
 *    failure of one request is not a function failure: it arrives as
 *    result->status with result->message.
 *  - A struct stisign_client is one connection and is used by one thread at
 *    a time; different clients may be used by different threads. Blocking
 *    calls (stisign_sign, stisign_health, ...) reconnect once and resend
 *    when the connection was lost before an answer came. Do not mix them
 *    with pipelined calls on one client: a blocking call sends what was
 *    queued with it but discards answers to other ids while it waits.
 *  - Pipelining: stisign_submit_sign queues a request (no syscall);
 *    stisign_flush sends everything queued; stisign_read reads whatever has
 *    arrived; stisign_take returns one complete answer from what was read.
 *    Answers come back in any order: match them by id. Keep at most the
 *    server's max_pending_per_connection (default 256) requests outstanding
 *    per connection, or the server stops reading until answers are read.
 *  - All strings in results are NUL-terminated, truncated never: a field
 *    that does not fit is a protocol error.
 */
#ifndef STISIGN_H
#define STISIGN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define STISIGN_EXPORT __attribute__((visibility("default")))

#define STISIGN_IDENTITY_MAX 4096
#define STISIGN_MESSAGE_MAX 256

struct stisign_client;

struct stisign_sign_args {
    const char *orig;        /* calling TN, e.g. "+1 202 555 0100" */
    const char *const *dest; /* called TNs */
    unsigned ndest;          /* 1..16 */
    char attest;             /* 'A', 'B' or 'C' */
    const char *origid;      /* NULL: the server generates a UUID */
    long long iat;           /* 0: the server's clock */
};

struct stisign_result {
    uint32_t id;
    uint8_t op;
    int status; /* 0, or the error code the server answered with */
    char message[STISIGN_MESSAGE_MAX];
    char identity[STISIGN_IDENTITY_MAX]; /* sign: the Identity header value */
    char cred[128];                      /* sign: label of the credential used */
    char origid[40];
    long long iat;
};

struct stisign_health {
    int state; /* 0 ready, 1 degraded, 2 down */
    uint32_t workers, workers_ready, creds_valid, in_flight;
    uint64_t signed_ok, failed, uptime, hsm_errors;
    int last_hsm_error;
    char version[32];
    char reason[STISIGN_MESSAGE_MAX];
};

struct stisign_cred {
    char label[128];
    char x5u[520];
    char subject[256];
    char scope[1024];
    long long not_before, not_after;
    int state; /* 0 valid, 1 expired, 2 not yet valid, 3 unavailable */
    uint64_t signed_ok;
};

/* Outcome of the verify operation (an inbound call's Identity header). */
struct stisign_verify_result {
    int status; /* 0: valid; else the code of the check that failed */
    char message[STISIGN_MESSAGE_MAX];
    char check[48]; /* failed check: format, header, info, claims, iat, x5u, ... */
    char detail[256];
    char attest;
    char orig[16];
    char dest[16][16];
    unsigned ndest;
    long long iat;
    char origid[40];
    char x5u[520];
    char subject[256]; /* the signing certificate's subject */
    /* STISIGN_REV_*: whether the chain was checked against its CRLs */
    unsigned revocation;
};
#define STISIGN_REV_OFF 0     /* the daemon checks no CRLs (verify_crl = off) */
#define STISIGN_REV_CHECKED 1 /* every certificate checked, none revoked */
#define STISIGN_REV_UNKNOWN 2 /* some CRL could not be had (verify_crl = prefer) */

STISIGN_EXPORT int stisign_connect(const char *socket_path, struct stisign_client **out);
STISIGN_EXPORT void stisign_close(struct stisign_client *c);
STISIGN_EXPORT int stisign_fd(const struct stisign_client *c);

STISIGN_EXPORT int stisign_sign(struct stisign_client *c, const struct stisign_sign_args *a,
                                struct stisign_result *r);
/* max_age 0: the daemon's configured freshness window. */
STISIGN_EXPORT int stisign_verify(struct stisign_client *c, const char *identity, unsigned max_age,
                                  struct stisign_verify_result *r);
STISIGN_EXPORT int stisign_health(struct stisign_client *c, struct stisign_health *h);
STISIGN_EXPORT int stisign_list_creds(struct stisign_client *c, struct stisign_cred *out,
                                      size_t max, size_t *n);

STISIGN_EXPORT int stisign_submit_sign(struct stisign_client *c, const struct stisign_sign_args *a,
                                       uint32_t *id);
/* Sends what was queued. Blocking socket: all of it. Non-blocking: what
 * the socket takes now; the rest stays queued (stisign_unsent) for the
 * next call once the socket is writable (POLLOUT) — keep reading answers
 * meanwhile. */
STISIGN_EXPORT int stisign_flush(struct stisign_client *c);
/* Bytes queued and not yet sent. */
STISIGN_EXPORT size_t stisign_unsent(const struct stisign_client *c);
/* One read(2); returns 0 (also when nothing was available on a
 * non-blocking socket) or an error code; the closed-by-peer code when EOF. */
STISIGN_EXPORT int stisign_read(struct stisign_client *c);
/* *got = 1 and r filled when a complete answer was buffered. */
STISIGN_EXPORT int stisign_take(struct stisign_client *c, struct stisign_result *r, int *got);
/* Switches the socket to non-blocking (for event loops and the bench). */
STISIGN_EXPORT int stisign_set_nonblocking(struct stisign_client *c);

STISIGN_EXPORT const char *stisign_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
