/* test_ipc.c — the messages between stisignd's processes (firmware/ipc):
 * the channel itself (one message per datagram, descriptors passed, an
 * oversized message refused) and every decoder of vsproto and ctlproto
 * (round trips, exact length, bounds). */
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "ctlproto.h"
#include "ipc.h"
#include "sti_err.h"
#include "vsproto.h"

static uint8_t msg[CTL_MSG_MAX + 64];

/* ---- the channel ---- */

TEST(one_message_per_datagram_with_its_descriptor)
{
    int sv[2], p[2];
    uint8_t buf[64];
    size_t n;
    int fd = -1;
    CHECK_RC(ipc_pair(sv), STI_OK);
    CHECK(pipe(p) == 0);
    CHECK_RC(ipc_send(sv[0], "\x05hello", 6, p[1]), STI_OK);
    CHECK_RC(ipc_send(sv[0], "\x06", 1, -1), STI_OK);
    CHECK_RC(ipc_recv(sv[1], buf, sizeof buf, &n, &fd), STI_OK);
    CHECK_INT(n, 6);
    CHECK(memcmp(buf, "\x05hello", 6) == 0);
    CHECK(fd >= 0);
    CHECK(fcntl(fd, F_GETFD) & FD_CLOEXEC); /* never leaks into a child */
    CHECK(write(fd, "x", 1) == 1);          /* the write end of the pipe */
    CHECK(read(p[0], buf, 1) == 1 && buf[0] == 'x');
    CHECK_RC(ipc_recv(sv[1], buf, sizeof buf, &n, &fd), STI_OK);
    CHECK_INT(n, 1);
    CHECK_INT(fd, -1);
    close(sv[0]);
    CHECK_RC(ipc_recv(sv[1], buf, sizeof buf, &n, NULL), STI_ECLOSED);
    close(sv[1]);
    close(p[0]);
    close(p[1]);
}

TEST(message_larger_than_the_buffer_is_refused_and_its_descriptor_closed)
{
    int sv[2], p[2];
    uint8_t big[256], buf[16];
    size_t n;
    int fd = 77;
    memset(big, 'a', sizeof big);
    CHECK_RC(ipc_pair(sv), STI_OK);
    CHECK(pipe(p) == 0);
    CHECK_RC(ipc_send(sv[0], big, sizeof big, p[1]), STI_OK);
    close(p[1]);
    CHECK_RC(ipc_recv(sv[1], buf, sizeof buf, &n, &fd), STI_EPROTO_TOOBIG);
    CHECK_INT(fd, -1);
    /* Every copy of the write end is closed: the reader sees end of file. */
    CHECK(read(p[0], buf, 1) == 0);
    close(sv[0]);
    close(sv[1]);
    close(p[0]);
}

TEST(non_blocking_channel_says_busy_when_empty)
{
    int sv[2];
    uint8_t buf[8];
    size_t n;
    CHECK_RC(ipc_pair(sv), STI_OK);
    fcntl(sv[1], F_SETFL, O_NONBLOCK);
    CHECK_RC(ipc_recv(sv[1], buf, sizeof buf, &n, NULL), STI_EBUSY);
    close(sv[0]);
    close(sv[1]);
}

/* ---- vsproto ---- */

static const char ident[] = "a.b.c;info=<https://cr.example.com/c.pem>;alg=ES256;ppt=shaken";

TEST(verify_request_round_trips)
{
    static struct vs_verify_req q, back;
    size_t n;
    q.id = 0x00050007;
    q.max_age = 30;
    memcpy(q.identity, ident, sizeof ident);
    q.identity_len = sizeof ident - 1;
    CHECK_RC(vs_verify_encode(&q, msg, sizeof msg, &n), STI_OK);
    CHECK(n <= VS_VERIFY_MAX);
    CHECK_RC(vs_verify_decode(msg, n, &back), STI_OK);
    CHECK_INT(back.id, q.id);
    CHECK_INT(back.max_age, 30);
    CHECK_STR(back.identity, ident);
    CHECK_RC(vs_verify_decode(msg, n - 1, &back), STI_EPROTO_FRAME);
    msg[n] = 0;
    CHECK_RC(vs_verify_decode(msg, n + 1, &back), STI_EPROTO_FRAME);
    msg[0] = VS_MSG_RESULT;
    CHECK_RC(vs_verify_decode(msg, n, &back), STI_EPROTO_FRAME);
}

TEST(verify_request_with_a_nul_or_no_identity_is_refused)
{
    static struct vs_verify_req q, back;
    size_t n;
    memcpy(q.identity, "ab", 3);
    q.identity_len = 2;
    CHECK_RC(vs_verify_encode(&q, msg, sizeof msg, &n), STI_OK);
    msg[n - 1] = 0;
    CHECK_RC(vs_verify_decode(msg, n, &back), STI_EPROTO_FRAME);
    q.identity_len = 0;
    CHECK_RC(vs_verify_encode(&q, msg, sizeof msg, &n), STI_ETOOLONG);
}

