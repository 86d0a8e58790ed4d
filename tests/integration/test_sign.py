#!/usr/bin/env python3
"""The signing core end to end: the real stisignd on a SoftHSM2 token signs
over its Unix socket; OpenSSL verifies what comes back."""
import datetime
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import (OP_HEALTH, OP_LIST, OP_SIGN, T_CRED, T_IDENTITY, T_MESSAGE, X5U, Conn,
                     b64u_decode, check, field, frame, main, sign_body, verify_identity)

SCOPE = "range:12025550100/100"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def one_credential(env):
    env.keygen("af1")
    env.ca_init(SCOPE + " range:13035550000/1000")
    chain = env.issue("af1", SCOPE)
    env.credential("af1", "af1", chain)
    return chain


def signs_and_openssl_verifies(env):
    chain = one_credential(env)
    env.start()
    before = int(time.time())
    r = env.sign_cli("+1 (202) 555-0123", ["tel:+12025550199", "1-303-555-0000"])
    identity = r.stdout.strip()
    header, claims = verify_identity(env, identity, chain)
    check(claims["orig"] == {"tn": "12025550123"}, "orig normalised: %r" % claims["orig"])
    check(claims["dest"] == {"tn": ["12025550199", "13035550000"]}, "dest array in order")
    check(claims["attest"] == "A", "attest")
    check(before <= claims["iat"] <= int(time.time()), "iat is now")
    check(UUID_RE.match(claims["origid"]), "generated origid is a UUIDv4")
    # Every credential check of the chain is also one openssl makes.
    r = env.tool(["creds", "--socket", env.sock])
    check("af1: valid" in r.stdout and SCOPE in r.stdout, "creds lists the credential")


def caller_origid_and_iat_are_used(env):
    chain = one_credential(env)
    env.start()
    iat = int(time.time()) - 5
    r = env.sign_cli("12025550100", ["12025550101"], attest="C",
                     extra=["--origid", "123E4567-E89B-12D3-A456-426614174000", "--iat", str(iat)])
    _, claims = verify_identity(env, r.stdout.strip(), chain)
    check(claims["origid"] == "123e4567-e89b-12d3-a456-426614174000", "origid lowercased")
    check(claims["iat"] == iat, "iat as given")
    check(claims["attest"] == "C", "attest C")


def out_of_scope_tn_is_refused(env):
    one_credential(env)
    env.start()
    r = env.sign_cli("12025550200", ["12025550101"], ok=False)
    check(r.returncode == 1, "exit 1")
    check("error 300 (STI_ESCOPE)" in r.stderr, "not in scope: " + r.stderr)
    # A number of another length is outside a range too.
    r = env.sign_cli("120255501000", ["12025550101"], ok=False)
    check("error 300" in r.stderr, "longer number refused: " + r.stderr)


def bad_inputs_get_exact_codes(env):
    one_credential(env)
    env.start()
    cases = [("12025550abc", ["12025550101"], "A", "101"),
             ("12025550100", ["+1 202 555 01x"], "A", "101"),
             ("12025550100", ["12025550101"], "D", "102"),
             ("1234567890123456", ["12025550101"], "A", "101")]
    for orig, dests, att, code in cases:
        r = env.sign_cli(orig, dests, attest=att, ok=False)
        check(r.returncode == 1 and ("error %s " % code) in r.stderr,
              "%s %s %s -> %s: %s" % (orig, dests, att, code, r.stderr))
    r = env.sign_cli("12025550100", ["12025550101"], extra=["--origid", "not-a-uuid"], ok=False)
    check("error 103 " in r.stderr, "bad origid: " + r.stderr)
    r = env.sign_cli("12025550100", ["12025550101"] * 17, ok=False)
    check(r.returncode == 1 and "error 105 " in r.stderr, "17 dests: " + r.stderr)


def expired_and_future_certificates_are_never_used(env):
    env.keygen("old")
    env.keygen("new")
    env.keygen("cur")
    env.ca_init("range:12025550100/100 range:14045550000/100 range:15055550000/100")
    old = env.issue("old", "range:12025550100/100",
                    ["--start", "20200101000000Z", "--end", "20210101000000Z"])
    new = env.issue("new", "range:14045550000/100",
                    ["--start", "20990101000000Z", "--end", "21000101000000Z"])
    cur = env.issue("cur", "range:15055550000/100")
    env.credential("old", "old", old)
    env.credential("new", "new", new)
    env.credential("cur", "cur", cur)
    env.start()
    r = env.sign_cli("12025550123", ["15055550001"], ok=False)
    check("error 503 (STI_EPKI_EXPIRED)" in r.stderr, "expired: " + r.stderr)
    r = env.sign_cli("14045550001", ["15055550001"], ok=False)
    check("error 504 (STI_EPKI_NOTYET)" in r.stderr, "not yet valid: " + r.stderr)
    r = env.sign_cli("15055550001", ["12025550123"])
    verify_identity(env, r.stdout.strip(), cur)
    r = env.tool(["creds", "--socket", env.sock])
    check("old: expired" in r.stdout and "new: not yet valid" in r.stdout, r.stdout)


