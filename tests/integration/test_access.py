#!/usr/bin/env python3
"""Who may sign what: SO_PEERCRED allow-lists, per-peer TN scope, the
socket file's mode, and the iat window of caller-supplied times.

Group settings match by membership in the user database, never by the gid
a client runs with (which it chooses: newgrp). The tests that show it run
as root: they make throwaway users and groups (useradd, groupadd; removed
at the end, also on failure) and connect as them from a forked child with
exactly the credentials SO_PEERCRED will report."""
import grp
import json
import os
import pwd
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (BUILD, OP_SIGN, T_IDENTITY, T_MESSAGE, Conn, check, frame, main,  # noqa: E402
                     sign_body, wait_for)

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


def reload(env, extra):
    """Rewrites the configuration with extra, sends SIGHUP and waits until
    the daemon says the access rules are applied."""
    n = env.logtext().count("access rules applied")
    env.write_config(extra)
    env.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: env.logtext().count("access rules applied") > n, "the reload")


def sign_on(c, rid, orig):
    c.send(frame(OP_SIGN, rid, sign_body(orig, ["12025550101"])))
    return c.recv_frame()


def reload_narrows_the_scope_of_an_open_connection(env):
    setup(env)
    env.start("[peer me]\nuid = %d\nscope = range:12025550100/100\n" % os.getuid())
    c = Conn(env.sock)
    check(sign_on(c, 1, "12025550150")[1] == 0, "inside the first scope")
    reload(env, "[peer me]\nuid = %d\nscope = tn:12025550100\n" % os.getuid())
    status = sign_on(c, 2, "12025550150")[1]
    check(status == 304, "the same connection, after the reload: 304, got %d" % status)
    check(sign_on(c, 3, "12025550100")[1] == 0, "what the new scope allows still signs")
    check("take effect at restart" not in env.logtext(), env.logtext())
    c.close()


def reload_removes_an_open_connection_from_the_allow_list(env):
    setup(env)
    env.start("allow_uid = %d\n" % os.getuid())
    c = Conn(env.sock)
    check(sign_on(c, 1, "12025550100")[1] == 0, "allowed")
    reload(env, "allow_uid = 4242\n")
    op, status, rid, f = sign_on(c, 2, "12025550100")
    check((op, status, rid) == (OP_SIGN | 0x80, 208, 2), "denied: %r" % ((op, status, rid),))
    check(c.closed_by_peer(), "and closed")
    check("no longer allowed" in env.logtext(), "logged")
    check(sign_status(env, "12025550100")[1] == 208, "new connections refused at accept")


# ---- group membership from the user database (root only) ----

def _retry(args):
    """useradd & co. fail while another process holds /etc/passwd's lock."""
    for _ in range(50):
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode == 0:
            return
        time.sleep(0.1)
    raise AssertionError("%s: %s" % (" ".join(args), r.stderr))


class Accounts:
    """Throwaway users and groups, removed when the with-block ends."""

    def __init__(self):
        self.tag = "sti" + uuid.uuid4().hex[:8]
        self.users, self.groups = [], []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for name in self.users:
            subprocess.run(["userdel", name], capture_output=True)
        for name in self.groups:
            subprocess.run(["groupdel", name], capture_output=True)

    def group(self):
        name = "%sg%d" % (self.tag, len(self.groups))
        _retry(["groupadd", name])
        self.groups.append(name)
        return name

    def user(self, primary, member_of=()):
        """A user whose passwd group is primary and who /etc/group lists in
        member_of; no home, no shell."""
        name = "%su%d" % (self.tag, len(self.users))
        args = ["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", "-g", primary]
        if member_of:
            args += ["-G", ",".join(member_of)]
        _retry(args + [name])
        self.users.append(name)
        return name


def gid(name):
    return grp.getgrnam(name).gr_gid


class UserClient:
    """One connection made by a child process running as uid with gid and
    supplementary groups exactly as given: sign() sends sign requests on
    that one connection and returns their statuses ("closed" once the
    daemon closed it)."""

    def __init__(self, sock, user, run_gid, groups=()):
        cmd_r, self.cmd_w = os.pipe()
        self.res_r, res_w = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            try:
                os.close(self.cmd_w)
                os.close(self.res_r)
                os.setgroups([gid(g) for g in groups])
                os.setgid(gid(run_gid))
                os.setuid(pwd.getpwnam(user).pw_uid)
                c = Conn(sock)
                out = os.fdopen(res_w, "w")
                rid = 0
                for line in os.fdopen(cmd_r):
                    got = []
                    for tn in json.loads(line):
                        rid += 1
                        try:
                            c.send(frame(OP_SIGN, rid, sign_body(tn, ["12025550101"])))
                        except OSError:
                            pass  # refused at accept: its 208 is still there to read
                        try:
                            r = c.recv_frame()
                            got.append(r[1] if r else "closed")
                        except OSError:
                            got.append("closed")
                    out.write(json.dumps(got) + "\n")
                    out.flush()
            except BaseException as e:  # noqa: BLE001
                os.write(res_w, (json.dumps("child: %r" % e) + "\n").encode())
            finally:
                os._exit(0)
        os.close(cmd_r)
        os.close(res_w)
        self.res = os.fdopen(self.res_r)

    def sign(self, *tns):
        os.write(self.cmd_w, (json.dumps(tns) + "\n").encode())
        got = json.loads(self.res.readline() or '"child: gone"')
        check(isinstance(got, list), got)
        return got

    def close(self):
        os.close(self.cmd_w)
        self.res.close()
        os.waitpid(self.pid, 0)


