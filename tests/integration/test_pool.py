#!/usr/bin/env python3
"""The worker pool answers every request exactly once, with the right id
and the right request's content, under pipelining across many connections,
in both worker shapes; a worker killed mid-load is replaced."""
import json
import os
import selectors
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (OP_SIGN, T_IDENTITY, Conn, b64u_decode, check, frame, main, sign_body,
                     verify_identity)

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


def thread_workers_answer_every_request_once(env):
    chain = setup(env, "workers = 3\nworker_mode = thread\n")
    n = storm(env, chain, nconn=20)
    check(n == 20 * 50 * 2, "answered %d" % n)


def killed_worker_is_replaced_and_nothing_is_lost(env):
    chain = setup(env, "workers = 2\n")
    pid = env.daemon.pid
    kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
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
        now = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
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
    out = subprocess.run(["pgrep", "-P", str(env.daemon.pid)], capture_output=True, text=True)
    return [int(x) for x in out.stdout.split()]


def wait_ready(env, n):
    deadline = time.time() + 20
    while time.time() < deadline:
        r = env.tool(["health", "--socket", env.sock], ok=False)
        if "%d of %d ready" % (n, n) in r.stdout:
            return
        time.sleep(0.05)
    check(False, "workers ready: " + r.stdout)


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
    check(tuple(sorted(os.sched_getaffinity(env.daemon.pid))) == tuple(cpus), "the loop is not bound")
    if n < 2:
        return
    before = {p: os.sched_getaffinity(p) for p in pids}
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        now = worker_pids(env)
        if len(now) == n and pids[0] not in now:
            break
        time.sleep(0.05)
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


def thread_workers_are_bound_and_named(env):
    cpus = sorted(os.sched_getaffinity(0))
    n = min(2, len(cpus))
    setup(env, "workers = %d\nworker_mode = thread\n" % n)
    wait_ready(env, n)
    task = "/proc/%d/task" % env.daemon.pid
    tids = [int(t) for t in os.listdir(task)
            if open("%s/%s/comm" % (task, t)).read().strip() == "hsm-worker"]
    check(len(tids) == n, "%d threads named hsm-worker: %r" % (n, tids))
    want = sorted((c,) for c in cpus[:n]) if n > 1 else [tuple(cpus)]
    check(affinities(tids) == want, "worker threads on %r, not %r" % (want, affinities(tids)))


def hsm_worker_tids(env):
    task = "/proc/%d/task" % env.daemon.pid
    return sorted(int(t) for t in os.listdir(task)
                  if open("%s/%s/comm" % (task, t)).read().strip() == "hsm-worker")


def policies(ids):
    return [os.sched_getscheduler(i) for i in ids]


def loop_yields_to_workers(env):
    """The loop thread is SCHED_BATCH and every worker SCHED_OTHER, also a
    replacement forked by the loop and thread workers it starts on a reload;
    with loop_sched_batch = no the loop stays SCHED_OTHER."""
    chain = setup(env, "workers = 2\n")
    wait_ready(env, 2)
    check(os.sched_getscheduler(env.daemon.pid) == os.SCHED_BATCH, "the loop is SCHED_BATCH")
    pids = worker_pids(env)
    check(policies(pids) == [os.SCHED_OTHER] * 2, "workers: %r" % policies(pids))
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.time() + 10
    while time.time() < deadline:
        now = worker_pids(env)
        if len(now) == 2 and pids[0] not in now:
            break
        time.sleep(0.05)
    new = [p for p in now if p not in pids]
    check(len(new) == 1, "one replacement: %r" % now)
    check(policies(new) == [os.SCHED_OTHER], "the replacement: %r" % policies(new))
    wait_ready(env, 2)
    check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing after the replacement")
    env.stop()

    env.start("workers = 2\nworker_mode = thread\n")
    wait_ready(env, 2)
    old = hsm_worker_tids(env)
    check(policies(old) == [os.SCHED_OTHER] * 2, "thread workers: %r" % policies(old))
    env.daemon.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while time.time() < deadline and "previous workers retired" not in env.logtext():
        time.sleep(0.05)
    tids = hsm_worker_tids(env)
    check(len(tids) == 2 and not set(tids) & set(old), "new thread workers: %r, %r" % (old, tids))
    check(policies(tids) == [os.SCHED_OTHER] * 2, "reload's thread workers: %r" % policies(tids))
    check(storm(env, chain, nconn=2, depth=10, rounds=1) == 20, "signing after the reload")
    env.stop()

    env.start("workers = 2\nloop_sched_batch = no\n")
    wait_ready(env, 2)
    check(os.sched_getscheduler(env.daemon.pid) == os.SCHED_OTHER, "loop_sched_batch = no")


if __name__ == "__main__":
    main([process_workers_answer_every_request_once, thread_workers_answer_every_request_once,
          killed_worker_is_replaced_and_nothing_is_lost, process_workers_are_bound_one_per_cpu,
          workers_unbound_when_off_or_more_than_cpus, thread_workers_are_bound_and_named,
          loop_yields_to_workers], "pool")
