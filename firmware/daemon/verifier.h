/*
 * verifier.h — the RPC verify operation: STI-VS checks (pki_verify) on a
 * small pool of threads, so that fetching an x5u or checking a chain never
 * blocks the I/O loop. Results come back to the loop through a pipe.
 *
 * Conventions: one struct verifier per daemon; submit and the completion
 * callback run on the loop thread; the threads only run pki_verify on a
 * private copy of the request. At most `max_queue` verifications wait;
 * beyond that submit answers STI_EBUSY. A verify request is not the
 * signing hot path: it allocates one job.
 */
#ifndef STI_VERIFIER_H
#define STI_VERIFIER_H

#include <stdint.h>

#include "server.h"
#include "verify.h"

struct event_base;
struct verifier;

struct verifier_cfg {
    char trust_anchor[512]; /* empty: the operation is not configured */
    char cache_dir[512];
    char tls_ca[512];
    unsigned max_age;
    int allow_fetch;
    enum scope_spc_policy spc_policy;
    unsigned threads;
    unsigned max_queue;
};

/* Called on the loop thread with the connection still open (or NULL if it
 * closed meanwhile), the request id and the outcome. */
typedef void (*verifier_done_fn)(void *arg, struct rpc_conn_ref conn, uint32_t id,
                                 const struct pki_vfy_result *r);

int verifier_start(struct event_base *base, const struct verifier_cfg *cfg, verifier_done_fn done,
                   void *arg, struct verifier **out);
/* Waits for the threads to finish their current job; drops queued ones. */
void verifier_free(struct verifier *v);
/* STI_OK: queued. STI_ECONFIG: no trust anchor configured. STI_EBUSY. */
int verifier_submit(struct verifier *v, struct rpc_conn_ref conn, uint32_t id,
                    const char *identity, size_t n, uint32_t max_age);

#endif
