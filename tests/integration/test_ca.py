#!/usr/bin/env python3
"""The Delegate CA end to end: a throwaway STI-CA root (software key, openssl)
certifies a Delegate CA whose key was generated on the SoftHSM2 token and
whose request `stisign ca csr` made there; `stisign ca issue` and
`stisign ca self-issue` issue Customer AF certificates from it; openssl
verifies the chains and the CRL, and the real stisignd signs with the
issued certificates."""
import os
import re
import sys

sys.path.insert(0, os.path.dirname(__file__))
from stitest import SRC, check, main, run, verify_identity  # noqa: E402

sys.path.insert(0, os.path.join(SRC, "scripts"))
import throwaway_ca  # noqa: E402  (its TNAuthList generator: independent of stisign)

POLICY = "2.16.840.1.114569.1.1.3"
CRL_URI = "http://crl.example.invalid/it-dca.crl"
DCA_SCOPE = "range:12025550100/100 range:12025550200/100"
DCA_SUBJECT = "C=US,O=stisign it TN Provider,CN=stisign it Delegate CA"


class Dca:
    """The Delegate CA's files: its certificate, its state directory."""

    def __init__(self, env):
        self.env = env
        self.root = os.path.join(env.dir, "ca/root.pem")
        self.root_key = os.path.join(env.dir, "ca/root.key")
        self.pem = os.path.join(env.dir, "dca.pem")
        self.dir = os.path.join(env.dir, "dca-state")
        os.mkdir(self.dir, 0o700)

    def token_args(self):
        e = self.env
        return ["--token", e.token, "--pin-file", e.pin]

    def issue(self, csr, out=None, ok=True, extra=()):
        args = ["ca", "issue", *self.token_args(), "--key", "dca", "--ca-cert", self.pem,
                "--ca-dir", self.dir, "--csr", csr, "--policy-oid", POLICY, "--crl-uri", CRL_URI,
                *extra]
        if out:
            args += ["--out", out]
        return self.env.tool(args, ok=ok)

    def self_issue(self, key, scope, out, extra=()):
        return self.env.tool(["ca", "self-issue", *self.token_args(), "--ca-key", "dca",
                              "--ca-cert", self.pem, "--ca-dir", self.dir, "--af-key", key,
                              "--scope", scope, "--subject", "C=US,O=stisign it AF,CN=SHAKEN 1234",
                              "--policy-oid", POLICY, "--crl-uri", CRL_URI, "--out", out, *extra])

    def list(self):
        return self.env.tool(["ca", "list", "--ca-dir", self.dir]).stdout


