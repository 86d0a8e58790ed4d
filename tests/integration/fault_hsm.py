#!/usr/bin/env python3
"""HSM faults under load: the real stisignd signs through libfaultp11.so (a
PKCS#11 module wrapping SoftHSM2) while a pipelined load generator runs; a
fault is injected for a while, then cleared. Each test proves that every
request id got exactly one answer (a signature for its own request, or an
HSM-class error, or busy), that the daemon stayed up and said so in its
health answer, and that signing came back after the fault was cleared; it
prints the measured figures (recovery time, refusal latency) as FIGURES lines.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fault_lib import SANITIZED, FaultEnv, LoadGen, Failure, check, orig_for, pct  # noqa: E402
from stitest import main as stitest_main
from stitest import OP_SIGN, T_IDENTITY, Conn, frame, sign_body, verify_identity  # noqa: E402

FIGURES = []


def figure(name, **kv):
    line = "FIGURES %s: %s" % (name, " ".join("%s=%s" % (k, v) for k, v in kv.items()))
    FIGURES.append(line)
    print(line, flush=True)


def started(env, extra=""):
    env.provision()
    env.start(extra)
    env.wait_workers_ready(2)


def health_during(env, seconds, every=0.1):
    """Health samples taken over `seconds`."""
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        out.append(env.health())
        time.sleep(every)
    return out


def verify_sample(env, lg, extra=()):
    for ident in list(lg.ok_identities(3)) + list(extra):
        verify_identity(env, ident, env.chain)


def fault_under_load(env, name, faults, kind, codes, fault_s=1.0, extra="", health_must=True):
    """The common scenario. codes: the error statuses this fault should
    produce (the first must be seen, and be the health's last_hsm_error)."""
    started(env, extra)
    h0 = env.health()
    s0 = env.fault_stats().get(kind, 0)
    lg = LoadGen(env.sock, conns=4, depth=16, rate=400, max_seconds=30)
    lg.start()
    time.sleep(0.4)
    t_fault = time.monotonic()
    env.set_faults(faults)
    samples = health_during(env, fault_s)
    t_clear = time.monotonic()
    env.clear_faults()
    recovery, probe_ident = env.probe_recovery(t_clear)
    time.sleep(0.3)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    fired = env.fault_stats().get(kind, 0) - s0
    check(fired > 0, "faultp11 injected %s faults (stats %r)" % (kind, env.fault_stats()))
    errs = {s: n for s, n in summary["by_status"].items() if s}
    if codes:
        check(codes[0] in errs, "fault answered with %d: %r" % (codes[0], summary["by_status"]))
        # Other HSM-class codes may accompany it: with process workers
        # SoftHSM2's C_GetTokenInfo fails (CKR_GENERAL_ERROR) while the other
        # worker reopens on the same token files, and the reopen then reports
        # the token absent (401). finish() checked the class of every answer.
    if health_must:
        seen = [h for h in samples if h["hsm_errors"] > h0["hsm_errors"]]
        check(seen, "health showed hsm_errors growing during the fault: %r" % samples[-1:])
        check(all(400 <= h["last_hsm_error"] < 500 for h in seen),
              "health last_hsm_error is an HSM code during the fault: %r"
              % sorted({h["last_hsm_error"] for h in samples}))
    verify_sample(env, lg, [probe_ident])
    check(recovery < 1.0, "signing recovered %.3f s after clearing (> 1 s)" % recovery)
    h1 = env.health()
    states = sorted({h["state"] for h in samples})
    figure(name, fired=fired, sent=summary["sent"], answers=summary["by_status"],
           recovery_ms="%.1f" % (recovery * 1000),
           fault_p50_ms="%.1f" % (pct(lg.latencies(t_fault + 0.1, t_clear), 50) * 1000),
           health_states=",".join(states),
           hsm_errors="%d->%d" % (h0["hsm_errors"], h1["hsm_errors"]),
           last_hsm_error=h1["last_hsm_error"])
    return lg, samples, summary


def device_error_is_answered_and_recovers(env):
    fault_under_load(env, "sign=CKR_DEVICE_ERROR", "sign=CKR_DEVICE_ERROR\n", "sign", [406])


def session_handle_invalid_is_answered_and_recovers(env):
    fault_under_load(env, "sign=CKR_SESSION_HANDLE_INVALID", "sign=CKR_SESSION_HANDLE_INVALID\n",
                     "sign", [405])


def device_removed_is_answered_and_recovers(env):
    fault_under_load(env, "sign=CKR_DEVICE_REMOVED", "sign=CKR_DEVICE_REMOVED\n", "sign", [401])


def token_not_present_is_answered_and_recovers(env):
    fault_under_load(env, "sign=CKR_TOKEN_NOT_PRESENT", "sign=CKR_TOKEN_NOT_PRESENT\n", "sign",
                     [401])


def general_error_is_answered_and_recovers(env):
    fault_under_load(env, "sign=CKR_GENERAL_ERROR", "sign=CKR_GENERAL_ERROR\n", "sign", [406])


def slow_token_delays_but_answers_everything(env):
    """delay_ms=50 on every C_Sign: no errors, only latency; in-flight grows
    while it lasts and drains after."""
    lg, samples, summary = fault_under_load(env, "delay_ms=50", "delay_ms=50\n", "delay", [],
                                            health_must=False)
    errs = {s: n for s, n in summary["by_status"].items() if s}
    check(not errs, "a slow token causes no errors: %r" % errs)
    lat = [a[0][1] for a in lg.answers.values()]
    check(max(lat) >= 0.05, "some answers took at least the 50 ms delay")
    check(max(h["in_flight"] for h in samples) > 4,
          "health in_flight shows the backlog: %r" % [h["in_flight"] for h in samples])


def login_failure_after_session_loss_recovers(env):
    """The token drops the session and then refuses to log in (device
    error): every reopen fails at C_Login until the fault is cleared."""
    fault_under_load(env, "session loss then login=CKR_DEVICE_ERROR",
                     "sign=CKR_SESSION_HANDLE_INVALID\nlogin=CKR_DEVICE_ERROR\n", "login", [406])


def refused_pin_after_session_loss_is_never_retried_and_is_reported(env):
    """After a session loss the token says the PIN is wrong. A real token
    locks after a few wrong PINs, so each worker may try it once and never
    again; and the daemon must then stop claiming it is ready."""
    started(env)
    s0 = env.fault_stats()
    lg = LoadGen(env.sock, conns=4, depth=16, rate=300, max_seconds=30)
    lg.start()
    time.sleep(0.3)
    env.set_faults("sign=CKR_SESSION_HANDLE_INVALID\nlogin=CKR_PIN_INCORRECT\n")
    samples = health_during(env, 1.0)
    env.clear_faults()
    after = health_during(env, 1.0)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    logins = env.fault_stats().get("login", 0) - s0.get("login", 0)
    figure("session loss then login=CKR_PIN_INCORRECT", sent=summary["sent"],
           answers=summary["by_status"], pin_tries=logins,
           health_after_clear="%s %d/%d last=%d" % (after[-1]["state"], after[-1]["ready"],
                                                   after[-1]["workers"],
                                                   after[-1]["last_hsm_error"]))
    check(402 in summary["by_status"], "refused PIN answered 402: %r" % summary["by_status"])
    check(1 <= logins <= 2, "the refused PIN was tried %d times by 2 workers (at most once each)"
          % logins)
    check(any(h["last_hsm_error"] == 402 for h in samples), "health last_hsm_error 402")
    # Whatever the daemon does next, health must not say "ready" while every
    # signature fails.
    c_ok = 0
    for h in after[-3:]:
        c_ok += h["state"] == "ready"
    t = time.monotonic()
    try:
        rec, _ = env.probe_recovery(t, deadline_s=2.0)
        recovered = True
    except Failure:
        recovered = False
    check(recovered or c_ok == 0,
          "BUG: health says ready (%d/%d workers) while every sign is refused with 402 "
          "after a PIN refusal" % (after[-1]["ready"], after[-1]["workers"]))


def absent_token_is_refused_quickly_and_recovers(env):
    """slots=empty + sign=CKR_TOKEN_NOT_PRESENT for 3 s: answers come back at
    once (no queue behind an absent token), then signing resumes."""
    started(env)
    h0 = env.health()
    lg = LoadGen(env.sock, conns=4, depth=16, rate=500, max_seconds=30)
    lg.start()
    time.sleep(0.4)
    t_fault = time.monotonic()
    env.set_faults("slots=empty\nsign=CKR_TOKEN_NOT_PRESENT\n")
    samples = health_during(env, 3.0)
    t_clear = time.monotonic()
    env.clear_faults()
    recovery, probe_ident = env.probe_recovery(t_clear)
    time.sleep(0.3)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    st = env.fault_stats()
    check(st.get("slots", 0) > 0 and st.get("sign", 0) > 0, "faults fired: %r" % st)
    # requests sent well inside the absence window
    lat = lg.latencies(t_fault + 0.2, t_clear - 0.05)
    refused = lg.latencies(t_fault + 0.2, t_clear - 0.05, status=401)
    figure("token absent 3 s", sent=summary["sent"], answers=summary["by_status"],
           in_window=len(lat), refused_401=len(refused),
           p50_ms="%.1f" % (pct(lat, 50) * 1000), p99_ms="%.1f" % (pct(lat, 99) * 1000),
           max_ms="%.1f" % (lat[-1] * 1000 if lat else float("nan")),
           max_in_flight=max(h["in_flight"] for h in samples),
           recovery_ms="%.1f" % (recovery * 1000),
           health_states=",".join(sorted({h["state"] for h in samples})))
    check(len(refused) > 100, "requests refused while the token is absent: %d" % len(refused))
    # ASan+UBSan makes every reopen attempt several times slower.
    bound = 0.2 * (3 if SANITIZED else 1)
    check(pct(lat, 99) < bound, "p99 answer time %.1f ms < %.0f ms while absent"
          % (pct(lat, 99) * 1000, bound * 1000))
    check(max(h["in_flight"] for h in samples) <= 64, "no queue builds up behind the absent token")
    check(any(h["hsm_errors"] > h0["hsm_errors"] and h["last_hsm_error"] == 401 for h in samples),
          "health reports the absent token: %r" % samples[-1])
    verify_sample(env, lg, [probe_ident])
    check(recovery < 1.0, "signing recovered %.3f s after the token came back" % recovery)


def killed_worker_is_replaced_and_no_request_is_lost(env):
    started(env)
    pids = env.worker_pids()
    check(len(pids) == 2, "two worker processes: %r" % pids)
    lg = LoadGen(env.sock, conns=4, depth=32, rate=600, max_seconds=30)
    lg.start()
    time.sleep(0.5)
    t_kill = time.monotonic()
    os.kill(pids[0], signal.SIGKILL)
    seen_degraded = False
    while True:
        h = env.health()
        seen_degraded |= h["ready"] < 2
        now = env.worker_pids()
        if h["ready"] == 2 and len(now) == 2 and pids[0] not in now:
            break
        check(time.monotonic() - t_kill < 15, "worker replaced within 15 s: %r %r" % (h, now))
        time.sleep(0.01)
    replaced = time.monotonic() - t_kill
    time.sleep(0.5)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    figure("SIGKILL one worker", sent=summary["sent"], answers=summary["by_status"],
           old=pids, new=env.worker_pids(), back_to_2_of_2_ms="%.1f" % (replaced * 1000),
           saw_degraded=seen_degraded)
    check(pids[1] in env.worker_pids(), "the other worker kept running")
    check(set(summary["by_status"]) == {0},
          "jobs of the killed worker were retried on the other: %r" % summary["by_status"])
    verify_sample(env, lg)


def both_workers_killed_every_request_still_answered_once(env):
    started(env)
    pids = env.worker_pids()
    check(len(pids) == 2, "two worker processes: %r" % pids)
    lg = LoadGen(env.sock, conns=4, depth=32, rate=600, max_seconds=30)
    lg.start()
    time.sleep(0.5)
    t_kill = time.monotonic()
    for p in pids:
        os.kill(p, signal.SIGKILL)
    while True:  # two new processes, both ready
        h, now = env.health(), env.worker_pids()
        if h["ready"] == 2 and len(now) == 2 and not set(now) & set(pids):
            break
        check(time.monotonic() - t_kill < 20, "workers replaced within 20 s: %r %r" % (h, now))
        time.sleep(0.01)
    back = time.monotonic() - t_kill
    recovery, probe_ident = env.probe_recovery(t_kill)
    time.sleep(0.3)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    new = env.worker_pids()
    figure("SIGKILL both workers", sent=summary["sent"], answers=summary["by_status"],
           old=pids, new=new, back_to_2_of_2_ms="%.1f" % (back * 1000),
           first_signature_ms="%.1f" % (recovery * 1000))
    check(len(new) == 2 and not set(new) & set(pids), "two new workers: %r -> %r" % (pids, new))
    check(set(summary["by_status"]) <= {0, 407, 207},
          "answers are signatures or 407: %r" % summary["by_status"])
    verify_sample(env, lg, [probe_ident])


def replacement_worker_waits_out_a_token_refusing_sessions(env):
    """A worker dies while the token refuses new sessions (open=): the
    replacement fails to open, health says degraded with the reason, the
    survivor keeps signing; once sessions open again, 2 of 2 are back."""
    started(env)
    pids = env.worker_pids()
    lg = LoadGen(env.sock, conns=4, depth=16, rate=300, max_seconds=30)
    lg.start()
    time.sleep(0.3)
    env.set_faults("open=CKR_DEVICE_ERROR\n")
    os.kill(pids[0], signal.SIGKILL)
    samples = health_during(env, 1.5)
    t_clear = time.monotonic()
    env.clear_faults()
    back = env.wait_workers_ready(2, timeout=20)
    time.sleep(0.3)
    summary = lg.finish()
    check(env.daemon.poll() is None, "daemon alive")
    opens = env.fault_stats().get("open", 0)
    figure("worker respawn while C_OpenSession fails", sent=summary["sent"],
           answers=summary["by_status"], failed_opens=opens,
           states=",".join(sorted({h["state"] for h in samples})),
           reason=repr(samples[-1]["reason"]), back_to_2_of_2_ms="%.1f" % (back * 1000))
    check(opens >= 1, "the replacement's C_OpenSession was refused")
    check(any(h["state"] == "degraded" and h["ready"] == 1 for h in samples),
          "health says degraded, 1 of 2: %r" % samples[-1])
    check(set(summary["by_status"]) == {0}, "the survivor signed everything: %r"
          % summary["by_status"])
    # The respawn backoff is capped at 2 s (pool.c): 2 of 2 within about that.
    check(back < 3.0, "2 of 2 workers %.2f s after the token accepts sessions" % back)


def faultp11_count_and_corrupt_sig_work_across_workers(env):
    """The module itself: count=N is shared by both worker processes (N
    faults in all), and corrupt_sig=1 yields a signature that openssl
    rejects. (The daemon has no verify-after-sign yet: it hands that
    signature out; the self-test issue will change this test's last check.)"""
    started(env)
    env.set_faults("sign=CKR_DEVICE_ERROR\ncount=5\n")
    c = Conn(env.sock)
    statuses = []
    for rid in range(1, 41):
        c.send(frame(OP_SIGN, rid, sign_body(orig_for(rid), ["12025550101"])))
    for _ in range(40):
        statuses.append(c.recv_frame()[1])
    st = env.fault_stats()
    check(st.get("sign") == 5 and st.get("gen_used") == 5, "exactly 5 faults in all: %r" % st)
    # a failed request used two faults (its retry after the reopen failed too)
    nerr = sum(1 for s in statuses if s)
    check(2 <= nerr <= 5 and statuses.count(0) == 40 - nerr, "answers %r" % statuses)
    env.set_faults("corrupt_sig=1\ncount=1\n")
    c.send(frame(OP_SIGN, 99, sign_body("12025550150", ["12025550101"])))
    op, status, rid, f = c.recv_frame()
    check(status == 0 and env.fault_stats().get("corrupt") == 1, "corrupted once")
    try:
        verify_identity(env, f[T_IDENTITY][0].decode(), env.chain)
        corrupted_verified = True
    except Failure:
        corrupted_verified = False
    check(not corrupted_verified, "openssl rejects the corrupted signature")
    c.send(frame(OP_SIGN, 100, sign_body("12025550150", ["12025550101"])))
    verify_identity(env, c.recv_frame()[3][T_IDENTITY][0].decode(), env.chain)
    figure("faultp11 self-check", count5_errors=nerr, corrupt_detected_by_openssl=True)


if __name__ == "__main__":
    stitest_main([faultp11_count_and_corrupt_sig_work_across_workers,
          device_error_is_answered_and_recovers,
          session_handle_invalid_is_answered_and_recovers,
          device_removed_is_answered_and_recovers,
          token_not_present_is_answered_and_recovers,
          general_error_is_answered_and_recovers,
          slow_token_delays_but_answers_everything,
          login_failure_after_session_loss_recovers,
          refused_pin_after_session_loss_is_never_retried_and_is_reported,
          absent_token_is_refused_quickly_and_recovers,
          killed_worker_is_replaced_and_no_request_is_lost,
          both_workers_killed_every_request_still_answered_once,
          replacement_worker_waits_out_a_token_refusing_sessions], "fault", env_cls=FaultEnv)
