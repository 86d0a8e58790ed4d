#!/usr/bin/env python3
"""Who may sign what: SO_PEERCRED allow-lists, per-peer TN scope, the
socket file's mode, and the iat window of caller-supplied times."""
import os
import socket
import stat
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import OP_SIGN, T_IDENTITY, T_MESSAGE, Conn, check, frame, main, sign_body

SCOPE = "range:12025550100/100"


def setup(env):
    env.keygen("af")
    env.ca_init(SCOPE)
    env.credential("af", "af", env.issue("af", SCOPE))


def sign_status(env, orig, **kw):
    c = Conn(env.sock)
    c.send(frame(OP_SIGN, 1, sign_body(orig, ["12025550101"], **kw)))
    r = c.recv_frame()
    c.close()
    return r


def socket_file_is_0660(env):
    setup(env)
    env.start()
    mode = stat.S_IMODE(os.stat(env.sock).st_mode)
    check(mode == 0o660, "socket mode %o" % mode)


def peer_not_in_allow_list_is_denied_then_closed(env):
    setup(env)
    me = os.getuid()
    env.start("allow_uid = %d\nallow_gid = %d\n" % (me + 4242, os.getgid() + 4242))
    c = Conn(env.sock)
    op, status, rid, f = c.recv_frame()
    check(status == 208, "denied with 208, got %d" % status)
    check(b"not allowed" in f[T_MESSAGE][0], "message says so")
    check(c.closed_by_peer(), "closed after the error")
    check("refused peer" in env.logtext(), "refusal logged")


def peer_in_allow_list_signs(env):
    setup(env)
    env.start("allow_uid = 4242 %d\n" % os.getuid())
    op, status, rid, f = sign_status(env, "12025550100")
    check(status == 0 and T_IDENTITY in f, "allowed uid signs: %d" % status)


def allow_by_group(env):
    setup(env)
    env.start("allow_uid = 4242\nallow_gid = %d\n" % os.getgid())
    check(sign_status(env, "12025550100")[1] == 0, "allowed gid signs")


def per_peer_scope_limits_what_a_tenant_signs(env):
    setup(env)
    env.start("[peer tenant]\nuid = %d\nscope = range:12025550100/10 tn:12025550150\n"
              % os.getuid())
    check(sign_status(env, "12025550105")[1] == 0, "inside the peer scope")
    check(sign_status(env, "12025550150")[1] == 0, "the single TN of the peer scope")
    status = sign_status(env, "12025550120")[1]
    check(status == 304, "outside the peer scope but inside the certificate: 304, got %d" % status)


def peer_scope_by_gid(env):
    setup(env)
    env.start("[peer grp]\ngid = %d\nscope = tn:12025550199\n" % os.getgid())
    check(sign_status(env, "12025550199")[1] == 0, "inside")
    check(sign_status(env, "12025550198")[1] == 304, "outside")


def bad_peer_config_is_refused(env):
    setup(env)
    rc = env.start("[peer x]\nscope = tn:1\n", expect_fail=True)
    check(rc != 0 and "needs scope and one of uid or gid" in env.logtext(), env.logtext())


def caller_iat_must_be_fresh_and_not_future(env):
    setup(env)
    env.start()
    now = int(time.time())
    check(sign_status(env, "12025550100", iat=now - 30)[1] == 0, "30 s old accepted")
    check(sign_status(env, "12025550100", iat=now - 120)[1] == 104, "120 s old refused")
    check(sign_status(env, "12025550100", iat=now + 60)[1] == 104, "future refused")
    check(sign_status(env, "12025550100", iat=1 << 62)[1] == 104, "far future refused")


if __name__ == "__main__":
    main([socket_file_is_0660, peer_not_in_allow_list_is_denied_then_closed,
          peer_in_allow_list_signs, allow_by_group, per_peer_scope_limits_what_a_tenant_signs,
          peer_scope_by_gid, bad_peer_config_is_refused, caller_iat_must_be_fresh_and_not_future],
         "access")
