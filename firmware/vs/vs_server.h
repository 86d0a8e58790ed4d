/*
 * vs_server.h — the verifier process's side of its channel to the front:
 * VERIFY requests in, RESULT answers out (vsproto.h), each request one
 * vs_verify_start. At most max_pending verifications run at once; beyond
 * that a request is answered STI_EBUSY at once. The loop ends when the
 * front closes the channel or sends a message that does not decode (the
 * front is then broken and the parent will restart both sides).
 *
 * Conventions: event-loop thread only; the verifier outlives the server. Answers that the channel
 * cannot take at once wait in a queue bounded by max_pending (one answer per request).
 */
#ifndef STI_VS_SERVER_H
#define STI_VS_SERVER_H

#include "vs_verify.h"

struct event_base;
struct vs_server;

int vs_server_new(struct event_base *base, int fd, struct vs_verifier *v, unsigned max_pending,
                  struct vs_server **out);
/* Requests still running are dropped: free the server, then the cache,
 * then the verifier (vs_verify.h), with no loop pass in between. */
void vs_server_free(struct vs_server *s);

#endif
