#!/usr/bin/env python3
"""SIGHUP reloads the credentials without a restart and without dropping
a connection or a request; a bad new configuration leaves the running one."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (OP_SIGN, T_CRED, T_IDENTITY, Conn, check, frame, main, sign_body,  # noqa: E402
                     verify_identity, wait_for)

A = "range:12025550100/100"
B = "range:13035550000/100"


def sign(env, orig):
    c = Conn(env.sock)
    c.send(frame(OP_SIGN, 1, sign_body(orig, ["12025550101"])))
    r = c.recv_frame()
    c.close()
    return r


def new_credential_signs_without_restart_and_old_one_retires(env):
    env.keygen("a")
    env.keygen("b")
    env.ca_init(A + " " + B)
    env.credential("a", "a", env.issue("a", A))
    env.start()
    pid = env.daemon.pid
    check(sign(env, "13035550001")[1] == 300, "B not yet in scope")
    # A client with requests in flight across the reload.
    c = Conn(env.sock)
    c.send(b"".join(frame(OP_SIGN, i, sign_body("12025550100", ["1"])) for i in range(300)))
    chain_b = env.issue("b", B)
    env.creds = [("b", "b", chain_b, "https://cr.example.com/b.pem")]
    env.write_config()
    env.daemon.send_signal(signal.SIGHUP)
    got = set()
    for _ in range(300):
        op, status, rid, f = c.recv_frame()
        check(status in (0, 300), "answered across the reload: %d" % status)
        got.add(rid)
    check(len(got) == 300, "every request answered once")
    wait_for(lambda: sign(env, "13035550001")[1] == 0, "credential b in use")
    r = sign(env, "13035550001")
    check(r[3][T_CRED] == [b"b"], "signed with b")
    verify_identity(env, r[3][T_IDENTITY][0].decode(), chain_b, "https://cr.example.com/b.pem")
    check(sign(env, "12025550100")[1] == 300, "retired credential a no longer signs")
    check(env.daemon.pid == pid and env.daemon.poll() is None, "same process")
    wait_for(lambda: "previous workers retired" in env.logtext(), "old workers retired")


def bad_reload_keeps_the_running_credentials(env):
    env.keygen("a")
    env.ca_init(A)
    chain = env.issue("a", A)
    env.credential("a", "a", chain)
    env.start()
    env.creds = [("a", "a", os.path.join(env.dir, "missing.pem"), "https://cr.example.com/a.pem")]
    env.write_config()
    env.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: "keeping the running credentials" in env.logtext(), "reload refused")
    check(sign(env, "12025550100")[1] == 0, "still signing with a")
    # A key that does not match its certificate is refused too.
    env.keygen("other")
    env.creds = [("a", "other", chain, "https://cr.example.com/a.pem")]
    env.write_config()
    env.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: env.logtext().count("keeping the running credentials") >= 2, "second refusal")
    check(sign(env, "12025550100")[1] == 0, "still signing after the second refusal")


def unprovisioned_start_then_store_provisioning_and_reload(env):
    """With a store, the daemon starts with no token and no PIN, says so,
    and signs once the store names them (what the console writes)."""
    store = os.path.join(env.dir, "store")
    os.makedirs(store, mode=0o700)
    cfg = os.path.join(env.dir, "stisignd.conf")
    with open(cfg, "w") as f:
        f.write("socket = %s\nstore_dir = %s\nworkers = 1\n" % (env.sock, store))
    env.creds = []
    import subprocess
    from stitest import STISIGND
    env.daemon = subprocess.Popen([STISIGND, "-c", cfg], stdout=open(env.log, "ab"),
                                  stderr=subprocess.STDOUT)
    wait_for(lambda: os.path.exists(env.sock), "socket")
    r = env.tool(["health", "--socket", env.sock], ok=False)
    check(r.returncode == 1 and "not provisioned" in r.stdout, r.stdout)
    check(sign(env, "12025550100")[1] in (301, 407), "unprovisioned: no credential, no HSM")
    env.keygen("a")
    env.ca_init(A)
    chain = env.issue("a", A)
    with open(env.pin) as src, open(os.path.join(store, "pin"), "w") as dst:
        dst.write(src.read())
    os.chmod(os.path.join(store, "pin"), 0o600)
    with open(os.path.join(store, "appliance.conf"), "w") as f:
        f.write("token = %s\n[credential a]\nkey = a\nchain = %s\nx5u = https://cr.example.com/a.pem\n"
                % (env.token, chain))
    env.daemon.send_signal(signal.SIGHUP)
    wait_for(lambda: sign(env, "12025550100")[1] == 0, "signing after provisioning")
    r = env.tool(["health", "--socket", env.sock])
    check("state: ready" in r.stdout, r.stdout)


if __name__ == "__main__":
    main([new_credential_signs_without_restart_and_old_one_retires,
          bad_reload_keeps_the_running_credentials,
          unprovisioned_start_then_store_provisioning_and_reload], "reload")
