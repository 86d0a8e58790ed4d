#!/usr/bin/env python3
"""The independent self-test: the daemon signs a fixed digest with every
credential's key at start and verifies it with mbedTLS; a token whose
signatures are corrupted (libfaultp11.so, corrupt_sig=1) blocks signing with
409 and health says why. The sampled verify-after-sign (verify_sample=1)
withholds a corrupted live signature instead of returning it."""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fault_lib import FaultEnv  # noqa: E402
from stitest import (OP_SIGN, T_IDENTITY, Conn, check, frame, main, sign_body,  # noqa: E402
                     verify_identity)

STI_EHSM_SELFTEST = 409


def sign_raw(env, n=1, orig="12025550123"):
    """n sign requests on one connection: [(status, identity or None)]."""
    c = Conn(env.sock)
    out = []
    try:
        for i in range(n):
            c.send(frame(OP_SIGN, i + 1, sign_body(orig, ["12025550101"])))
        for i in range(n):
            r = c.recv_frame()
            check(r is not None, "answer %d of %d" % (i + 1, n))
            _, status, rid, f = r
            out.append((status, f[T_IDENTITY][0].decode() if T_IDENTITY in f else None))
    finally:
        c.close()
    return out


def corrupt_token_fails_the_power_on_test_and_signing_is_refused(env):
    chain = env.provision()
    env.set_faults("corrupt_sig=1\n")
    env.start()
    check(env.fault_stats().get("corrupt", 0) >= 1, "the shim corrupted the test signature")
    for status, identity in sign_raw(env, 3):
        check(status == STI_EHSM_SELFTEST and identity is None,
              "sign answered %d (want 409, no signature)" % status)
    h = env.health()
    check(h["state"] == "down", "health down: %r" % h)
    check("self-test failed" in h["reason"] and "af1" in h["reason"],
          "health reason names the self-test and the credential: %r" % h["reason"])
    log = env.logtext()
    check("self-test failed" in log and "credential af1" in log and "mbedTLS" in log,
          "the log says which credential failed and why:\n" + log[-2000:])
    # Fixed token + reload: the test runs again and signing comes back.
    env.clear_faults()
    env.daemon.send_signal(signal.SIGHUP)
    deadline = time.time() + 20
    while True:
        status, identity = sign_raw(env)[0]
        if status == 0:
            break
        check(time.time() < deadline, "signing did not come back after reload: %d" % status)
        time.sleep(0.1)
    verify_identity(env, identity, chain)
    check(env.health()["state"] == "ready", "health ready again")


def sampled_verify_withholds_corrupt_signatures(env):
    chain = env.provision()
    env.start("verify_sample = 1\n")
    status, identity = sign_raw(env)[0]
    check(status == 0, "signs before the fault: %d" % status)
    verify_identity(env, identity, chain)
    env.set_faults("corrupt_sig=1\n")
    answers = sign_raw(env, 20)
    check(env.fault_stats().get("corrupt", 0) >= 20, "the shim corrupted every signature: %r"
          % env.fault_stats())
    for status, identity in answers:
        check(status == STI_EHSM_SELFTEST and identity is None,
              "a corrupted signature is never returned: status %d" % status)
    h = env.health()
    check(h["state"] == "degraded" and "sampled verify" in h["reason"],
          "health reports withheld signatures: %r" % h)
    check("failed the mbedTLS verify and was withheld" in env.logtext(), "logged")
    env.clear_faults()
    status, identity = sign_raw(env)[0]
    check(status == 0, "signs again once the token is good: %d" % status)
    verify_identity(env, identity, chain)


def without_sampling_a_corrupt_signature_gets_out(env):
    """The control: proves the shim really damages live signatures, so the
    test above would fail if the sampled verify did nothing."""
    chain = env.provision()
    env.start("verify_sample = 0\n")
    env.set_faults("corrupt_sig=1\n")
    status, identity = sign_raw(env)[0]
    check(status == 0 and identity, "answered with a signature: %d" % status)
    try:
        verify_identity(env, identity, chain)
    except Exception:
        return
    check(False, "a corrupted signature verified")


if __name__ == "__main__":
    import stitest
    stitest.Env = FaultEnv  # every test gets a FaultEnv (libfaultp11.so)
    main([corrupt_token_fails_the_power_on_test_and_signing_is_refused,
          sampled_verify_withholds_corrupt_signatures,
          without_sampling_a_corrupt_signature_gets_out], "selftest")
