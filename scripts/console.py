#!/usr/bin/env python3
"""console.py — drive the stisignd provisioning console on its pty the way
screen or picocom would (raw mode, bytes in and out), for the demo and the
tests. Secrets are read from files, never taken from the command line.

  console.py provision --console PATH --state DIR --token LABEL --key LABEL
                       --scope "range:..." --x5u URL --ca scripts/throwaway_ca.py
  (reads DIR/admin-pass, DIR/so-pin, DIR/pin; writes DIR/chain.pem)
"""
import argparse
import os
import select
import subprocess
import sys
import termios
import time
import tty


class ConsoleError(Exception):
    pass


class Console:
    def __init__(self, path, timeout=20):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        # TCSANOW: the default TCSAFLUSH would discard what the daemon wrote
        tty.setraw(self.fd, termios.TCSANOW)
        self.buf = b""
        self.seen = b""  # everything ever read, for "never echoed" checks
        self.timeout = timeout

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        # in chunks, like a terminal would, so a big paste cannot wedge us
        for i in range(0, len(data), 512):
            os.write(self.fd, data[i:i + 512])
            self._pump(0)

    def line(self, s):
        self.send(s + "\r")

    def _pump(self, wait):
        r, _, _ = select.select([self.fd], [], [], wait)
        if r:
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            self.buf += data
            self.seen += data

    def expect(self, what, timeout=None):
        """Returns the text up to and including the first occurrence of
        what (a str or a tuple of alternatives) and consumes it."""
        alts = what if isinstance(what, tuple) else (what,)
        deadline = time.time() + (timeout or self.timeout)
        while True:
            hits = [(self.buf.find(a.encode()), a) for a in alts]
            hits = [(i, a) for i, a in hits if i >= 0]
            if hits:
                i, a = min(hits)
                out = self.buf[:i + len(a)].decode(errors="replace")
                self.buf = self.buf[i + len(a):]
                return out
            left = deadline - time.time()
            if left <= 0:
                raise ConsoleError("console: expected %r, got %r" % (alts, self.buf[-800:]))
            self._pump(min(left, 0.2))

    def cmd(self, line, until="stisign# ", timeout=None):
        self.line(line)
        return self.expect(until, timeout)

    def close(self):
        os.close(self.fd)


def _secret(path):
    with open(path) as f:
        return f.read().strip()


def provision(a):
    """First boot or login, token, PIN, key, CSR, chain from the throwaway CA,
    import and x5u: each step only when the store does not have it yet."""
    con = Console(a.console, timeout=60)
    passphrase = _secret(os.path.join(a.state, "admin-pass"))
    so, pin = _secret(os.path.join(a.state, "so-pin")), _secret(os.path.join(a.state, "pin"))
    con.line("")
    first = con.expect(("New admin passphrase: ", "stisign> ", "stisign# "))
    if first.endswith("New admin passphrase: "):
        con.line(passphrase)
        con.expect("Repeat the passphrase: ")
        con.line(passphrase)
        con.expect("stisign> ")
        first = "stisign> "
    if first.endswith("stisign> "):
        con.line("login")
        con.expect("Passphrase: ")
        con.line(passphrase)
        con.expect("stisign# ")
    con.cmd("terminal length 0")
    status = con.cmd("show status")
    if "Token:" not in status or a.token not in status:
        con.line("token init " + a.token)
        for prompt, v in (("SO PIN: ", so), ("Repeat the SO PIN: ", so), ("User PIN: ", pin),
                          ("Repeat the user PIN: ", pin)):
            con.expect(prompt)
            con.line(v)
        print(con.expect("stisign# ").strip().splitlines()[-2], file=sys.stderr)
        con.line("token pin")
        con.expect("User PIN: ")
        con.line(pin)
        con.expect("Repeat the user PIN: ")
        con.line(pin)
        con.expect("stisign# ")
    if a.key not in con.cmd("show keys"):
        out = con.cmd("key generate customer-af " + a.key)
        print("console: key generate: " + out.strip().splitlines()[1:2][0], file=sys.stderr)
    creds = con.cmd("show credentials")
    if a.key + ":" in creds or ("credential " + a.key) in creds or (" " + a.key + " ") in creds:
        con.cmd("logout", "stisign> ")
        return
    out = con.cmd('csr %s subject "C=US,O=stisign demo,CN=SHAKEN DEMO" scope "%s"'
                  % (a.key, a.scope))
    pem = out[out.index("-----BEGIN CERTIFICATE REQUEST-----"):]
    pem = pem[:pem.index("-----END CERTIFICATE REQUEST-----") + 33].replace("\r\n", "\n")
    csr = os.path.join(a.state, a.key + ".csr")
    with open(csr, "w") as f:
        f.write(pem + "\n")
    chain = os.path.join(a.state, "chain.pem")
    for args in (["init", a.state, "--scope", a.scope],
                 ["issue", a.state, "--csr", csr, "--scope", a.scope, "--out", chain]):
        subprocess.run([sys.executable, a.ca] + args, check=True, capture_output=True)
    with open(chain) as f:
        chain_pem = f.read()
    con.line("credential import %s key %s x5u %s" % (a.key, a.key, a.x5u))
    con.expect("(^C cancels):")
    con.send(chain_pem.replace("\n", "\r\n") + ".\r")
    out = con.expect("stisign# ")
    if "Signing with it now." not in out:
        raise ConsoleError("import: " + out)
    con.cmd("logout", "stisign> ")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    pr = sub.add_parser("provision")
    for opt in ("console", "state", "token", "key", "scope", "x5u", "ca"):
        pr.add_argument("--" + opt, required=True)
    a = p.parse_args()
    try:
        provision(a)
    except ConsoleError as e:
        sys.exit(str(e))


if __name__ == "__main__":
    main()
