#!/usr/bin/env python3
"""The verify operation on the RPC: a PBX asks the daemon about an inbound
call's Identity header and gets the verified claims or the failed check."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import Conn, check, field, frame, main

SCOPE = "range:12025550100/100"
OP_VERIFY = 4


def setup(env, extra=""):
    env.keygen("af")
    root = env.ca_init(SCOPE)
    chain = env.issue("af", SCOPE)
    env.credential("af", "af", chain)
    # The operator pins the chain for its x5u: no fetch (verify_fetch = no).
    from stitest import X5U
    env.start("verify_trust_anchor = %s\nverify_pin = %s %s\nverify_fetch = no\n%s"
              % (root, X5U, chain, extra))
    return chain


def signed_header_verifies_over_the_socket(env):
    setup(env)
    ident = env.sign_cli("12025550123", ["12025550199"]).stdout.strip()
    r = env.tool(["verify", "--socket", env.sock, ident], ok=False)
    check(r.returncode == 0, r.stderr)
    check("orig: 12025550123" in r.stdout and "dest: 12025550199" in r.stdout, r.stdout)
    check("attest: A" in r.stdout, r.stdout)


def tampered_header_names_the_failed_check(env):
    setup(env)
    ident = env.sign_cli("12025550123", ["12025550199"]).stdout.strip()
    jws, rest = ident.split(";", 1)
    h, c, s = jws.split(".")
    bad = h + "." + c + "." + ("A" if s[0] != "A" else "B") + s[1:] + ";" + rest
    r = env.tool(["verify", "--socket", env.sock, bad], ok=False)
    check(r.returncode == 1 and "verify failed: signature: 603" in r.stderr, r.stderr)
    r = env.tool(["verify", "--socket", env.sock, "not a passport"], ok=False)
    check(r.returncode == 1 and "verify failed: format: 600" in r.stderr, r.stderr)


def stale_header_is_refused_with_max_age(env):
    setup(env, "iat_max_past_s = 300\n")
    ident = env.sign_cli("12025550123", ["12025550199"],
                         extra=["--iat", str(int(time.time()) - 120)]).stdout.strip()
    r = env.tool(["verify", "--socket", env.sock, "--max-age", "60", ident], ok=False)
    check(r.returncode == 1 and "verify failed: iat: 604" in r.stderr, r.stderr)


def verify_without_a_trust_anchor_is_a_clear_error(env):
    env.keygen("af")
    env.ca_init(SCOPE)
    env.credential("af", "af", env.issue("af", SCOPE))
    env.start()
    c = Conn(env.sock)
    c.send(frame(OP_VERIFY, 9, field(0x40, "a.b.c")))
    op, status, rid, f = c.recv_frame()
    check(op == OP_VERIFY | 0x80 and status == 107 and rid == 9, "not configured: %d" % status)
    c.send(frame(OP_VERIFY, 10))
    check(c.recv_frame()[1] == 205, "missing identity -> 205")


if __name__ == "__main__":
    main([signed_header_verifies_over_the_socket, tampered_header_names_the_failed_check,
          stale_header_is_refused_with_max_age, verify_without_a_trust_anchor_is_a_clear_error],
         "verify-rpc")
