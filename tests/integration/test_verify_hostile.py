#!/usr/bin/env python3
"""The daemon's verifier pointed at a hostile STI-CR (x5u_server.py): each
PASSporT names an x5u on that server, and every answer the server gives —
good, a bare-LF head, a redirect, the wrong type, a huge head, an endless
or dripping body, garbage, a reset — gets its stable code over the RPC,
while the verifier process stays up and the daemon keeps signing. In the
ASan build a memory error anywhere would end the verifier (and fail the
pid check) or the daemon."""
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import Failure, check, main, role_pids  # noqa: E402

SERVER = os.path.join(os.path.dirname(__file__), "x5u_server.py")
TIMEOUT_MS = 1500

# path -> the code the verify answer must carry
CASES = [
    ("/good.pem", 0),
    ("/bare-lf", 0),  # evhttp reads bare-LF heads like CRLF ones
    ("/redirect", 615),
    ("/notfound", 615),
    ("/wrong-type", 616),
    ("/big", 617),
    ("/huge-head", 617),
    ("/notpem", 619),
    ("/garbage", 620),
    ("/reset", 610),
    ("/slow", 618),
    ("/endless", 618),
]


def keep(path, name):
    """issue() always writes the key's one chain file: keep each apart."""
    out = os.path.join(os.path.dirname(path), name + "-chain.pem")
    shutil.copyfile(path, out)
    return out


def start_server(env, chain):
    proc = subprocess.Popen([sys.executable, SERVER, "--chain", chain, "--tmp", env.dir],
                            stdout=subprocess.PIPE, text=True)
    ca = port = None
    deadline = time.time() + 30
    while (ca is None or port is None) and time.time() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise Failure("x5u_server.py exited during start-up")
        key, _, val = line.strip().partition(" ")
        if key == "CA":
            ca = val
        elif key == "PORT":
            port = int(val)
    check(ca and port, "the server said its CA and port")
    return proc, ca, port


def every_hostile_answer_gets_its_code(env):
    env.keygen("af")
    root = env.ca_init("range:12025550000/1000")
    # What the server serves: a chain for every number below; each
    # credential has its own block of ten so that each call picks it.
    served = keep(env.issue("af", "range:12025550000/1000"), "served")
    chains = [keep(env.issue("af", "range:12025550%03d/10" % (10 * i)), "c%d" % i)
              for i in range(len(CASES))]
    proc, tls_ca, port = start_server(env, served)
    try:
        for i, (path, _) in enumerate(CASES):
            env.credential("p%d" % i, "af", chains[i], "https://127.0.0.1:%d%s" % (port, path))
        env.start("verify_trust_anchor = %s\nverify_tls_ca = %s\nverify_fetch_ports = %d\n"
                  "verify_fetch_timeout_ms = %d\nverify_crl = off\n"
                  % (root, tls_ca, port, TIMEOUT_MS))
        verifier = role_pids(env.daemon.pid, "verifier")
        check(len(verifier) == 1, "one verifier: %r" % verifier)
        for i, (path, want) in enumerate(CASES):
            orig = "12025550%03d" % (10 * i + 1)
            ident = env.sign_cli(orig, ["12025550999"]).stdout.strip()
            check((":%d%s>" % (port, path)) in ident, "signed with the x5u of %s" % path)
            t0 = time.time()
            r = env.tool(["verify", "--socket", env.sock, ident], ok=False)
            took = time.time() - t0
            got = 0 if r.returncode == 0 else None
            if r.returncode == 1:
                # "verify failed: <check>: <code> (<NAME>): ..."
                got = int(r.stderr.split(":")[2].split("(")[0])
            print("%-16s -> %s (%.2f s)" % (path, got, took))
            check(got == want, "%s: want %d, got %r: %s%s" % (path, want, got, r.stdout, r.stderr))
            check(took < TIMEOUT_MS / 1000.0 + 3, "%s answered within the deadline" % path)
            check(role_pids(env.daemon.pid, "verifier") == verifier,
                  "the verifier survived %s" % path)
        # The same x5u again: a failure is answered from the negative cache.
        r = env.tool(["verify", "--socket", env.sock,
                      env.sign_cli("12025550021", ["12025550999"]).stdout.strip()], ok=False)
        check(r.returncode == 1 and " 615 " in r.stderr.replace("(", " "), r.stderr)
        check(env.sign_cli("12025550001", ["12025550999"]).returncode == 0, "still signing")
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main([every_hostile_answer_gets_its_code], "verify-hostile")