static void valid_result(struct vs_result *r)
{
    memset(r, 0, sizeof *r);
    r->id = 9;
    r->code = STI_OK;
    r->revocation = VS_REV_CHECKED;
    r->claims.attest = 'A';
    strcpy(r->claims.orig, "12025550123");
    strcpy(r->claims.dest[0], "12025550199");
    r->claims.ndest = 1;
    r->claims.iat = 1796400000;
    strcpy(r->claims.origid, "5b4e3a0e-7a4f-4c6d-9b3e-2f1c8d7e6a5b");
    strcpy(r->x5u, "https://cr.example.com/c.pem?x=1");
    strcpy(r->subject, "C=US,O=x,CN=SHAKEN x");
}

TEST(valid_result_round_trips)
{
    static struct vs_result r, back;
    size_t n;
    valid_result(&r);
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK(n <= VS_RESULT_MAX);
    CHECK_RC(vs_result_decode(msg, n, &back), STI_OK);
    CHECK_INT(back.revocation, VS_REV_CHECKED);
    CHECK_STR(back.claims.orig, "12025550123");
    CHECK_STR(back.x5u, r.x5u);
    CHECK_STR(back.subject, r.subject);
    CHECK_RC(vs_result_decode(msg, n - 1, &back), STI_EPROTO_FRAME);
}

TEST(failed_result_carries_no_claims)
{
    static struct vs_result r, back;
    size_t n, n_ok;
    valid_result(&r);
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n_ok), STI_OK);
    r.code = STI_EVFY_FETCH_STATUS;
    strcpy(r.check, "x5u");
    strcpy(r.detail, "status 302, redirects are not followed");
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK(n < n_ok);
    CHECK_RC(vs_result_decode(msg, n, &back), STI_OK);
    CHECK_INT(back.code, STI_EVFY_FETCH_STATUS);
    CHECK_STR(back.detail, r.detail);
    CHECK_STR(back.claims.orig, "");
}

TEST(result_out_of_bounds_is_refused)
{
    static struct vs_result r, back;
    size_t n;
    valid_result(&r);
    r.code = 599; /* not a code of the table */
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(vs_result_decode(msg, n, &back), STI_EPROTO_FRAME);
    valid_result(&r);
    r.revocation = 3;
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(vs_result_decode(msg, n, &back), STI_EPROTO_FRAME);
    /* "valid" claims that are not: a verifier must not vouch for them */
    valid_result(&r);
    strcpy(r.claims.orig, "12ab");
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(vs_result_decode(msg, n, &back), STI_EPROTO_FRAME);
    valid_result(&r);
    r.claims.ndest = 0;
    CHECK_RC(vs_result_encode(&r, msg, sizeof msg, &n), STI_ETOOMANY);
}

/* ---- ctlproto ---- */

