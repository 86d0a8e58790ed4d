#!/usr/bin/env python3
"""The Delegate CA at the console, on a real pty: key generate delegate-ca,
ca csr, the STI-CA (a throwaway software root, openssl) certifies it, ca
certificate (paste), ca policy, ca issue (paste a Customer AF request made
by openssl with a software key) -> openssl verifies the chain; an
out-of-scope request is refused naming the entries outside; ca revoke +
ca crl -> openssl verifies the CRL and finds the serial; show ca."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
from console_fixture import check, run_tests  # noqa: E402
from stitest import CA  # noqa: E402
from test_console import first_boot, login, SO_PIN, USER_PIN  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../scripts"))
import throwaway_ca  # noqa: E402

POLICY = "2.16.840.1.114569.1.1.3"
CRL_URI = "http://crl.example.invalid/console-dca.crl"
DCA_SCOPE = "range:12025550100/100 range:12025550200/100"
DCA_SUBJECT = "C=US,O=stisign console TN Provider,CN=stisign console Delegate CA"


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    check(r.returncode == 0, "%s failed: %s%s" % (" ".join(args[:3]), r.stdout, r.stderr))
    return r


def pem_block(out, kind):
    b, e = "-----BEGIN %s-----" % kind, "-----END %s-----" % kind
    check(b in out and e in out, "%s in the output: %s" % (kind, out))
    s = out[out.index(b):]
    return s[:s.index(e) + len(e)].replace("\r\n", "\n") + "\n"


def paste(con, text, until="stisign# ", timeout=60):
    con.expect("(^C cancels):")
    con.send(text.replace("\n", "\r\n") + ".\r")
    return con.expect(until, timeout)


def af_request(env, name, scope):
    """A Customer AF's request: a software key, openssl req, a TNAuthList."""
    key = os.path.join(env.dir, name + ".key")
    csr = os.path.join(env.dir, name + ".csr")
    cnf = os.path.join(env.dir, name + ".cnf")
    run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key])
    with open(cnf, "w") as f:
        f.write("[req]\ndistinguished_name = dn\nprompt = no\nreq_extensions = ext\n"
                "[dn]\nC = US\nO = stisign console AF\nCN = SHAKEN %s\n"
                "[ext]\n1.3.6.1.5.5.7.1.26 = ASN1:SEQUENCE:tnal\n\n%s\n"
                % (name, throwaway_ca.tnauth_sections(scope)))
    run(["openssl", "req", "-new", "-key", key, "-config", cnf, "-sha256", "-out", csr])
    with open(csr) as f:
        return f.read()


