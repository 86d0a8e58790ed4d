/*
 * server.h — the RPC transport: a Unix-socket listener on libevent that
 * frames requests and hands each complete frame to a handler.
 *
 * Conventions: the server owns every connection; handlers see a struct
 * rpc_conn only during the callback. To answer later (after an HSM round
 * trip) keep a struct rpc_conn_ref and look it up with rpc_conn_get: a
 * connection that closed meanwhile yields NULL and the answer is dropped.
 * Everything runs on the caller's event_base thread.
 *
 * Bounds, all checked before anything is buffered beyond a header:
 *  - a frame's length field against WIRE_MAX_REQUEST; a framing error
 *    (length, version) is answered with an error frame and the connection
 *    closed once the answer is flushed;
 *  - a partial frame must complete within frame_timeout_ms (slowloris);
 *  - a connection with max_pending requests unanswered, or more than
 *    max_outbuf bytes of answers unread, is not read from until it drains;
 *    one whose peer reads nothing for write_timeout_ms is closed;
 *  - at most max_conns connections; further ones are closed on accept.
 */
#ifndef STI_RPC_SERVER_H
#define STI_RPC_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire.h"

struct event_base;
struct rpc_server;
struct rpc_conn;

struct rpc_conn_ref {
    uint32_t idx;
    uint32_t gen;
};

struct rpc_peer {
    pid_t pid;
    uid_t uid;
    gid_t gid; /* the gid the peer runs with: it chooses it (newgrp), so it
                * is for logs, never for access decisions */
};

struct rpc_server_cfg {
    const char *path; /* Unix socket path; an existing socket file is replaced */
    mode_t mode;      /* e.g. 0660: the file has exactly this mode (whatever the umask) */
    gid_t gid;        /* group of the socket file, (gid_t)-1 to leave it */
    /* The file appears at path with its mode and group already set (made
     * in a private folder beside path, then renamed there): no client can
     * connect through a wider or other mode first. path's folder must be
     * writable, and path's folder + 18 characters must fit sun_path. */
    int listen_fd; /* >= 0: an inherited listening socket (systemd), path unused */
    uint32_t max_conns;
    uint32_t max_pending;
    size_t max_outbuf;
    int frame_timeout_ms;
    int write_timeout_ms;
};

struct rpc_handler {
    /* A complete frame whose header passed wire_hdr_decode. body points into
     * the server's buffer and is valid for the call only. */
    void (*on_frame)(void *arg, struct rpc_conn *c, const struct wire_hdr *h, const uint8_t *body,
                     size_t n);
    /* Optional: decide on a new peer; non-zero refuses it (the server sends
     * an STI_EDENIED error frame, then closes). */
    int (*on_accept)(void *arg, struct rpc_conn *c, const struct rpc_peer *peer);
    void *arg;
    /* Optional: c is about to be freed; release what the handler attached
     * (udata). Called for every connection on_accept let in. */
    void (*on_close)(void *arg, struct rpc_conn *c);
};

void rpc_server_cfg_defaults(struct rpc_server_cfg *cfg);
/* Binds cfg->path as rpc_server_start would (mode and group without a
 * window): *fd is bound, not yet listening (the server listens when it
 * starts on it, cfg->listen_fd). For a process that hands the socket to
 * another one (the parent to the front) it comes in two steps: staged, the
 * socket is bound inside its private folder (staged[] names it) and not
 * yet at cfg->path; rpc_server_publish renames it into place once it is
 * served, so a client that sees the path can connect; rpc_server_unstage
 * removes a socket never published. */
int rpc_server_bind(const struct rpc_server_cfg *cfg, int *fd);
int rpc_server_bind_staged(const struct rpc_server_cfg *cfg, int *fd, char *staged, size_t cap);
int rpc_server_publish(const char *staged, const char *path);
void rpc_server_unstage(const char *staged);
int rpc_server_start(struct event_base *base, const struct rpc_server_cfg *cfg,
                     const struct rpc_handler *h, struct rpc_server **out);
/* Closes the listener and every connection; removes the socket file. */
void rpc_server_free(struct rpc_server *s);
/* Stops accepting (graceful shutdown): existing connections keep being
 * served; the socket file is removed so new clients fail fast. */
void rpc_server_stop_accepting(struct rpc_server *s);
/* Bytes of answers not yet written to any peer. */
size_t rpc_server_unsent(const struct rpc_server *s);

/* Queues a whole frame for sending. */
int rpc_conn_send(struct rpc_conn *c, const void *frame, size_t n);
/* Reads nothing more from c (frames already read are dropped); c closes
 * once every answer owed is sent. Safe inside on_frame. */
void rpc_conn_close(struct rpc_conn *c);
/* Marks one more / one fewer request in flight on c (flow control). */
void rpc_conn_hold(struct rpc_conn *c);
void rpc_conn_release(struct rpc_conn *c);
struct rpc_conn_ref rpc_conn_ref(const struct rpc_conn *c);
struct rpc_conn *rpc_conn_get(struct rpc_server *s, struct rpc_conn_ref ref);
const struct rpc_peer *rpc_conn_peer(const struct rpc_conn *c);
/* Per-connection slot for the handler's own data (e.g. the peer's policy). */
void rpc_conn_set_udata(struct rpc_conn *c, void *p);
void *rpc_conn_udata(const struct rpc_conn *c);

struct rpc_server_stats {
    uint32_t conns;
    uint64_t accepted, refused, framing_errors, timeouts;
};
void rpc_server_stats(const struct rpc_server *s, struct rpc_server_stats *st);

#endif
