#!/usr/bin/env python3
"""`stisign bench` against the real daemon: the closed loop signs with no
error and nothing lost; the open loop issues exactly its schedule (request k
due at k / rate, the first at the start, none after the end) and its trace
accounts for every answer; the client's own CPU time is reported and no
more than the wall time it ran (one thread); the raw-loop and wake-up
tools report what they measured within the same bound. Counts, order and that bound
only: no timing is asserted."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import STISIGN, check, main, run

SCOPE = "range:12025550000/1000"


def setup(env):
    env.keygen("af")
    env.ca_init(SCOPE)
    env.credential("af", "af", env.issue("af", SCOPE))
    env.start()


def fields(line):
    check(line.startswith("bench: "), "one result line: %r" % line)
    return {k: int(float(v)) for k, v in (kv.split("=") for kv in line.split()[1:])}


def closed_loop_signs_and_loses_nothing(env):
    setup(env)
    t0 = time.monotonic()
    r = env.tool(["bench", "--socket", env.sock, "--connections", "4", "--pipeline", "8",
                  "--seconds", "1", "--warmup", "0", "--orig", "12025550123"])
    wall_us = (time.monotonic() - t0) * 1e6
    f = fields(r.stdout.strip())
    check(f["signed"] > 0 and f["errors"] == 0 and f["lost"] == 0, r.stdout)
    check(f["p50_us"] <= f["p99_us"] <= f["max_us"], r.stdout)
    check(f["client_lag_p99_us"] == 0, "a closed loop sends when it may: %s" % r.stdout)
    # One thread: its CPU time is positive and cannot exceed the wall time.
    check(0 < f["client_cpu_us"] <= wall_us,
          "client CPU %d us within %d us of wall time" % (f["client_cpu_us"], wall_us))


def open_loop_issues_its_schedule_exactly(env):
    setup(env)
    rate, secs = 200, 2
    trace = os.path.join(env.dir, "trace.txt")
    r = env.tool(["bench", "--socket", env.sock, "--connections", "3", "--rate", str(rate),
                  "--seconds", str(secs), "--warmup", "0", "--trace", trace])
    f = fields(r.stdout.strip())
    check(f["errors"] == 0 and f["lost"] == 0, r.stdout)
    # Never more than the schedule; a stalled client may miss the last one.
    check(rate * secs - 2 <= f["signed"] <= rate * secs, "signed %d of %d" % (f["signed"], rate * secs))
    with open(trace) as t:
        rows = [tuple(int(x) for x in line.split()) for line in t]
    check(len(rows) == f["signed"], "one trace line per answer: %d" % len(rows))
    due = sorted(row[0] for row in rows)
    period_us = 1000000 // rate
    check(due == [k * period_us for k in range(len(due))],
          "request k due at k x %d us: %r" % (period_us, due[:5]))
    check(all(lat >= lag for _, lag, lat, _ in rows), "answered after it was sent")
    check({c for _, _, _, c in rows} == {0, 1, 2}, "spread over the three connections")


RAWBENCH = os.path.join(os.path.dirname(STISIGN), "stisign-rawbench")


def rawbench_counts_signatures_and_their_cpu(env):
    """The raw ceiling's tool: every loop signs, and the CPU time it reports
    per signature is positive and fits in the loops' wall time."""
    env.keygen("af")
    # One process: two would open the token's files at once, which
    # SoftHSM2 can misread for a moment (rawbench retries, but a slow
    # sanitizer build can outlast the retries).
    for mode, n, extra in (("threads", 2, []), ("procs", 1, ["--copy"])):
        t0 = time.monotonic()
        r = run([RAWBENCH, "--token", env.token, "--pin-file", env.pin, "--key", "af",
                 "--" + mode, str(n), "--seconds", "1"] + extra)
        wall_us = (time.monotonic() - t0) * 1e6
        line = r.stdout.strip()
        check(line.startswith("raw: mode=%s n=%d " % (mode, n)), line)
        f = dict(kv.split("=") for kv in line.split()[1:])
        sigs, per_sig = int(f["sigs"]), float(f["cpu_us_per_sig"])
        check(sigs > 0 and int(f["sigs_per_s"]) == sigs, line)
        check(0 < per_sig and per_sig * sigs <= n * wall_us,
              "%d loops, %.1f us per signature x %d within %.0f us each: %s"
              % (n, per_sig, sigs, wall_us, line))


WAKEBENCH = os.path.join(os.path.dirname(STISIGN), "stisign-wakebench")


def wakebench_reports_each_case(env):
    """The wake-up cost tool: one line per case the CPUs allow, rounds done,
    and a round trip and the answering side's CPU per round that fit
    in the wall time; with one CPU only the same-CPU case; a bad option is
    refused. Bounds only: no timing is asserted."""
    def cases(cpus):
        t0 = time.monotonic()
        r = run([WAKEBENCH, "--rounds", "2000", "--gap-us", "50"],
                preexec_fn=lambda: os.sched_setaffinity(0, cpus))
        wall_us = (time.monotonic() - t0) * 1e6
        got = {}
        for line in r.stdout.splitlines():
            check(line.startswith("wake: case="), line)
            f = dict(kv.split("=") for kv in line.split()[1:])
            rt, cpu, n = float(f["round_trip_us"]), float(f["wake_cpu_us"]), int(f["rounds"])
            # A case stops after 10 s: a slow sanitizer build may do fewer.
            check(0 < n <= 2000, line)
            check(0 < rt and 0 < cpu and n * rt <= wall_us and n * cpu <= wall_us,
                  "%d rounds within %.0f us: %s" % (n, wall_us, line))
            got[f["case"]] = rt
        return got
    mine = sorted(os.sched_getaffinity(0))
    want = ["same_cpu", "two_cpus", "two_cpus_idle"] if len(mine) > 1 else ["same_cpu"]
    check(sorted(cases(mine)) == sorted(want), "cases with %d CPUs" % len(mine))
    check(list(cases(mine[:1])) == ["same_cpu"], "one CPU: the same-CPU case only")
    r = run([WAKEBENCH, "--rounds", "5"], ok=False)
    check(r.returncode == 2 and "usage" in r.stderr, "exit %d: %s" % (r.returncode, r.stderr))


def refused_without_a_daemon(env):
    r = env.tool(["bench", "--socket", os.path.join(env.dir, "none.sock"), "--connections", "1",
                  "--seconds", "1"], ok=False)
    check(r.returncode == 1 and "connect" in r.stderr, "exit %d: %s" % (r.returncode, r.stderr))


if __name__ == "__main__":
    main([closed_loop_signs_and_loses_nothing, open_loop_issues_its_schedule_exactly,
          rawbench_counts_signatures_and_their_cpu, wakebench_reports_each_case,
          refused_without_a_daemon], "bench")
