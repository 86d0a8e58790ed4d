#!/usr/bin/env python3
"""The worker pool answers every request exactly once, with the right id
and the right request's content, under pipelining across many connections,
a worker killed mid-load is replaced."""
import json
import os
import selectors
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (MODULE, OP_SIGN, STISIGND, T_IDENTITY, Conn, Failure, b64u_decode, check,
                     der_sig, frame, main, run, sign_body, verify_identity)

SCOPE = "range:12025550000/1000"


def setup(env, extra):
    env.keygen("af")
    env.ca_init(SCOPE)
    chain = env.issue("af", SCOPE)
    env.credential("af", "af", chain)
    env.start(extra)
    return chain


def orig_for(conn, i):
    return "12025550%03d" % ((conn * 37 + i) % 1000)


def storm(env, chain, nconn=40, depth=50, rounds=2):
    """nconn connections each pipelining depth requests, rounds times; every
    answer is matched to its request by id and by the orig it signed."""
    conns = [Conn(env.sock, timeout=60) for _ in range(nconn)]
    sel = selectors.DefaultSelector()
    pending = {}
    for ci, c in enumerate(conns):
        c.s.setblocking(False)
        sel.register(c.s, selectors.EVENT_READ, ci)
    answered = set()
    sample = None
    for r in range(rounds):
        for ci, c in enumerate(conns):
            batch = []
            for i in range(depth):
                rid = (ci << 20) | (r << 12) | i
                pending[rid] = orig_for(ci, r * depth + i)
                batch.append(frame(OP_SIGN, rid, sign_body(pending[rid], ["12025550999"])))
            c.s.setblocking(True)
            c.s.sendall(b"".join(batch))
            c.s.setblocking(False)
        deadline = time.time() + 120
        while pending and time.time() < deadline:
            for key, _ in sel.select(timeout=1):
                c = conns[key.data]
                try:
                    data = c.s.recv(65536)
                except BlockingIOError:
                    continue
                check(data, "connection %d closed early" % key.data)
                c.buf += data
                while len(c.buf) >= 12:
                    n = int.from_bytes(c.buf[:4], "big")
                    if len(c.buf) < n:
                        break
                    c.s.setblocking(True)
                    op, status, rid, f = c.recv_frame()
                    c.s.setblocking(False)
                    check(status == 0, "status %d for id %x" % (status, rid))
                    check(rid in pending, "id %x unknown or answered twice" % rid)
                    claims = json.loads(b64u_decode(f[T_IDENTITY][0].decode().split(".")[1]))
                    check(claims["orig"]["tn"] == pending[rid], "answer for %x signs its own orig" % rid)
                    del pending[rid]
                    answered.add(rid)
                    sample = f[T_IDENTITY][0].decode()
        check(not pending, "%d requests unanswered" % len(pending))
    verify_identity(env, sample, chain)
    return len(answered)


def process_workers_answer_every_request_once(env):
    chain = setup(env, "workers = 3\nworker_mode = process\n")
    n = storm(env, chain)
    check(n == 40 * 50 * 2, "answered %d" % n)


def killed_worker_is_replaced_and_nothing_is_lost(env):
    chain = setup(env, "workers = 2\n")
    kids = env.worker_pids()
    check(len(kids) == 2, "two worker processes: %r" % kids)
    c = Conn(env.sock, timeout=60)
    c.send(b"".join(frame(OP_SIGN, i, sign_body("12025550100", ["1"])) for i in range(400)))
    time.sleep(0.01)
    os.kill(int(kids[0]), signal.SIGKILL)
    seen = {}
    for _ in range(400):
        op, status, rid, f = c.recv_frame()
        check(rid not in seen, "id %d answered twice" % rid)
        seen[rid] = status
    check(set(seen) == set(range(400)), "every id answered")
    check(all(s in (0, 407) for s in seen.values()), "signed or explicit 407: %r" % set(seen.values()))
    deadline = time.time() + 10
    while time.time() < deadline:
        now = env.worker_pids()
        if len(now) == 2 and kids[0] not in now:
            break
        time.sleep(0.05)
    check(len(now) == 2 and kids[0] not in now, "worker replaced: %r" % now)
    deadline = time.time() + 20  # the new worker logs in before it is ready
    while time.time() < deadline:
        r = env.tool(["health", "--socket", env.sock], ok=False)
        if "2 of 2 ready" in r.stdout:
            break
        time.sleep(0.05)
    check("2 of 2 ready" in r.stdout, r.stdout)
    check(storm(env, chain, nconn=4, depth=20, rounds=1) == 80, "signing after the replacement")


def worker_pids(env):
    return env.worker_pids()


def wait_ready(env, n):
    deadline = time.time() + 20
    while time.time() < deadline:
        r = env.tool(["health", "--socket", env.sock], ok=False)
        if "%d of %d ready" % (n, n) in r.stdout:
            return
        time.sleep(0.05)
    check(False, "workers ready: " + r.stdout)