def picks_the_credential_covering_the_caller(env):
    env.keygen("a")
    env.keygen("b")
    env.ca_init("range:12025550100/100 tn:16065550000")
    ca = env.issue("a", "range:12025550100/100")
    cb = env.issue("b", "tn:16065550000")
    env.credential("a", "a", ca, "https://cr.example.com/a.pem")
    env.credential("b", "b", cb, "https://cr.example.com/b.pem")
    env.start()
    c = Conn(env.sock)
    c.send(frame(OP_SIGN, 7, sign_body("16065550000", ["12025550100"])))
    op, status, rid, f = c.recv_frame()
    check(op == OP_SIGN | 0x80 and status == 0 and rid == 7, "answer %d %d %d" % (op, status, rid))
    check(f[T_CRED] == [b"b"], "credential b used")
    verify_identity(env, f[T_IDENTITY][0].decode(), cb, "https://cr.example.com/b.pem")


def malformed_frames_get_documented_errors_while_others_are_served(env):
    one_credential(env)
    env.start()
    good = Conn(env.sock)

    def good_sign(rid):
        good.send(frame(OP_SIGN, rid, sign_body("12025550100", ["12025550101"])))
        op, status, got, f = good.recv_frame()
        check(status == 0 and got == rid and T_IDENTITY in f, "second client served")

    bad = Conn(env.sock)
    # unknown operation: error frame, connection stays usable
    bad.send(frame(0x55, 1))
    op, status, rid, f = bad.recv_frame()
    check(op == 0x55 | 0x80 and status == 203 and rid == 1 and T_MESSAGE in f, "unknown op")
    # missing required field
    bad.send(frame(OP_SIGN, 2, field(1, "12025550100")))
    check(bad.recv_frame()[1] == 205, "missing dest/attest -> 205")
    # repeated orig
    bad.send(frame(OP_SIGN, 3, field(1, "12025550100") + sign_body("12025550100", ["1"])))
    check(bad.recv_frame()[1] == 206, "repeated orig -> 206")
    # unknown must-understand field vs unknown optional field
    bad.send(frame(OP_SIGN, 4, sign_body("12025550100", ["12025550101"]) + field(0x70, "x")))
    check(bad.recv_frame()[1] == 204, "unknown critical field -> 204")
    bad.send(frame(OP_SIGN, 5, sign_body("12025550100", ["12025550101"]) + field(0xF0, "x")))
    check(bad.recv_frame()[1] == 0, "unknown optional field ignored")
    # a field running past the end of the body
    bad.send(frame(OP_SIGN, 6, b"\x01\x00\x50abc"))
    check(bad.recv_frame()[1] == 201, "truncated field -> 201")
    # attest of the wrong width
    bad.send(frame(OP_SIGN, 7, field(1, "12025550100") + field(2, "1") + field(3, "AA")))
    check(bad.recv_frame()[1] == 204, "2-byte attest -> 204")
    good_sign(100)
    # oversized length field: error, then the connection is closed
    bad.send(frame(OP_SIGN, 8, length=1 << 30))
    op, status, rid, f = bad.recv_frame()
    check(status == 202 and rid == 8, "oversized -> 202, got %d" % status)
    check(bad.closed_by_peer(), "connection closed after a framing error")
    good_sign(101)
    # wrong version: error then close
    v = Conn(env.sock)
    v.send(frame(OP_SIGN, 9, version=9))
    check(v.recv_frame()[1] == 200, "version -> 200")
    check(v.closed_by_peer(), "closed after bad version")
    # length below the header size
    v = Conn(env.sock)
    v.send(frame(OP_SIGN, 10, length=5))
    check(v.recv_frame()[1] == 201, "short length -> 201")
    # a response bit in a request is a framing error
    v = Conn(env.sock)
    v.send(frame(OP_SIGN | 0x80, 11))
    check(v.recv_frame()[1] == 201, "response op in request -> 201")
    # a client that disconnects mid-frame
    v = Conn(env.sock)
    v.send(frame(OP_SIGN, 12, sign_body("12025550100", ["12025550101"]))[:20])
    v.close()
    good_sign(102)
    r = env.tool(["health", "--socket", env.sock])
    check("state: ready" in r.stdout, r.stdout)


