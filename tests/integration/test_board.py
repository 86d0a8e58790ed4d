#!/usr/bin/env python3
"""The sim board (board/sim): status LEDs in BOARD/leds follow the health
(ready while signing, fault when the self-test fails: the fault shim
libfaultp11.so corrupts the test signature), activity blinks on signatures;
the watchdog is kicked only while healthy and a wedged loop (the SIGUSR2
test hook, test_hooks = yes) starves it: the board "resets" (re-executes
the daemon, same pid) and the daemon comes back serving on the same socket
with BOARD/last-reset = watchdog; signed update images (stisign-mkimage,
the sim board's test vendor key) — tampered, unsigned, foreign and
downgraded ones are refused with exact codes and messages, a good one is
installed in the other slot and confirmed by its trial boot, one whose trial
boot fails the self-test is rolled back at the boot after."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fault_lib import FaultEnv  # noqa: E402
from stitest import STISIGND, check, main, mkimage, proc_children, run  # noqa: E402

# enum bsp_update_rc (board/include/bsp.h): stisignd --update's exit code
UPD_EUNSIGNED, UPD_ETAMPERED, UPD_ESIG, UPD_EDOWNGRADE = 11, 12, 13, 14


def board_dir(env):
    return os.path.join(env.dir, "board")


def board_cfg(env, extra=""):
    return "board_state_dir = %s\n%s" % (board_dir(env), extra)


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def leds(env):
    text = read(os.path.join(board_dir(env), "leds")) or ""
    return dict(line.split(" ", 1) for line in text.splitlines() if " " in line)


def wait_for(what, fn, timeout=15.0):
    deadline = time.time() + timeout
    while True:
        v = fn()
        if v:
            return v
        check(time.time() < deadline, "timed out waiting for " + what)
        time.sleep(0.05)


def sign_ok(env):
    r = env.sign_cli("12025550123", ["12025550101"], ok=False)
    return r.returncode == 0


def leds_show_ready_when_signing_and_fault_when_the_self_test_fails(env):
    env.provision()
    env.start(board_cfg(env))
    wait_for("ready LED", lambda: leds(env) == {"ready": "on", "fault": "off",
                                                  "activity": "off"})
    check(sign_ok(env), "signs")
    wait_for("activity LED blinks after a signature",
             lambda: leds(env).get("activity") == "blink", 5)
    wait_for("activity LED off when idle", lambda: leds(env).get("activity") == "off", 5)
    env.stop()
    check(leds(env) == {"ready": "off", "fault": "off", "activity": "off"},
          "LEDs off after an orderly stop: %r" % leds(env))
    check(read(os.path.join(board_dir(env), "last-reset")).strip() == "shutdown",
          "last reset: shutdown")
    # A token whose signatures are corrupted: the self-test fails.
    env.set_faults("corrupt_sig=1\n")
    env.start(board_cfg(env))
    wait_for("fault LED", lambda: leds(env) == {"ready": "off", "fault": "on",
                                                  "activity": "off"})
    check(env.health()["state"] == "down", "health down")
    check(not sign_ok(env), "no signing with the self-test failed")
    check(leds(env)["fault"] == "on", "fault LED stays on: %r" % leds(env))
    # Fixed token + reload: ready again.
    env.clear_faults()
    env.daemon.send_signal(signal.SIGHUP)
    wait_for("ready LED after the fix", lambda: leds(env).get("ready") == "on" and
             leds(env).get("fault") == "off", 20)


def kicks(env):
    text = read(os.path.join(board_dir(env), "watchdog")) or ""
    for line in text.splitlines():
        if line.startswith("kicks "):
            return int(line.split()[1])
    return -1


def watchdog_starvation_resets_and_the_daemon_comes_back_serving(env):
    if os.environ.get("STI_DAEMON_WRAP"):
        print("skip: the reset re-executes the binary, outside the wrapper")
        return
    env.provision()
    env.start(board_cfg(env, "watchdog_ms = 600\ntest_hooks = yes\n"))
    pid = env.daemon.pid
    k0 = kicks(env)
    wait_for("the loop kicks the watchdog", lambda: kicks(env) >= k0 + 3, 5)
    check(sign_ok(env), "signs before the hang")
    check(read(os.path.join(board_dir(env), "last-reset")) is None, "first boot: no reset yet")
    # The test hook wedges the event loop for 3 x watchdog_ms.
    os.kill(pid, signal.SIGUSR2)
    wait_for("last-reset = watchdog",
             lambda: (read(os.path.join(board_dir(env), "last-reset")) or "").strip() == "watchdog",
             10)
    # Back on its own: same process (re-executed), same socket, healthy.
    def serving():
        try:
            return env.health()["state"] == "ready"
        except Exception:
            return False
    wait_for("the daemon serves again after the reset", serving, 30)
    check(env.daemon.poll() is None and env.daemon.pid == pid, "the same pid serves (re-exec)")
    check(sign_ok(env), "signs after the reset")
    kids = [str(k) for k in proc_children(pid)]
    states = [(read("/proc/%s/stat" % k) or "? ? ?").rsplit(")", 1)[-1].split()[0] for k in kids]
    check(len(env.worker_pids()) == 2 and "Z" not in states,
          "the old image's processes are reaped, two new workers run: %r %r" % (kids, states))
    log = env.logtext()
    check("watchdog starved" in log, "the reset is logged:\n" + log[-2000:])
    check("board: last reset: watchdog" in log, "the new boot reports why it reset")
    k1 = kicks(env)
    wait_for("kicks resume", lambda: kicks(env) >= k1 + 2, 5)


def an_unhealthy_daemon_does_not_kick_the_watchdog(env):
    """Kicks only while health checks pass: a failed self-test (health
    down) starves the watchdog even though the loop runs."""
    if os.environ.get("STI_DAEMON_WRAP"):
        print("skip: the reset re-executes the binary, outside the wrapper")
        return
    env.provision()
    env.set_faults("corrupt_sig=1\n")
    env.start(board_cfg(env, "watchdog_ms = 600\n"))
    wait_for("a watchdog reset of the unhealthy daemon",
             lambda: (read(os.path.join(board_dir(env), "last-reset")) or "").strip() == "watchdog",
             10)
    check(kicks(env) == 0, "never kicked while down: %d" % kicks(env))
    # Fixed: after the next reset the self-test passes and kicks start.
    env.clear_faults()
    wait_for("kicks once healthy", lambda: kicks(env) >= 3, 20)


def update(env, image):
    r = subprocess.run([STISIGND, "-c", os.path.join(env.dir, "stisignd.conf"), "--update", image],
                       capture_output=True, text=True, timeout=60)
    return r.returncode, (r.stdout + r.stderr).strip()


def slots(env):
    r = run([STISIGND, "-c", os.path.join(env.dir, "stisignd.conf"), "--update-status"])
    return dict(kv.split("=", 1) for kv in r.stdout.split())


def bad_update_images_are_refused(env):
    env.provision()
    env.start(board_cfg(env))
    running = slots(env)["version"]
    good = mkimage(env, "good", "0.200.0")
    # tampered: one payload byte changed after signing
    with open(good, "rb") as f:
        data = bytearray(f.read())
    data[-2] ^= 0x20
    tampered = os.path.join(env.dir, "tampered.img")
    with open(tampered, "wb") as f:
        f.write(data)
    other = os.path.join(env.dir, "other.pem")
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", other])
    cases = [
        (tampered, UPD_ETAMPERED, "stisignd: update: tampered image refused: payload hash mismatch"),
        (mkimage(env, "unsigned", "0.200.0", key=None), UPD_EUNSIGNED,
         "stisignd: update: unsigned image refused"),
        (mkimage(env, "foreign", "0.200.0", key=other), UPD_ESIG,
         "stisignd: update: bad signature: image not signed by the vendor key"),
        (mkimage(env, "same", running), UPD_EDOWNGRADE,
         "stisignd: update: downgrade refused: image %s is not newer than running %s"
         % (running, running)),
        (mkimage(env, "older", "0.0.1"), UPD_EDOWNGRADE,
         "stisignd: update: downgrade refused: image 0.0.1 is not newer than running %s" % running),
    ]
    for img, code, msg in cases:
        rc, out = update(env, img)
        check(rc == code and out == msg, "%s: got %d %r, want %d %r"
              % (os.path.basename(img), rc, out, code, msg))
    check(not os.path.exists(os.path.join(board_dir(env), "slots/pending")), "nothing pending")
    check(slots(env) == {"running": "factory", "version": running, "trial": "no",
                         "active": "factory", "pending": "none", "rollback": "none"},
          "slots untouched: %r" % slots(env))
    check(sign_ok(env), "still signing")


def a_good_update_is_confirmed_and_a_failing_one_rolled_back(env):
    env.provision()
    env.start(board_cfg(env))
    rc, out = update(env, mkimage(env, "v200", "0.200.0"))
    check(rc == 0 and out == "stisignd: update: image 0.200.0 installed in slot a; "
          "it runs on trial at the next boot", "install: %d %r" % (rc, out))
    check(slots(env)["pending"] == "a", "slot a pending: %r" % slots(env))
    # Next boot: the trial of slot a; self-test passes, it confirms itself.
    env.stop()
    env.start(board_cfg(env))
    wait_for("confirmed", lambda: slots(env) == {
        "running": "a", "version": "0.200.0", "trial": "no", "active": "a", "pending": "none",
        "rollback": "none"})
    check("firmware confirmed" in env.logtext(), "the confirmation is logged")
    check(sign_ok(env), "signs on the new image")
    # 0.201.0 into slot b; its trial boot fails the self-test and never confirms.
    rc, out = update(env, mkimage(env, "v201", "0.201.0"))
    check(rc == 0 and "installed in slot b" in out, "install b: %d %r" % (rc, out))
    env.stop()
    env.set_faults("corrupt_sig=1\n")
    env.start(board_cfg(env))
    check(env.health()["state"] == "down", "the trial boot fails its self-test")
    time.sleep(1.5)  # a few ticks: it must not confirm
    check(slots(env) == {"running": "b", "version": "0.201.0", "trial": "yes", "active": "a",
                         "pending": "b", "rollback": "none"}, "on trial: %r" % slots(env))
    check(leds(env).get("fault") == "on", "fault LED on the failing trial: %r" % leds(env))
    env.stop()
    env.clear_faults()
    # The boot after: back to slot a.
    env.start(board_cfg(env))
    check("rollback=b" in env.logtext().split("board: last reset")[-1], "the fall back is logged")
    wait_for("rolled back", lambda: slots(env) == {
        "running": "a", "version": "0.200.0", "trial": "no", "active": "a", "pending": "none",
        "rollback": "none"})
    check(sign_ok(env), "signs on the old image")


if __name__ == "__main__":
    import stitest
    stitest.Env = FaultEnv  # every test gets a FaultEnv (libfaultp11.so)
    main([leds_show_ready_when_signing_and_fault_when_the_self_test_fails,
          watchdog_starvation_resets_and_the_daemon_comes_back_serving,
          an_unhealthy_daemon_does_not_kick_the_watchdog,
          bad_update_images_are_refused,
          a_good_update_is_confirmed_and_a_failing_one_rolled_back], "board")