def replace_one(env, victim, n):
    """SIGKILLs worker process victim; returns the worker pids once its
    replacement is there (n workers, victim not among them)."""
    os.kill(victim, signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        now = worker_pids(env)
        if len(now) == n and victim not in now:
            break
        time.sleep(0.05)
    return now


def affinities(pids):
    return sorted(tuple(sorted(os.sched_getaffinity(p))) for p in pids)


def process_workers_are_bound_one_per_cpu(env):
    """Each worker on a CPU of its own (when there are enough), and its
    replacement on the same one; the I/O loop stays free."""
    cpus = sorted(os.sched_getaffinity(0))
    n = min(2, len(cpus))
    chain = setup(env, "workers = %d\n" % n)
    wait_ready(env, n)
    pids = worker_pids(env)
    check(len(pids) == n, "%d worker processes: %r" % (n, pids))
    want = sorted((c,) for c in cpus[:n]) if n > 1 else [tuple(cpus)]
    check(affinities(pids) == want, "workers on %r, not %r" % (want, affinities(pids)))
    check(tuple(sorted(os.sched_getaffinity(env.front_pid()))) == tuple(cpus), "the loop is not bound")
    if n < 2:
        return
    before = {p: os.sched_getaffinity(p) for p in pids}
    now = replace_one(env, pids[0], n)
    new = [p for p in now if p not in pids]
    check(len(new) == 1, "one replacement: %r" % now)
    check(os.sched_getaffinity(new[0]) == before[pids[0]], "the replacement takes its CPU")
    wait_ready(env, n)
    check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing after the replacement")


def workers_unbound_when_off_or_more_than_cpus(env):
    cpus = tuple(sorted(os.sched_getaffinity(0)))
    setup(env, "workers = 2\nworker_affinity = no\n")
    wait_ready(env, 2)
    check(affinities(worker_pids(env)) == [cpus, cpus], "affinity off: %r" % affinities(worker_pids(env)))
    env.stop()
    n = len(cpus) + 1
    env.start("workers = %d\n" % n)
    wait_ready(env, n)
    check(affinities(worker_pids(env)) == [cpus] * n, "%d workers on %d CPUs stay unbound" % (n, len(cpus)))


def proc_status(pid):
    """/proc/PID/status as a dict: "Seccomp" 2 is a filter, "NoNewPrivs" 1."""
    with open("/proc/%d/status" % pid) as f:
        return dict((k, v.strip()) for k, _, v in (line.partition(":") for line in f))


def confinement(pids):
    return sorted((proc_status(p)["Seccomp"], proc_status(p)["NoNewPrivs"]) for p in pids)


def worker_processes_serve_under_their_filter(env):
    """By default (sandbox = enforce) every worker process signs under its
    seccomp filter with no-new-privs, and so does a replacement; log mode
    installs the filter too; off none, but keeps no-new-privs; a reload
    starts its workers with the file's setting. The parent is not filtered;
    the front is."""
    chain = setup(env, "workers = 2\n")
    wait_ready(env, 2)
    check(storm(env, chain, nconn=2, depth=20, rounds=1) == 40, "signing confined")
    pids = worker_pids(env)
    check(confinement(pids) == [("2", "1")] * 2, "enforce: %r" % confinement(pids))
    check(proc_status(env.daemon.pid)["Seccomp"] == "0", "the parent is not filtered")
    check(proc_status(env.front_pid())["Seccomp"] == "2", "the front is")
    replace_one(env, pids[0], 2)
    wait_ready(env, 2)
    check(confinement(worker_pids(env)) == [("2", "1")] * 2,
          "a replacement: %r" % confinement(worker_pids(env)))
    check(storm(env, chain, nconn=2, depth=20, rounds=1) == 40, "signing after the replacement")
    env.stop()
    for mode, want in (("log", ("2", "1")), ("off", ("0", "1"))):
        env.start("workers = 2\nsandbox = %s\n" % mode)
        wait_ready(env, 2)
        check(confinement(worker_pids(env)) == [want] * 2,
              "%s: %r" % (mode, confinement(worker_pids(env))))
        check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing with sandbox = " + mode)
        if mode == "log":
            env.stop()
    # Still running with off: a reload starts its workers with the file's
    # setting.
    env.write_config("workers = 2\nsandbox = enforce\n")
    env.daemon.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and "previous workers retired" not in env.logtext():
        time.sleep(0.05)
    wait_ready(env, 2)
    check(confinement(worker_pids(env)) == [("2", "1")] * 2,
          "reloaded to enforce: %r" % confinement(worker_pids(env)))
    env.stop()


def confined_workers_live_through_token_reads_and_changes(env):
    """Signing with the token objects themselves (key_session_copy = no)
    makes SoftHSM2 re-read its token files on every signature; a key
    generated on the token meanwhile makes it list the folder again. The
    confined workers do both and none of them is killed for it."""
    chain = setup(env, "workers = 2\nkey_session_copy = no\n")
    wait_ready(env, 2)
    pids = worker_pids(env)
    check(confinement(pids) == [("2", "1")] * 2, "confined: %r" % confinement(pids))
    check(storm(env, chain, nconn=2, depth=20, rounds=1) == 40, "signing with token objects")
    env.keygen("another")
    check(storm(env, chain, nconn=2, depth=20, rounds=1) == 40, "signing after the token changed")
    check(worker_pids(env) == pids, "no worker was replaced: %r, %r" % (pids, worker_pids(env)))


def policies(ids):
    return [os.sched_getscheduler(i) for i in ids]


def loop_yields_to_workers(env):
    """The loop thread is SCHED_BATCH and every worker SCHED_OTHER, also a
    replacement and the workers a reload starts;
    with loop_sched_batch = no the loop stays SCHED_OTHER."""
    chain = setup(env, "workers = 2\n")
    wait_ready(env, 2)
    check(os.sched_getscheduler(env.front_pid()) == os.SCHED_BATCH, "the loop is SCHED_BATCH")
    pids = worker_pids(env)
    check(policies(pids) == [os.SCHED_OTHER] * 2, "workers: %r" % policies(pids))
    now = replace_one(env, pids[0], 2)
    new = [p for p in now if p not in pids]
    check(len(new) == 1, "one replacement: %r" % now)
    check(policies(new) == [os.SCHED_OTHER], "the replacement: %r" % policies(new))
    wait_ready(env, 2)
    check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing after the replacement")
    env.stop()

    env.start("workers = 2\n")
    wait_ready(env, 2)
    old = worker_pids(env)
    env.daemon.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and "previous workers retired" not in env.logtext():
        time.sleep(0.05)
    pids = worker_pids(env)
    check(len(pids) == 2 and not set(pids) & set(old), "new workers: %r, %r" % (old, pids))
    check(policies(pids) == [os.SCHED_OTHER] * 2, "reload's workers: %r" % policies(pids))
    check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing after the reload")
    env.stop()

    env.start("workers = 2\nloop_sched_batch = no\n")
    wait_ready(env, 2)
    check(os.sched_getscheduler(env.front_pid()) == os.SCHED_OTHER, "loop_sched_batch = no")


# The loop <-> worker messages (firmware/daemon/workproto.h), for driving one
# `stisignd --hsm-worker` directly over its socketpair.
WP_CONFIG, WP_READY, WP_SIGN, WP_RESULT = 1, 2, 3, 4
WP_KEY_COPY = 1
SANDBOX_ENFORCE, SANDBOX_LOG, SANDBOX_OFF = 0, 1, 2  # enum bsp_sandbox_mode
P256_SPKI_PREFIX = bytes.fromhex("3059301306072a8648ce3d020106082a8648ce3d030107034200")


def wp_str(s):
    b = s.encode()
    return struct.pack(">H", len(b)) + b


def wp_config(env, key):
    with open(env.pin) as f:
        pin = f.read().strip().encode()
    return (bytes([WP_CONFIG]) + wp_str(MODULE) + wp_str(env.token) + wp_str("") +
            struct.pack(">H", len(pin)) + pin + struct.pack(">H", 1) + wp_str(key) +
            struct.pack(">H", 0) + struct.pack(">IIB", 0, WP_KEY_COPY, SANDBOX_ENFORCE))


def wp_sign(jobs):
    """jobs: [(tag, digest)], all with key 0."""
    return bytes([WP_SIGN]) + struct.pack(">H", len(jobs)) + b"".join(
        struct.pack(">IH", tag, 0) + digest for tag, digest in jobs)


def wp_results(msg):
    check(msg[0] == WP_RESULT, "a RESULT message: %r" % msg[:4])
    n = struct.unpack(">H", msg[1:3])[0]
    check(len(msg) == 3 + n * 70, "RESULT length for %d answers" % n)
    return [(struct.unpack(">IH", msg[3 + i * 70:9 + i * 70]) + (msg[9 + i * 70:73 + i * 70],))
            for i in range(n)]


def spawn_worker():
    """A worker process on one end of a SOCK_SEQPACKET pair, as the pool
    starts it (fd 3); returns (pid, the loop's end)."""
    loop_end, worker_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = os.fork()
    if pid == 0:
        try:
            fd = worker_end.fileno()
            if fd == 3:
                os.set_inheritable(3, True)
            else:
                os.dup2(fd, 3)
            os.execv(STISIGND, [STISIGND, "--hsm-worker"])
        finally:
            os._exit(127)
    worker_end.close()
    loop_end.settimeout(60)
    return pid, loop_end


def worker_exit_status(pid):
    deadline = time.time() + 30
    while time.time() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    raise Failure("the worker did not exit")


def worker_reads_ahead_and_answers_each_message_in_groups(env):
    """Three SIGN messages queued before the worker is ready are read ahead
    together; every job is answered once, in order, in answer messages of at
    most 8 that never mix two of the loop's messages, each of the last 8
    jobs on its own (the queue is that short), and each signature verifies
    with the key the worker reported."""
    env.keygen("af")
    pid, s = spawn_worker()
    sizes = [20, 3, 12]
    msgs, tag = [], 1
    for n in sizes:
        msgs.append([(tag + i, os.urandom(32)) for i in range(n)])
        tag += n
    s.send(wp_config(env, "af"))
    for m in msgs:  # queued while the worker still opens its session
        s.send(wp_sign(m))
    ready = s.recv(4096)
    check(ready[0] == WP_READY and struct.unpack(">HHH", ready[1:7]) == (0, 1, 0),
          "READY: status 0, one key, found: %r" % ready[:7])
    point = ready[7:72]
    owner = {t: k for k, m in enumerate(msgs) for t, _ in m}
    digests = {t: d for m in msgs for t, d in m}
    got, groups = [], []
    while len(got) < sum(sizes):
        res = wp_results(s.recv(65536))
        check(1 <= len(res) <= 8, "answers per message: %d" % len(res))
        check(len({owner.get(t) for t, _, _ in res}) == 1,
              "an answer message mixes the loop's messages: %r" % [t for t, _, _ in res])
        groups.append(len(res))
        got += res
    # 20 jobs: 8, 8, 4; 3 jobs: 3; 12 jobs: 4, then one by one with 8 left.
    check(groups == [8, 8, 4, 3, 4] + [1] * 8, "answer groups: %r" % groups)
    check([t for t, _, _ in got] == list(range(1, tag)), "every job once, in order")
    check(all(st == 0 for _, st, _ in got), "statuses: %r" % {st for _, st, _ in got})
    pub = os.path.join(env.dir, "pub.der")
    with open(pub, "wb") as f:
        f.write(P256_SPKI_PREFIX + point)
    for t, _, sig in (got[0], got[20], got[-1]):
        with open(os.path.join(env.dir, "dgst"), "wb") as f:
            f.write(digests[t])
        with open(os.path.join(env.dir, "sig"), "wb") as f:
            f.write(der_sig(sig))
        r = run(["openssl", "pkeyutl", "-verify", "-pubin", "-keyform", "DER", "-inkey", pub,
                 "-in", os.path.join(env.dir, "dgst"), "-sigfile", os.path.join(env.dir, "sig")],
                ok=False)
        check(r.returncode == 0 and "Signature Verified Successfully" in r.stdout,
              "job %d's signature verifies: %s%s" % (t, r.stdout, r.stderr))
    s.close()
    check(worker_exit_status(pid) == 0, "the worker ends cleanly when the loop closes")


def worker_answers_what_came_before_a_malformed_message(env):
    """A malformed message read ahead ends the worker, but only after every
    job the loop sent before it is answered; nothing after it is signed."""
    env.keygen("af")
    pid, s = spawn_worker()
    first = [(i, os.urandom(32)) for i in range(1, 11)]
    bad = wp_sign([(100, os.urandom(32))])[:-1]  # one byte short of its count
    after = [(200, os.urandom(32))]
    s.send(wp_config(env, "af"))
    s.send(wp_sign(first))
    s.send(bad)
    s.send(wp_sign(after))
    msgs = []
    for _ in range(100):  # READY, at most 10 answer messages, one reset, EOF
        try:
            msg = s.recv(65536)
        except ConnectionResetError:
            # The worker left the last message unread: the kernel reports
            # that once, ahead of what it had already sent.
            continue
        if not msg:
            break
        msgs.append(msg)
    check(msgs and msgs[0][0] == WP_READY and msgs[0][1:3] == b"\0\0", "READY first")
    got = [r for m in msgs[1:] for r in wp_results(m)]
    check([t for t, _, _ in got] == list(range(1, 11)),
          "answered before the bad message, nothing after: %r" % [t for t, _, _ in got])
    check(worker_exit_status(pid) == 1, "the worker fails on a malformed message")
    s.close()


if __name__ == "__main__":
    main([process_workers_answer_every_request_once,
          killed_worker_is_replaced_and_nothing_is_lost, process_workers_are_bound_one_per_cpu,
          workers_unbound_when_off_or_more_than_cpus,
          loop_yields_to_workers, worker_processes_serve_under_their_filter,
          confined_workers_live_through_token_reads_and_changes,
          worker_reads_ahead_and_answers_each_message_in_groups,
          worker_answers_what_came_before_a_malformed_message], "pool")