def pipelined_requests_each_get_one_answer(env):
    chain = one_credential(env)
    env.start()
    c = Conn(env.sock)
    n = 300
    c.send(b"".join(frame(OP_SIGN, 1000 + i, sign_body("12025550%03d" % (100 + i % 100),
                                                        ["12025550101"])) for i in range(n)))
    seen = {}
    for _ in range(n):
        op, status, rid, f = c.recv_frame()
        check(status == 0, "status %d" % status)
        check(rid not in seen, "id %d answered twice" % rid)
        seen[rid] = f[T_IDENTITY][0].decode()
    check(set(seen) == set(range(1000, 1000 + n)), "every id answered")
    # the answer for id k carries the orig of request k
    for rid in (1000, 1042, 1299):
        claims = json.loads(b64u_decode(seen[rid].split(".")[1]))
        check(claims["orig"]["tn"] == "12025550%03d" % (100 + (rid - 1000) % 100), "orig of %d" % rid)
    verify_identity(env, seen[1150], chain)


def health_and_credentials_over_rpc(env):
    one_credential(env)
    env.start()
    c = Conn(env.sock)
    # Workers start one after another: wait (bounded) for the second.
    for i in range(100):
        c.send(frame(OP_HEALTH, 1))
        op, status, rid, f = c.recv_frame()
        check(op == OP_HEALTH | 0x80 and status == 0, "health answered")
        if f[0x22] == [b"\x00\x00\x00\x02"]:
            break
        time.sleep(0.05)
    check(f[0x20] == [b"\x00"], "state ready")
    check(f[0x22] == [b"\x00\x00\x00\x02"], "2 workers ready")
    c.send(frame(OP_LIST, 2))
    op, status, rid, f = c.recv_frame()
    check(status == 0 and len(f[0x30]) == 1, "one credential entry")
    check(SCOPE.encode() in f[0x30][0] and X5U.encode() in f[0x30][0], "scope and x5u listed")
    c.send(frame(OP_HEALTH, 3, field(0x30, "x")))
    check(c.recv_frame()[1] == 204, "health with a critical field -> 204")


def key_not_matching_certificate_refuses_to_start(env):
    env.keygen("k1")
    env.keygen("k2")
    env.ca_init(SCOPE)
    chain = env.issue("k1", SCOPE)
    env.credential("wrong", "k2", chain)
    rc = env.start(expect_fail=True)
    check(rc != 0, "daemon refused to start")
    check("does not match the token key" in env.logtext(), env.logtext())


def wrong_pin_refuses_to_start_with_a_clear_error(env):
    one_credential(env)
    env.pin = env.secret("pin", "0000000000")
    rc = env.start(expect_fail=True)
    check(rc != 0, "daemon refused to start")
    check("login failed" in env.logtext(), env.logtext())
    check("0000000000" not in env.logtext(), "PIN never logged")


def pin_file_readable_by_others_is_refused(env):
    one_credential(env)
    os.chmod(env.pin, 0o644)
    rc = env.start(expect_fail=True)
    check(rc != 0, "refused")
    check("PIN file" in env.logtext(), env.logtext())


def thread_workers_are_refused_with_the_reason(env):
    """A token session in the process that parses network bytes is gone:
    the old setting stops the start and says why."""
    one_credential(env)
    rc = env.start("worker_mode = thread\n", expect_fail=True)
    check(rc != 0, "refused")
    check("thread workers were removed" in env.logtext(), env.logtext())


if __name__ == "__main__":
    main([signs_and_openssl_verifies, caller_origid_and_iat_are_used, out_of_scope_tn_is_refused,
          bad_inputs_get_exact_codes, expired_and_future_certificates_are_never_used,
          picks_the_credential_covering_the_caller,
          malformed_frames_get_documented_errors_while_others_are_served,
          pipelined_requests_each_get_one_answer, health_and_credentials_over_rpc,
          key_not_matching_certificate_refuses_to_start,
          wrong_pin_refuses_to_start_with_a_clear_error, pin_file_readable_by_others_is_refused,
          thread_workers_are_refused_with_the_reason], "sign")