TEST(file_round_trips_and_needs_an_absolute_path)
{
    struct ctl_file f;
    size_t n;
    CHECK_RC(ctl_file_encode("/etc/stisign/x.conf", "a = b\n", 6, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_file_decode(msg, n, &f), STI_OK);
    CHECK_STR(f.path, "/etc/stisign/x.conf");
    CHECK_INT(f.len, 6);
    CHECK(memcmp(f.data, "a = b\n", 6) == 0);
    CHECK_RC(ctl_file_decode(msg, n - 1, &f), STI_EPROTO_FRAME);
    CHECK_RC(ctl_file_encode("relative.conf", "", 0, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_file_decode(msg, n, &f), STI_EPROTO_FRAME);
    CHECK_RC(ctl_file_encode("/big", msg, CTL_FILE_MAX + 1, msg, sizeof msg, &n), STI_ETOOLONG);
}

TEST(small_messages_round_trip_and_refuse_trailing_bytes)
{
    size_t n;
    uint8_t kind;
    uint32_t pid;
    struct ctl_files_end e = {7, 3}, eb;
    CHECK_RC(ctl_files_end_encode(&e, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_files_end_decode(msg, n, &eb), STI_OK);
    CHECK_INT(eb.gen, 7);
    CHECK_INT(eb.nfiles, 3);
    e.gen = 0; /* generations start at 1 */
    CHECK_RC(ctl_files_end_encode(&e, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_files_end_decode(msg, n, &eb), STI_EPROTO_FRAME);
    CHECK_RC(ctl_listener_encode(CTL_LISTEN_HTTP, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_listener_decode(msg, n, &kind), STI_OK);
    CHECK_INT(kind, CTL_LISTEN_HTTP);
    CHECK_RC(ctl_listener_encode(9, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_listener_decode(msg, n, &kind), STI_EPROTO_FRAME);
    CHECK_RC(ctl_kill_encode(4242, msg, sizeof msg, &n), STI_OK);
    msg[n] = 0;
    CHECK_RC(ctl_kill_decode(msg, n + 1, &pid), STI_EPROTO_FRAME);
    CHECK_RC(ctl_kill_decode(msg, n, &pid), STI_OK);
    CHECK_INT(pid, 4242);
    CHECK_RC(ctl_kill_encode(0, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_kill_decode(msg, n, &pid), STI_EPROTO_FRAME); /* never "every process" */
    CHECK_RC(ctl_stop_encode(msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_stop_decode(msg, n), STI_OK);
    CHECK_RC(ctl_stop_decode(msg, 2), STI_EPROTO_FRAME);
}

TEST(worker_answer_has_a_pid_exactly_when_it_succeeded)
{
    struct ctl_worker w = {3, 1, 777, 0}, b;
    size_t n;
    CHECK_RC(ctl_worker_encode(&w, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_worker_decode(msg, n, &b), STI_OK);
    CHECK_INT(b.pool, 3);
    CHECK_INT(b.pid, 777);
    w.status = STI_EPINFILE;
    CHECK_RC(ctl_worker_encode(&w, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_worker_decode(msg, n, &b), STI_EPROTO_FRAME);
    w.pid = 0;
    CHECK_RC(ctl_worker_encode(&w, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_worker_decode(msg, n, &b), STI_OK);
    CHECK_INT(b.status, STI_EPINFILE);
}

TEST(spawn_request_bounds)
{
    struct ctl_spawn s = {1, 2, 5, -1, 1}, b;
    size_t n;
    CHECK_RC(ctl_spawn_encode(&s, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_spawn_decode(msg, n, &b), STI_OK);
    CHECK_INT(b.cpu, -1);
    CHECK_INT(b.gen, 5);
    s.cpu = -2;
    CHECK_RC(ctl_spawn_encode(&s, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_spawn_decode(msg, n, &b), STI_EPROTO_FRAME);
    s.cpu = 0;
    s.index = 256;
    CHECK_RC(ctl_spawn_encode(&s, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_spawn_decode(msg, n, &b), STI_EPROTO_FRAME);
}

TEST(health_round_trips_with_its_credentials)
{
    static struct ctl_health h, b;
    size_t n;
    memset(&h, 0, sizeof h);
    h.state = 1;
    strcpy(h.reason, "1 of 2 workers ready");
    h.gen = 4;
    h.signed_ok = 1000;
    h.workers = 2;
    h.ready = 1;
    h.selftest = 1;
    h.have_pool = 1;
    h.ncreds = 2;
    strcpy(h.cred[1].name, "acme");
    strcpy(h.cred[1].x5u, "https://cr.example.com/acme.pem");
    h.cred[1].bound = 1;
    h.cred[1].leaf_sha256[31] = 0xab;
    h.cred[1].signed_ok = 99;
    CHECK_RC(ctl_health_encode(&h, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_health_decode(msg, n, &b), STI_OK);
    CHECK_STR(b.reason, h.reason);
    CHECK_INT(b.ncreds, 2);
    CHECK_STR(b.cred[1].name, "acme");
    CHECK_INT(b.cred[1].leaf_sha256[31], 0xab);
    CHECK_INT(b.cred[1].signed_ok, 99);
    CHECK_RC(ctl_health_decode(msg, n - 1, &b), STI_EPROTO_FRAME);
    h.ready = 3; /* more ready than there are */
    CHECK_RC(ctl_health_encode(&h, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_health_decode(msg, n, &b), STI_EPROTO_FRAME);
    h.ready = 1;
    h.ncreds = CTL_CREDS_MAX + 1;
    CHECK_RC(ctl_health_encode(&h, msg, sizeof msg, &n), STI_ETOOMANY);
}

TEST(ready_carries_a_known_code)
{
    struct ctl_ready r = {2, STI_EHSM_LOGIN}, b;
    size_t n;
    CHECK_RC(ctl_ready_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_ready_decode(msg, n, &b), STI_OK);
    CHECK_INT(b.status, STI_EHSM_LOGIN);
    r.status = 12345;
    CHECK_RC(ctl_ready_encode(&r, msg, sizeof msg, &n), STI_OK);
    CHECK_RC(ctl_ready_decode(msg, n, &b), STI_EPROTO_FRAME);
}

CHECK_MAIN(CASE(one_message_per_datagram_with_its_descriptor),
           CASE(message_larger_than_the_buffer_is_refused_and_its_descriptor_closed),
           CASE(non_blocking_channel_says_busy_when_empty), CASE(verify_request_round_trips),
           CASE(verify_request_with_a_nul_or_no_identity_is_refused),
           CASE(valid_result_round_trips), CASE(failed_result_carries_no_claims),
           CASE(result_out_of_bounds_is_refused), CASE(file_round_trips_and_needs_an_absolute_path),
           CASE(small_messages_round_trip_and_refuse_trailing_bytes),
           CASE(worker_answer_has_a_pid_exactly_when_it_succeeded), CASE(spawn_request_bounds),
           CASE(health_round_trips_with_its_credentials), CASE(ready_carries_a_known_code))
