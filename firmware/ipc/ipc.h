/*
 * ipc.h — the messages between stisignd's processes (docs/architecture.md).
 *
 * Every channel is a SOCK_SEQPACKET socketpair: one message per datagram,
 * so there is no framing to get wrong. The first byte of a message is its
 * type; each channel's codec (workproto.h for the HSM workers, vsproto.h
 * for the verifier, ctlproto.h for the parent) gives every type a maximum
 * and one decoder that accepts only a message consumed exactly. A message
 * larger than the receiver's buffer for that channel is refused before any
 * of it is used (MSG_TRUNC), and ends the channel: processes on either
 * side trust each other only as far as these decoders go.
 *
 *   ipc_pair        a channel (close-on-exec on both ends)
 *   ipc_send        one message, optionally passing one descriptor
 *   ipc_recv        one message and the descriptor it carried, if any
 *   ipc_put_str     a u16-length-prefixed string into a writer
 *   ipc_get_str     the same out of a reader: bounded, NUL-free
 *
 * Conventions: blocking or not as the descriptor is; EINTR is retried.
 * Caller-owned buffers, no allocation.
 */
#ifndef STI_IPC_H
#define STI_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

int ipc_pair(int fds[2]);
/* STI_OK, STI_EBUSY when a non-blocking channel is full, STI_ECLOSED. */
int ipc_send(int fd, const void *msg, size_t n, int pass_fd);
/* STI_OK with *n bytes (n >= 1) and *fd_out (-1 if none). STI_EBUSY: no
 * message now (non-blocking). STI_ECLOSED: the peer closed. STI_EPROTO_TOOBIG:
 * the message did not fit cap (it is discarded; treat the peer as broken).
 * fd_out may be NULL: a descriptor received then is closed. */
int ipc_recv(int fd, void *buf, size_t cap, size_t *n, int *fd_out);

int ipc_put_str(struct buf_wr *w, const char *s, size_t max);
/* Into out[cap]: STI_EPROTO_FRAME when longer than cap - 1 or holding NUL. */
int ipc_get_str(struct buf_rd *r, char *out, size_t cap);

#endif
