/* test_client.c — libstisign's pipelining against a real Unix socket whose
 * other end reads only when the test says so. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "check.h"
#include "sti_err.h"
#include "stisign.h"
#include "wire.h"

static char sock_path[108];

static int listen_here(void)
{
    struct sockaddr_un sa;
    const char *tmp = getenv("STI_TEST_TMP") ? getenv("STI_TEST_TMP") : "/tmp";
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sock_path, sizeof sock_path, "%s/client-%ld.sock", tmp, (long)getpid());
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
    unlink(sock_path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(fd, 4) != 0)
        return -1;
    return fd;
}

/* The test's end of the socket: what it has read of the client's frames. */
static struct {
    uint8_t buf[1 << 20];
    size_t have;
    unsigned seen; /* frames with ids 1..seen, in order */
    int bad;
} rd;

/* One recv (bounded by SO_RCVTIMEO); parses the complete frames. */
static void read_some(int fd)
{
    ssize_t r = recv(fd, rd.buf + rd.have, sizeof rd.buf - rd.have, 0);
    if (r <= 0)
        return;
    rd.have += (size_t)r;
    size_t off = 0;
    while (rd.have - off >= WIRE_HDR_LEN) {
        struct wire_hdr h;
        if (wire_hdr_decode(rd.buf + off, WIRE_MAX_REQUEST, &h) != STI_OK || h.id != rd.seen + 1) {
            rd.bad = 1;
            return;
        }
        if (rd.have - off < h.len)
            break;
        off += h.len;
        rd.seen++;
    }
    memmove(rd.buf, rd.buf + off, rd.have - off);
    rd.have -= off;
}

TEST(nonblocking_flush_keeps_what_a_full_socket_refuses)
{
    int lfd = listen_here();
    CHECK(lfd >= 0);
    struct stisign_client *c = NULL;
    CHECK_RC(stisign_connect(sock_path, &c), STI_OK);
    int sfd = accept(lfd, NULL, NULL);
    CHECK(sfd >= 0);
    CHECK_RC(stisign_set_nonblocking(c), STI_OK);
    /* A blocking flush here would wait for a reader that never comes: the
     * alarm turns that into a failure instead of a hang. */
    alarm(20);
    const char *dest[1] = {"12025550101"};
    struct stisign_sign_args a = {"12025550100", dest, 1, 'A', NULL, 0};
    unsigned queued = 0;
    size_t left = 0;
    int rc = STI_OK;
    /* Far more than a Unix socket buffers: queue and flush in rounds. */
    for (int round = 0; round < 64 && rc == STI_OK; round++) {
        for (int i = 0; i < 1000; i++) {
            uint32_t id;
            if (stisign_submit_sign(c, &a, &id) != STI_OK)
                break;
            queued++;
        }
        rc = stisign_flush(c);
        left = stisign_unsent(c);
        if (left)
            break; /* the socket is full and the rest is kept */
    }
    CHECK_RC(rc, STI_OK);
    CHECK(left > 0);
    /* Once the other end reads, later flushes send the rest, in order. */
    struct timeval tv = {0, 100000};
    setsockopt(sfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    for (int i = 0; i < 2000 && stisign_unsent(c) && !rd.bad; i++) {
        read_some(sfd);
        CHECK_RC(stisign_flush(c), STI_OK);
    }
    CHECK_INT(stisign_unsent(c), 0);
    for (int i = 0; i < 2000 && rd.seen < queued && !rd.bad; i++)
        read_some(sfd);
    alarm(0);
    stisign_close(c);
    close(sfd);
    close(lfd);
    unlink(sock_path);
    CHECK_INT(rd.bad, 0);
    CHECK_INT(rd.seen, queued);
}

CHECK_MAIN(CASE(nonblocking_flush_keeps_what_a_full_socket_refuses))
