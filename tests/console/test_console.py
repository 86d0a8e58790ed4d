#!/usr/bin/env python3
"""The provisioning console, end to end, on a real pty: from an empty
token and an empty store to a signature that verifies, without restarting
the daemon; hostile input at the console while the RPC keeps signing;
failed logins back off and lock out."""
import os
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from console_fixture import Conn, check, run_tests  # noqa: E402
from stitest import CA, OP_SIGN, T_CRED, T_IDENTITY, frame, sign_body, verify_identity  # noqa: E402

PASS = "correct horse battery"
SO_PIN, USER_PIN = "so-secret-4711", "user-secret-0815"
SCOPE = "range:12025550100/100"
X5U = "https://cr.example.com/it/chain.pem"


def first_boot(con):
    con.expect("New admin passphrase: ")
    con.line("too short")
    con.expect("Passphrase too short")
    con.expect("New admin passphrase: ")
    con.line(PASS)
    con.expect("Repeat the passphrase: ")
    con.line(PASS)
    con.expect("Admin passphrase set")
    con.expect("stisign> ")


def login(con):
    con.line("login")
    con.expect("Passphrase: ")
    con.line(PASS)
    con.expect("Logged in")
    con.expect("stisign# ")


def sign(env, orig="12025550100"):
    c = Conn(env.sock)
    c.send(frame(OP_SIGN, 7, sign_body(orig, ["12025550101"])))
    r = c.recv_frame()
    c.close()
    return r


