/* ipc.c — one message per SEQPACKET datagram, with an optional descriptor. */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC */
#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sti_err.h"

int ipc_pair(int fds[2])
{
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds) != 0)
        return errno == EMFILE || errno == ENFILE ? STI_EIO : STI_EINTERNAL;
    return STI_OK;
}

int ipc_send(int fd, const void *msg, size_t n, int pass_fd)
{
    struct iovec iov = {(void *)msg, n};
    struct msghdr mh;
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int))];
    } cm;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    if (pass_fd >= 0) {
        memset(&cm, 0, sizeof cm);
        mh.msg_control = cm.space;
        mh.msg_controllen = sizeof cm.space;
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &pass_fd, sizeof(int));
    }
    for (;;) {
        ssize_t s = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (s == (ssize_t)n)
            return STI_OK;
        if (s < 0 && errno == EINTR)
            continue;
        if (s < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS))
            return STI_EBUSY;
        return STI_ECLOSED;
    }
}

int ipc_recv(int fd, void *buf, size_t cap, size_t *n, int *fd_out)
{
    struct iovec iov = {buf, cap};
    struct msghdr mh;
    union {
        struct cmsghdr h;
        char space[CMSG_SPACE(sizeof(int) * 4)];
    } cm;
    ssize_t s;
    int got = -1;
    if (fd_out)
        *fd_out = -1;
    memset(&mh, 0, sizeof mh);
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.space;
    mh.msg_controllen = sizeof cm.space;
    do
        s = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
    while (s < 0 && errno == EINTR);
    if (s < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? STI_EBUSY : STI_ECLOSED;
    /* Every descriptor that came is taken, so none leaks whatever happens
     * to the message: at most one is expected. */
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int one;
            memcpy(&one, CMSG_DATA(c) + i * sizeof(int), sizeof one);
            if (got < 0)
                got = one;
            else
                close(one);
        }
    }
    int bad = s == 0                                      ? STI_ECLOSED
              : (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) ? STI_EPROTO_TOOBIG
                                                          : STI_OK;
    if (bad || !fd_out) {
        if (got >= 0)
            close(got);
        got = -1;
    }
    if (bad)
        return bad;
    if (fd_out)
        *fd_out = got;
    *n = (size_t)s;
    return STI_OK;
}

int ipc_put_str(struct buf_wr *w, const char *s, size_t max)
{
    size_t n = strlen(s);
    int rc;
    if (n > max || n > UINT16_MAX)
        return STI_ETOOLONG;
    if ((rc = buf_wr_u16(w, (uint16_t)n)))
        return rc;
    return buf_wr_bytes(w, s, n);
}

int ipc_get_str(struct buf_rd *r, char *out, size_t cap)
{
    uint16_t n;
    const uint8_t *b;
    int rc;
    if ((rc = buf_rd_u16(r, &n)))
        return rc;
    if (n >= cap || (rc = buf_rd_bytes(r, n, &b)) || memchr(b, 0, n))
        return STI_EPROTO_FRAME;
    memcpy(out, b, n);
    out[n] = '\0';
    return STI_OK;
}
