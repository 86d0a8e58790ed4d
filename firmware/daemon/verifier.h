/*
 * verifier.h — the front's side of the RPC verify operation. Verification
 * itself runs in the verifier process (firmware/vs/, verifier_main.c):
 * unprivileged, without token or store, the only process that fetches x5u
 * chains and CRLs from the network. The parent starts it and hands the
 * front its channel (verifier_attach); this file keeps the table of
 * requests it owes an answer. When the process dies, every request it held
 * is answered STI_EVFY_UNAVAILABLE, and so is every new one until the
 * parent has started another: explicit, never silence. Signing never waits
 * on it. A new channel (a restart, or a reload that changed the verifier's
 * settings) takes the new requests; the previous one finishes what it holds.
 *
 * Conventions: loop thread only. A verify request is not the signing hot
 * path, but it allocates nothing either: max_pending slots are made once.
 */
#ifndef STI_VERIFIER_H
#define STI_VERIFIER_H

#include <stdint.h>
#include <sys/types.h>

#include "server.h"
#include "vsproto.h"

struct event_base;
struct verifier;

/* Called on the loop thread once per submitted request: with the verifier's
 * result, or STI_EVFY_UNAVAILABLE (check "verifier") when it died. The
 * connection may have closed meanwhile (rpc_conn_get returns NULL). */
typedef void (*verifier_done_fn)(void *arg, struct rpc_conn_ref conn, uint32_t id,
                                 const struct vs_result *r);

int verifier_new(struct event_base *base, unsigned max_pending, verifier_done_fn done, void *arg,
                 struct verifier **out);
/* Answers nothing more; closes the channels (the process then leaves). */
void verifier_free(struct verifier *v);
/* The verifier process's channel (the front owns fd from now). */
void verifier_attach(struct verifier *v, int fd, pid_t pid);
/* STI_OK: the callback will run. STI_ECONFIG (no verifier), STI_EBUSY,
 * STI_EVFY_UNAVAILABLE (the process is down): it will not. */
int verifier_submit(struct verifier *v, struct rpc_conn_ref conn, uint32_t id, const char *identity,
                    size_t n, uint32_t max_age);

struct verifier_stats {
    pid_t pid; /* 0 while down */
    unsigned pending;
    uint64_t attached; /* channels received: 1 + restarts + reloads */
};
void verifier_stats(const struct verifier *v, struct verifier_stats *st);

/* verifier_main.c: the verifier process itself (`stisignd --verifier`). */
int verifier_main(const char *cfgpath, int fd);

#endif