def as_user(env, user, run_gid, groups, *tns):
    c = UserClient(env.sock, user, run_gid, groups)
    try:
        return c.sign(*tns)
    finally:
        c.close()


def with_accounts(test):
    """Runs test(env, accounts) as root with the socket in a folder other
    users can reach, open to all by its mode (the settings under test
    decide); the accounts go away whatever happens."""
    def run(env):
        if os.geteuid() != 0:
            print("skip %s: needs root (useradd, setuid)" % test.__name__)
            return
        sockdir = tempfile.mkdtemp(prefix="access-", dir=BUILD)
        os.chmod(sockdir, 0o711)
        env.sock = os.path.join(sockdir, "sign.sock")
        try:
            with Accounts() as acct:
                test(env, acct)
        finally:
            env.stop()
            shutil.rmtree(sockdir, ignore_errors=True)
    run.__name__ = test.__name__
    return run


@with_accounts
def group_scope_comes_from_membership_not_the_chosen_gid(env, acct):
    ga, gb = acct.group(), acct.group()
    u = acct.user(ga, [gb])  # passwd group A, listed in B
    setup(env)
    env.start("socket_mode = 0666\n[peer a]\ngroup = %s\nscope = tn:12025550100\n"
              "[peer b]\ngroup = %s\nscope = range:12025550100/100\n" % (ga, gb))
    # Running as B (newgrp B) must not buy B's wider scope: A's applies too.
    check(as_user(env, u, gb, [ga, gb], "12025550100", "12025550150") == [0, 304],
          "as gid B: only what both A and B allow")
    check(as_user(env, u, ga, [ga, gb], "12025550150") == [304], "as gid A")
    # Nor does dropping A from the process's groups shed A's limit.
    check(as_user(env, u, gb, [gb], "12025550150") == [304], "A dropped from the process")


@with_accounts
def allow_gid_admits_members_by_the_user_database_only(env, acct):
    ga, gb, gc = acct.group(), acct.group(), acct.group()
    member = acct.user(ga, [gb])
    outsider = acct.user(gc)
    setup(env)
    env.start("socket_mode = 0666\nallow_uid = 4242\nallow_gid = %s\n" % gb)
    check(as_user(env, member, ga, [], "12025550100") == [0],
          "a member of B by the database, running as A with no other groups, is allowed")
    check(as_user(env, outsider, gb, [gb], "12025550100") == [208],
          "running as gid B without being a member: denied")
    check("refused peer" in env.logtext(), env.logtext())


@with_accounts
def uid_and_group_entries_together_allow_their_intersection(env, acct):
    ga = acct.group()
    u = acct.user(ga)
    setup(env)
    env.start("socket_mode = 0666\n[peer u]\nuser = %s\nscope = range:12025550100/50\n"
              "[peer a]\ngroup = %s\nscope = range:12025550120/50\n" % (u, ga))
    check(as_user(env, u, ga, [], "12025550125", "12025550105", "12025550160") == [0, 304, 304],
          "the narrowest: only numbers both entries allow")


@with_accounts
def reload_applies_a_group_scope_to_an_open_connection(env, acct):
    ga = acct.group()
    u = acct.user(ga)
    setup(env)
    env.start("socket_mode = 0666\n")
    c = UserClient(env.sock, u, ga)
    try:
        check(c.sign("12025550150") == [0], "no peer entry yet")
        reload(env, "socket_mode = 0666\n[peer a]\ngroup = %s\nscope = tn:12025550100\n" % ga)
        check(c.sign("12025550150", "12025550100") == [304, 0], "the same connection, narrowed")
    finally:
        c.close()


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
          peer_scope_by_gid, bad_peer_config_is_refused, caller_iat_must_be_fresh_and_not_future,
          reload_narrows_the_scope_of_an_open_connection,
          reload_removes_an_open_connection_from_the_allow_list,
          group_scope_comes_from_membership_not_the_chosen_gid,
          allow_gid_admits_members_by_the_user_database_only,
          uid_and_group_entries_together_allow_their_intersection,
          reload_applies_a_group_scope_to_an_open_connection],
         "access")