def empty_token_to_first_signature(env):
    con = env.start()
    pid = env.daemon.pid
    first_boot(con)
    # a wrong passphrase first: refused, asked again (hidden), and a delay
    # before the next try: the right one typed at once is not even checked
    con.line("login")
    con.expect("Passphrase: ")
    con.line("not the passphrase")
    con.expect("Login failed (STI_EAUTH). Next attempt in 1 s")
    con.expect("Passphrase: ")
    con.line(PASS)
    out = con.expect("Passphrase: ")
    check("Login delayed after a failure" in out, "backoff: " + out)
    time.sleep(1.1)
    con.line(PASS)
    con.expect("Logged in")
    con.expect("stisign# ")
    con.cmd("terminal length 0")
    out = con.cmd("sh st")  # abbreviations
    check("HSM workers:  none" in out, "unprovisioned status: " + out)
    check("Self-test:    not run" in out and "Health:       down" in out, out)
    out = con.cmd("c")
    check('% Ambiguous command "c": csr, credential' in out, out)
    out = con.cmd("show")
    check('% Incomplete command "show"' in out and "show audit" in out, out)
    out = con.cmd("frobnicate")
    check('% Unknown command "frobnicate". Type help.' in out, out)

    con.line("token init it-token")
    for p, v in (("SO PIN: ", SO_PIN), ("Repeat the SO PIN: ", SO_PIN), ("User PIN: ", USER_PIN),
                 ("Repeat the user PIN: ", USER_PIN)):
        con.expect(p)
        con.line(v)
    out = con.expect("stisign# ", 60)
    check("Token it-token initialised" in out, out)
    con.line("token pin")
    con.expect("User PIN: ")
    con.line(USER_PIN)
    con.expect("Repeat the user PIN: ")
    con.line(USER_PIN)
    out = con.expect("stisign# ", 60)
    check("PIN stored" in out, out)
    out = con.cmd("key generate customer-af af1", timeout=60)
    check("Key af1 generated" in out, out)
    out = con.cmd("show keys", timeout=60)
    check("af1" in out and "customer-af" in out, out)
    out = con.cmd('csr af1 subject "C=US,O=stisign it,CN=SHAKEN IT" scope "%s"' % SCOPE,
                  timeout=60)
    check("-----BEGIN CERTIFICATE REQUEST-----" in out, out)
    pem = out[out.index("-----BEGIN CERTIFICATE REQUEST-----"):]
    pem = pem[:pem.index("-----END CERTIFICATE REQUEST-----") + 33].replace("\r\n", "\n")
    csr = os.path.join(env.dir, "af1.csr")
    with open(csr, "w") as f:
        f.write(pem + "\n")
    subprocess.run([sys.executable, CA, "init", env.dir, "--scope", SCOPE], check=True,
                   capture_output=True)
    chain = os.path.join(env.dir, "af1-chain.pem")
    subprocess.run([sys.executable, CA, "issue", env.dir, "--csr", csr, "--scope", SCOPE,
                    "--out", chain], check=True, capture_output=True)
    with open(chain) as f:
        chain_pem = f.read()

    con.line("credential import af1 key af1")
    con.expect("(^C cancels):")
    con.send(chain_pem.replace("\n", "\r\n") + ".\r")
    out = con.expect("stisign# ", 60)
    check("Stored, pending" in out, out)
    out = con.cmd("credential x5u af1 " + X5U, timeout=60)
    check("Signing with it now." in out, out)
    r = sign(env)
    check(r[1] == 0, "signs after provisioning: status %d" % r[1])
    check(r[3][T_CRED] == [b"af1"], "with af1")
    verify_identity(env, r[3][T_IDENTITY][0].decode(), chain, X5U)
    out = con.cmd("show status")
    check("Self-test:    passed" in out and "Health:       ready" in out, "status: " + out)

    # hostile input at the console: clear errors, the console keeps
    # working and the RPC keeps signing in between
    out = con.cmd("show status " + "x" * 600)
    check("% Line too long" in out, out)
    check(sign(env)[1] == 0, "signing after the long line")
    con.send(b"\x00\x01\xfe\xff garbage \x80\x9b\r")
    out = con.expect("stisign# ")
    check("% Non-printable bytes in the line: ignored" in out, out)
    check(sign(env)[1] == 0, "signing after garbage")
    con.line("credential import broken key af1")
    con.expect("(^C cancels):")
    half = chain_pem[:len(chain_pem) // 3]
    con.send(half.replace("\n", "\r\n") + "\r.\r")
    out = con.expect("stisign# ")
    check("% Paste incomplete" in out, out)
    check(sign(env)[1] == 0, "signing after a truncated paste")
    con.line("credential import broken key af1")
    con.expect("(^C cancels):")
    con.send("-----BEGIN CERTIFICATE-----\r\nnot base64 at all!!\r\n"
             "-----END CERTIFICATE-----\r\n.\r\n")
    out = con.expect("stisign# ", 60)
    check("STI_EPKI_PARSE" in out, out)
    out = con.cmd("show status")
    check("af1" in out and "valid" in out and "range:12025550100/100" in out and X5U in out, out)
    check(env.health().returncode == 0, "health answers")

    out = con.cmd("show audit")
    for what in ("token init it-token: ok", "token pin: ok", "key generate customer-af af1: ok",
                 "credential x5u af1", "login: failed", "login: ok"):
        check(what in out, "audit has %r: %s" % (what, out))
    with open(os.path.join(env.store, "audit.log")) as f:
        audit = f.read()
    for secret in (PASS, SO_PIN, USER_PIN):
        check(secret not in audit, "no secret in the audit log")
        check(secret.encode() not in con.seen, "secret never echoed")
        check(secret not in env.logtext(), "no secret in the daemon log")
    check(stat.S_IMODE(os.stat(env.store).st_mode) == 0o700, "store is 0700")
    for f in ("pin", "admin", "appliance.conf", "audit.log"):
        check(stat.S_IMODE(os.stat(os.path.join(env.store, f)).st_mode) == 0o600, f + " is 0600")

    out = con.cmd("credential retire af1", timeout=60)
    check("No longer signing with it." in out, out)
    check(sign(env)[1] in (300, 301), "retired: no longer signs")
    con.cmd("logout", "stisign> ")
    out = con.cmd("show status", "stisign> ")
    check("Not logged in" in out, out)
    check(env.daemon.pid == pid and env.daemon.poll() is None, "same daemon process throughout")
    for secret in (PASS, "not the passphrase", SO_PIN, USER_PIN):
        check(secret.encode() not in con.seen, "never on the console: " + secret)


def failed_logins_back_off_then_lock_out(env):
    """Every passphrase typed after a failure, during a delay or during the
    lockout stays hidden: the console keeps asking until a login succeeds
    or the operator leaves with an empty line."""
    con = env.start()
    first_boot(con)
    con.line("login")
    con.expect("Passphrase: ")
    for i in range(5):
        con.line("wrong passphrase %d" % i)
        out = con.expect("Passphrase: ")
        if i < 4:
            check("Next attempt in %d s" % (1 << i) in out, out)
            con.line(PASS)  # typed again at once: refused unchecked, not shown
            out = con.expect("Passphrase: ")
            check("Login delayed" in out, "backoff enforced: " + out)
            time.sleep((1 << i) + 0.1)
        else:
            check("locked out for 300 s (STI_ELOCKED)" in out, out)
    con.line(PASS)
    out = con.expect("Passphrase: ")
    check("Locked out after 5 failed logins" in out, out)
    con.line("")  # an empty line leaves the prompt
    con.expect("stisign> ")
    con.line("login")
    con.expect("Passphrase: ")
    con.line(PASS)
    out = con.expect("Passphrase: ")
    check("Locked out after 5 failed logins" in out, out)
    check(env.health().returncode in (0, 1), "RPC answers during a lockout")
    check(PASS.encode() not in con.seen and b"wrong passphrase" not in con.seen,
          "no passphrase was ever echoed")


if __name__ == "__main__":
    run_tests([empty_token_to_first_signature, failed_logins_back_off_then_lock_out], "console")