def delegate_ca(env, scope=DCA_SCOPE):
    """Root (software) -> Delegate CA (key on the token, request by stisign)."""
    env.ca_init(scope)
    env.keygen("dca")
    dca = Dca(env)
    csr = os.path.join(env.dir, "dca.csr")
    env.tool(["ca", "csr", *dca.token_args(), "--key", "dca", "--subject", DCA_SUBJECT,
              "--scope", scope, "--out", csr])
    # What the STI-CA sees in the request, read by openssl.
    r = run(["openssl", "req", "-in", csr, "-noout", "-text", "-verify"])
    text = r.stdout + r.stderr
    check("self-signature ok" in text or "verify OK" in text, "CSR self-signature: " + text)
    check(re.search(r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", text),
          "CA:TRUE pathlen:0 requested: " + text)
    check(re.search(r"Key Usage: critical\s+Certificate Sign, CRL Sign", text),
          "keyCertSign+cRLSign requested: " + text)
    # The STI-CA writes its own extensions; the TNAuthList through openssl's
    # ASN.1 generator, not through stisign's encoder.
    ext = os.path.join(env.dir, "dca-ext.cnf")
    with open(ext, "w") as f:
        f.write("[dca]\nbasicConstraints = critical,CA:TRUE,pathlen:0\n"
                "keyUsage = critical,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\n"
                "authorityKeyIdentifier = keyid:always\ncertificatePolicies = %s\n"
                "crlDistributionPoints = URI:http://crl.example.invalid/root.crl\n"
                "1.3.6.1.5.5.7.1.26 = ASN1:SEQUENCE:tnal\n\n%s\n"
                % (POLICY, throwaway_ca.tnauth_sections(scope)))
    run(["openssl", "x509", "-req", "-in", csr, "-CA", dca.root, "-CAkey", dca.root_key,
         "-set_serial", "0x%x" % int.from_bytes(os.urandom(12), "big"), "-days", "90",
         "-sha256", "-extfile", ext, "-extensions", "dca", "-out", dca.pem])
    run(["openssl", "verify", "-CAfile", dca.root, dca.pem])
    return dca


def cat(out, *paths):
    with open(out, "w") as f:
        for p in paths:
            with open(p) as g:
                f.write(g.read())
    return out


def serial_of(path):
    r = run(["openssl", "x509", "-in", path, "-noout", "-serial"])
    return r.stdout.strip().split("=", 1)[1].lstrip("0").lower()


def issued_leaf_verifies_and_signs_in_the_daemon(env):
    dca = delegate_ca(env)
    env.keygen("af1")
    # Spans the two adjacent ranges of the Delegate CA.
    csr = env.csr("af1", "range:12025550150/100")
    leaf = os.path.join(env.dir, "af1-leaf.pem")
    dca.issue(csr, leaf)
    r = run(["openssl", "verify", "-CAfile", dca.root, "-untrusted", dca.pem, leaf])
    check(r.stdout.strip() == leaf + ": OK", "openssl verifies the delegate chain: " + r.stdout)
    # Read back by openssl: the profile's visible parts.
    r = run(["openssl", "x509", "-in", leaf, "-noout", "-text"])
    t = r.stdout
    check("Signature Algorithm: ecdsa-with-SHA256" in t, "ecdsa-with-SHA256")
    check(re.search(r"Basic Constraints: critical\s+CA:FALSE", t), "CA:FALSE critical")
    check(re.search(r"Key Usage: critical\s+Digital Signature\n", t), "digitalSignature only")
    check(t.count("Policy: ") == 1 and "Policy: " + POLICY in t, "one policy OID")
    check(t.count("URI:") == 1 and "URI:" + CRL_URI in t, "one CRL DP URI")
    check("Subject: C = US, O = stisign it, CN = SHAKEN IT" in t, "subject from the request")
    check("Subject Key Identifier" in t and "Authority Key Identifier" in t, "SKI and AKI")
    serial = serial_of(leaf)
    listing = dca.list()
    check(listing.startswith(serial + ": valid\n"), "ledger lists the leaf: " + listing)
    check("scope: range:12025550150/100" in listing, listing)

    chain = cat(os.path.join(env.dir, "af1-chain.pem"), leaf, dca.pem)
    env.credential("af1", "af1", chain)
    env.start()
    r = env.sign_cli("12025550249", ["13035550000"])
    _, claims = verify_identity(env, r.stdout.strip(), chain)
    check(claims["orig"] == {"tn": "12025550249"}, "orig")
    # In the Delegate CA's scope, not in the leaf's: not signed.
    r = env.sign_cli("12025550100", ["13035550000"], ok=False)
    check("error 300 (STI_ESCOPE)" in r.stderr, "outside the leaf scope: " + r.stderr)


def out_of_scope_request_is_refused_with_the_outside_entries(env):
    dca = delegate_ca(env)
    env.keygen("af1")
    csr = env.csr("af1", "range:12025550250/100 tn:12025550199 tn:13035550000 spc:709J")
    out = os.path.join(env.dir, "refused.pem")
    r = dca.issue(csr, out, ok=False)
    check(r.returncode == 1, "exit 1, got %d" % r.returncode)
    want = ("stisign: error 303 (STI_ESCOPE_OUTSIDE): scope not contained in issuer scope: "
            "outside: range:12025550300/50 tn:13035550000 spc:709J\n")
    check(r.stderr == want, "exact outside entries: %r" % r.stderr)
    check(r.stdout == "" and not os.path.exists(out), "nothing issued")
    check(dca.list() == "", "nothing recorded in the ledger")
    # The same key asking for what the CA holds gets it.
    dca.issue(env.csr("af1", "range:12025550250/50 tn:12025550199"), out)
    check(os.path.exists(out), "in-scope request issued")


def self_issued_chains_are_accepted_by_the_daemon(env):
    dca = delegate_ca(env)
    env.keygen("af2")
    env.keygen("af3")
    chain2 = os.path.join(env.dir, "af2-chain.pem")
    chain3 = os.path.join(env.dir, "af3-chain.pem")
    dca.self_issue("af2", "tn:12025550123 range:12025550200/10", chain2)
    dca.self_issue("af3", "tn:12025550124", chain3, extra=["--ca-chain", dca.root])
    with open(chain2) as f:
        check(f.read().count("BEGIN CERTIFICATE") == 2, "leaf + Delegate CA")
    with open(chain3) as f:
        check(f.read().count("BEGIN CERTIFICATE") == 3, "leaf + Delegate CA + root")
    for chain in (chain2, chain3):
        r = run(["openssl", "verify", "-CAfile", dca.root, "-untrusted", chain, chain])
        check(r.stdout.strip() == chain + ": OK", "openssl verifies: " + r.stdout)
    env.credential("af2", "af2", chain2, "https://cr.example.com/af2.pem")
    env.credential("af3", "af3", chain3, "https://cr.example.com/af3.pem")
    env.start()
    r = env.sign_cli("12025550205", ["13035550000"])
    verify_identity(env, r.stdout.strip(), chain2, "https://cr.example.com/af2.pem")
    r = env.sign_cli("12025550124", ["13035550000"])
    verify_identity(env, r.stdout.strip(), chain3, "https://cr.example.com/af3.pem")
    listing = dca.list()
    check(listing.count(": valid\n") == 2, "both self-issued leaves in the ledger: " + listing)
    # Out of scope through self-issue is refused the same way.
    r = env.tool(["ca", "self-issue", *dca.token_args(), "--ca-key", "dca", "--ca-cert", dca.pem,
                  "--ca-dir", dca.dir, "--af-key", "af2", "--scope", "tn:19995550000",
                  "--subject", "C=US,O=X,CN=Y", "--policy-oid", POLICY, "--crl-uri", CRL_URI,
                  "--out", os.path.join(env.dir, "never.pem")], ok=False)
    check(r.returncode == 1 and r.stderr.endswith("outside: tn:19995550000\n"), r.stderr)
    # A leaf named like the Delegate CA itself is refused, naming the clash.
    r = env.tool(["ca", "self-issue", *dca.token_args(), "--ca-key", "dca", "--ca-cert", dca.pem,
                  "--ca-dir", dca.dir, "--af-key", "af2", "--scope", "tn:12025550123",
                  "--subject", DCA_SUBJECT, "--policy-oid", POLICY, "--crl-uri", CRL_URI,
                  "--out", os.path.join(env.dir, "never.pem")], ok=False)
    check(r.returncode == 1 and "error 509 (STI_EPKI_PROFILE)" in r.stderr
          and "equals the Delegate CA's own subject" in r.stderr, r.stderr)


def revoked_leaf_is_in_a_crl_openssl_verifies(env):
    dca = delegate_ca(env)
    env.keygen("af1")
    csr = env.csr("af1", "range:12025550100/10")
    leaf1 = os.path.join(env.dir, "leaf1.pem")
    leaf2 = os.path.join(env.dir, "leaf2.pem")
    dca.issue(csr, leaf1)
    dca.issue(csr, leaf2)
    s1, s2 = serial_of(leaf1), serial_of(leaf2)
    check(s1 != s2, "distinct serials")
    r = env.tool(["ca", "revoke", "--ca-dir", dca.dir, "--serial", s1.upper(),
                  "--reason", "keyCompromise"])
    r = env.tool(["ca", "revoke", "--ca-dir", dca.dir, "--serial", s1], ok=False)
    check(r.returncode == 1 and "error 112 (STI_EEXISTS)" in r.stderr, "twice: " + r.stderr)
    r = env.tool(["ca", "revoke", "--ca-dir", dca.dir, "--serial", "abcdef"], ok=False)
    check(r.returncode == 1 and "error 110 (STI_ENOTFOUND)" in r.stderr, "unknown: " + r.stderr)
    r = env.tool(["ca", "revoke", "--ca-dir", dca.dir, "--serial", s2, "--reason", "bored"],
                 ok=False)
    check(r.returncode == 2, "unknown reason is a usage error")

    crl = os.path.join(env.dir, "crl.pem")
    env.tool(["ca", "crl", *dca.token_args(), "--key", "dca", "--ca-cert", dca.pem,
              "--ca-dir", dca.dir, "--out", crl])
    cafile = cat(os.path.join(env.dir, "cas.pem"), dca.root, dca.pem)
    r = run(["openssl", "crl", "-in", crl, "-CAfile", cafile, "-noout"])
    check("verify OK" in r.stdout + r.stderr, "openssl verifies the CRL signature: %r"
          % (r.stdout + r.stderr))
    r = run(["openssl", "crl", "-in", crl, "-noout", "-text"])
    listed = [s.lstrip("0").lower() for s in re.findall(r"Serial Number: ([0-9A-F]+)", r.stdout)]
    check(listed == [s1], "CRL lists exactly the revoked serial: %r" % listed)
    check("Key Compromise" in r.stdout, "reason code")
    check("X509v3 CRL Number" in r.stdout and "Authority Key Identifier" in r.stdout,
          "CRL number and AKI")
    check("Version 2" in r.stdout, "v2 CRL")

    r = run(["openssl", "verify", "-crl_check", "-CRLfile", crl, "-CAfile", dca.root,
             "-untrusted", dca.pem, leaf1], ok=False)
    check(r.returncode != 0 and "certificate revoked" in r.stdout + r.stderr,
          "revoked leaf rejected: %r" % (r.stdout + r.stderr))
    r = run(["openssl", "verify", "-crl_check", "-CRLfile", crl, "-CAfile", dca.root,
             "-untrusted", dca.pem, leaf2])
    check(r.stdout.strip() == leaf2 + ": OK", "the other leaf still verifies")
    listing = dca.list()
    check(re.search(r"^%s: revoked \S+ \(keyCompromise\)$" % s1, listing, re.M), listing)
    check(re.search(r"^%s: valid$" % s2, listing, re.M), listing)


if __name__ == "__main__":
    main([issued_leaf_verifies_and_signs_in_the_daemon,
          out_of_scope_request_is_refused_with_the_outside_entries,
          self_issued_chains_are_accepted_by_the_daemon,
          revoked_leaf_is_in_a_crl_openssl_verifies], "ca")
