#!/usr/bin/env python3
"""The trust boundary (docs/architecture.md), asserted on the running
processes: the front and the verifier run as the unprivileged user, map no
PKCS#11 module and hold no byte of the PIN; only HSM workers log in. Each
child killed with SIGKILL under load is restarted by the parent, every
request gets a signature or an explicit error, and signing resumes."""
import os
import pwd
import secrets
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (MODULE, OP_SIGN, T_IDENTITY, Conn, Env, Failure, check, frame,  # noqa: E402
                     main, sign_body)

SCOPE = "range:12025550100/100"
USER = "_stisign"


class PinEnv(Env):
    """A token whose PIN is random and long, so finding its bytes in a
    process's memory cannot be a coincidence."""

    def secret(self, name, value):
        if name == "pin":
            self.pin_value = "pin-" + secrets.token_hex(16)
            value = self.pin_value
        return super().secret(name, value)


def children(env):
    """role -> [pid] of the daemon's processes, from /proc."""
    roles = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if ppid != env.daemon.pid or len(argv) < 2:
            continue
        role = {b"--front": "front", b"--verifier": "verifier",
                b"--hsm-worker": "worker"}.get(argv[1], "other")
        roles.setdefault(role, []).append(int(d))
    return roles


def wait_roles(env, want, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = children(env)
        if all(len(r.get(k, [])) >= n for k, n in want.items()):
            return r
        time.sleep(0.05)
    raise Failure("processes %r not there: %r" % (want, children(env)))


def status_field(pid, name):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split(":", 1)[1].split()
    return []


# A sanitizer build reserves terabytes of address space (shadow memory,
# the allocator's arena) that no read could cover; regions larger than this
# are skipped and counted, and the gcc build, which has none, is the one
# that proves the PIN absent from the whole of a process's memory.
REGION_MAX = 1 << 30


def memory_holds(pid, needle, skipped=None):
    """True when needle is anywhere in the readable memory of pid (regions
    over REGION_MAX aside: their sizes go into skipped)."""
    found = False
    with open("/proc/%d/maps" % pid) as maps, open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            addr, perms = line.split()[:2]
            if perms[0] != "r" or "[vvar]" in line or "[vsyscall]" in line:
                continue
            lo, hi = (int(x, 16) for x in addr.split("-"))
            if hi - lo > REGION_MAX:
                if skipped is not None:
                    skipped.append(hi - lo)
                continue
            try:
                mem.seek(lo)
                chunk = mem.read(hi - lo)
            except (OSError, OverflowError, ValueError):
                continue
            if needle in chunk:
                found = True
                break
    return found


def setup(env, extra=""):
    env.keygen("af")
    root = env.ca_init(SCOPE)
    chain = env.issue("af", SCOPE)
    env.credential("af", "af", chain)
    env.start("verify_trust_anchor = %s\nverify_pin = https://cr.example.com/it/chain.pem %s\n"
              "%s" % (root, chain, extra))
    return chain


def signs(env):
    r = env.sign_cli("12025550123", ["12025550199"], ok=False)
    return r.returncode == 0 and r.stdout.count(".") >= 2


def front_and_verifier_hold_nothing_of_the_token(env):
    check(os.geteuid() == 0, "this test needs root (it reads other processes' memory)")
    setup(env)
    check(signs(env), "signs")
    roles = wait_roles(env, {"front": 1, "verifier": 1, "worker": 2})
    uid = pwd.getpwnam(USER).pw_uid
    for role in ("front", "verifier"):
        pid = roles[role][0]
        check(status_field(pid, "Uid") == [str(uid)] * 4, "%s runs as %s: %r"
              % (role, USER, status_field(pid, "Uid")))
        check(status_field(pid, "Groups") == [], "%s has no supplementary groups" % role)
        check(status_field(pid, "NoNewPrivs") == ["1"], "%s: no_new_privs" % role)
        with open("/proc/%d/maps" % pid) as f:
            maps = f.read()
        # The module itself (the token's code), not libp11, which this one
        # binary links for the parent's console and which loads no module.
        check(MODULE not in maps and "softhsm" not in maps, "%s maps no PKCS#11 module" % role)
        skipped = []
        check(not memory_holds(pid, env.pin_value.encode(), skipped),
              "the PIN's bytes are not in the %s's memory" % role)
        if skipped:
            print("%s: %d region(s) of reserved sanitizer memory (%.0f GiB) not read"
                  % (role, len(skipped), sum(skipped) / 2.0**30))
    check(os.readlink("/proc/%d/root" % roles["verifier"][0]) != "/",
          "the verifier runs in its empty root")
    # The search itself works: the front does hold its socket's path.
    check(memory_holds(roles["front"][0], env.sock.encode()),
          "the memory search finds what the front does hold")
    for pid in roles["worker"]:
        with open("/proc/%d/maps" % pid) as f:
            check("softhsm" in f.read(), "a worker maps the module")


class Load:
    """One connection pipelining sign requests until stopped; counts
    signatures, explicit errors and closed connections (then reconnects)."""

    def __init__(self, env):
        self.env = env
        self.ok = self.err = self.closed = self.lost = 0
        self.last_ok = 0.0
        self.stop = False
        self.t = threading.Thread(target=self.run)
        self.t.start()

    def run(self):
        rid = 0
        deadline = time.time() + 120
        while not self.stop and time.time() < deadline:
            try:
                c = Conn(self.env.sock, timeout=10)
            except OSError:
                time.sleep(0.02)
                continue
            try:
                while not self.stop and time.time() < deadline:
                    ids = []
                    for _ in range(8):
                        rid += 1
                        ids.append(rid)
                        c.send(frame(OP_SIGN, rid, sign_body("12025550123", ["12025550199"])))
                    want = set(ids)
                    for _ in ids:
                        r = c.recv_frame()
                        if r is None:
                            raise OSError("closed by the daemon")
                        op, status, got, fields = r
                        if got not in want:  # unknown or answered twice
                            self.lost += 1
                        want.discard(got)
                        if status == 0 and T_IDENTITY in fields:
                            self.ok += 1
                            self.last_ok = time.time()
                        else:
                            self.err += 1
            except (OSError, Failure, socket.timeout):
                self.closed += 1
            finally:
                c.close()

    def finish(self):
        self.stop = True
        self.t.join(30)


def resumes_after(load, t_kill, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if load.last_ok > t_kill:
            return load.last_ok - t_kill
        time.sleep(0.01)
    raise Failure("signing did not resume within %d s" % timeout)


def each_child_killed_under_load_is_restarted(env):
    setup(env)
    load = Load(env)
    try:
        time.sleep(0.5)
        for role in ("verifier", "worker", "front"):
            before = wait_roles(env, {"front": 1, "verifier": 1, "worker": 2})
            victim = before[role][0]
            t = time.time()
            os.kill(victim, signal.SIGKILL)
            took = resumes_after(load, t)
            after = wait_roles(env, {"front": 1, "verifier": 1, "worker": 2})
            check(victim not in after.get(role, []), "%s %d replaced" % (role, victim))
            print("kill -9 %s: signing resumed after %.3f s" % (role, took))
            # Verification answers again too (the verifier was restarted).
            ident = env.sign_cli("12025550123", ["12025550199"]).stdout.strip()
            deadline = time.time() + 10
            while True:
                r = env.tool(["verify", "--socket", env.sock, ident], ok=False)
                if r.returncode == 0 or time.time() > deadline:
                    break
                check("614" in r.stderr, "while the verifier restarts: 614, not %r" % r.stderr)
                time.sleep(0.05)
            check(r.returncode == 0, "verify after the %s was killed: %s" % (role, r.stderr))
    finally:
        load.finish()
    check(load.lost == 0, "every answer matches its request (%d mismatched)" % load.lost)
    check(load.ok > 0, "signatures under load")
    print("under load: %d signed, %d explicit errors, %d connections closed by a dead front"
          % (load.ok, load.err, load.closed))


def verifier_down_is_an_explicit_error_and_signing_goes_on(env):
    setup(env)
    ident = env.sign_cli("12025550123", ["12025550199"]).stdout.strip()
    roles = wait_roles(env, {"verifier": 1})
    # Stopped, not killed: its channel stays open, so verifications wait on
    # it; signing must not.
    os.kill(roles["verifier"][0], signal.SIGSTOP)
    try:
        t = time.time()
        check(signs(env), "signing goes on while the verifier hangs")
        check(time.time() - t < 5, "signing did not wait on the verifier")
    finally:
        os.kill(roles["verifier"][0], signal.SIGKILL)
    deadline = time.time() + 10
    seen = set()
    while time.time() < deadline:
        r = env.tool(["verify", "--socket", env.sock, ident], ok=False)
        seen.add(r.returncode)
        if r.returncode == 0:
            break
        check("614" in r.stderr, "explicit 614 while down: %r" % r.stderr)
        time.sleep(0.02)
    check(0 in seen, "the verifier came back")


if __name__ == "__main__":
    main([front_and_verifier_hold_nothing_of_the_token, each_child_killed_under_load_is_restarted,
          verifier_down_is_an_explicit_error_and_signing_goes_on], "privsep", PinEnv)