def delegate_ca_at_the_console(env):
    con = env.start()
    first_boot(con)
    login(con)
    con.cmd("terminal length 0")
    out = con.cmd("c")
    check('% Ambiguous command "c": csr, credential, ca' in out, out)
    out = con.cmd("help")
    check("ca issue" in out and "show ca" in out and "ca self-issue" in out, out)
    out = con.cmd("show ca", timeout=60)
    check("No Delegate CA" in out, out)

    con.line("token init ca-token")
    for p, v in (("SO PIN: ", SO_PIN), ("Repeat the SO PIN: ", SO_PIN), ("User PIN: ", USER_PIN),
                 ("Repeat the user PIN: ", USER_PIN)):
        con.expect(p)
        con.line(v)
    con.expect("stisign# ", 60)
    con.line("token pin")
    con.expect("User PIN: ")
    con.line(USER_PIN)
    con.expect("Repeat the user PIN: ")
    con.line(USER_PIN)
    out = con.expect("stisign# ", 60)
    check("PIN stored" in out, out)
    out = con.cmd("key generate delegate-ca ca1", timeout=60)
    check("Key ca1 generated" in out, out)

    # ca csr: CA:TRUE pathlen 0 and the TNAuthList, as openssl reads it
    out = con.cmd('ca csr ca1 subject "%s" scope "%s"' % (DCA_SUBJECT, DCA_SCOPE), timeout=60)
    csr = os.path.join(env.dir, "ca1.csr")
    with open(csr, "w") as f:
        f.write(pem_block(out, "CERTIFICATE REQUEST"))
    t = run(["openssl", "req", "-in", csr, "-noout", "-text", "-verify"])
    text = t.stdout + t.stderr
    check(re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", text), text)

    # the STI-CA: a throwaway root certifies the Delegate CA
    run([sys.executable, CA, "init", env.dir, "--scope", "range:12025550000/1000"])
    root, root_key = os.path.join(env.dir, "ca/root.pem"), os.path.join(env.dir, "ca/root.key")
    ext = os.path.join(env.dir, "ca1-ext.cnf")
    with open(ext, "w") as f:
        f.write("[dca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n"
                "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid:always\ncertificatePolicies = %s\n"
                "1.3.6.1.5.5.7.1.26 = ASN1:SEQUENCE:tnal\n\n%s\n"
                % (POLICY, throwaway_ca.tnauth_sections(DCA_SCOPE)))
    dca = os.path.join(env.dir, "ca1.pem")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", root, "-CAkey", root_key,
         "-set_serial", "0x%x" % int.from_bytes(os.urandom(12), "big"), "-days", "90",
         "-sha256", "-extfile", ext, "-extensions", "dca", "-out", dca])
    with open(dca) as f, open(root) as g:
        dca_pem, root_pem = f.read(), g.read()

    # a chain in the wrong order is refused; the right one is stored
    con.line("ca certificate ca1")
    out = paste(con, root_pem + dca_pem)
    check("STI_E" in out and "Stored." not in out, "wrong order refused: " + out)
    con.line("ca certificate ca1")
    out = paste(con, dca_pem + root_pem)
    check("Stored." in out and "range:12025550100/100" in out, out)

    con.line("ca issue")
    out = paste(con, af_request(env, "af0", "tn:12025550101"))
    check("No issuance policy" in out, "issue before a policy: " + out)
    out = con.cmd("ca policy oid %s crl %s days 30" % (POLICY, CRL_URI), timeout=60)
    check("Issuance policy" in out, out)

    # an in-scope request (spanning the two ranges): issued, verifies
    con.line("ca issue")
    out = paste(con, af_request(env, "af1", "range:12025550150/100"))
    leaf = os.path.join(env.dir, "af1.pem")
    with open(leaf, "w") as f:
        f.write(pem_block(out, "CERTIFICATE"))
    r = run(["openssl", "verify", "-CAfile", root, "-untrusted", dca, leaf])
    check(r.stdout.strip() == leaf + ": OK", r.stdout)
    t = run(["openssl", "x509", "-in", leaf, "-noout", "-text", "-serial"]).stdout
    check("URI:" + CRL_URI in t and "Policy: " + POLICY in t, t)
    serial = t.strip().splitlines()[-1].split("=", 1)[1]

    # out of scope: refused, naming exactly what is outside
    con.line("ca issue")
    out = paste(con, af_request(env, "af2", "range:12025550290/20 tn:12025559999"))
    check("Refused: outside the CA's scope: range:12025550300/10 tn:12025559999" in out, out)
    check("-----BEGIN CERTIFICATE-----" not in out, out)

    # revoke + CRL
    out = con.cmd("ca revoke %s reason keyCompromise" % serial, timeout=60)
    check("revoked (keyCompromise)" in out, out)
    out = con.cmd("ca revoke %s" % serial, timeout=60)
    check("already revoked" in out, out)
    out = con.cmd("ca crl", timeout=60)
    crl = os.path.join(env.dir, "ca1.crl")
    with open(crl, "w") as f:
        f.write(pem_block(out, "X509 CRL"))
    both = os.path.join(env.dir, "ca1-and-root.pem")
    with open(both, "w") as f:
        f.write(dca_pem + root_pem)
    r = subprocess.run(["openssl", "crl", "-in", crl, "-CAfile", both, "-noout", "-text"],
                       capture_output=True, text=True)
    check(r.returncode == 0 and "verify OK" in r.stdout + r.stderr, r.stdout + r.stderr)
    check(serial.lstrip("0").upper() in r.stdout.upper(), "serial listed: " + r.stdout)
    r = subprocess.run(["openssl", "verify", "-crl_check", "-CRLfile", crl, "-CAfile", root,
                        "-untrusted", dca, leaf], capture_output=True, text=True)
    check(r.returncode != 0 and "revoked" in r.stdout + r.stderr, r.stdout + r.stderr)

    # the appliance's own Customer AF certificate in one step
    out = con.cmd("key generate customer-af af9", timeout=60)
    check("Key af9 generated" in out, out)
    out = con.cmd('ca self-issue af9 scope "tn:12025550222" subject "C=US,O=stisign,CN=SHAKEN 9"',
                  timeout=60)
    check("stored as credential af9, pending" in out, out)
    self_leaf = os.path.join(env.dir, "af9.pem")
    with open(self_leaf, "w") as f:
        f.write(pem_block(out, "CERTIFICATE"))
    r = run(["openssl", "verify", "-CAfile", root, "-untrusted", dca, self_leaf])
    check(r.stdout.strip().endswith(": OK"), r.stdout)
    out = con.cmd("show credentials", timeout=60)
    check("credential af9" in out and "pending" in out, out)

    out = con.cmd("show ca", timeout=60)
    check("stisign console Delegate CA" in out and "2 issued, 1 revoked" in out
          and "range:12025550100/100" in out and POLICY in out, out)
    out = con.cmd("show audit", timeout=60)
    for a in ("ca csr ca1", "ca certificate ca1", "ca policy", "ca issue serial",
              "ca issue outside:", "ca revoke", "ca crl", "ca self-issue af9"):
        check(a in out, "audited: %s: %s" % (a, out))


if __name__ == "__main__":
    run_tests([delegate_ca_at_the_console], "console-ca")
