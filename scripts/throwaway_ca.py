#!/usr/bin/env python3
"""throwaway_ca.py — a disposable STI-CA for demos and tests (never production).

It plays the STI-CA (a root with a software key) and a TN Provider's
Delegate CA (an intermediate with a TNAuthList), and issues SHAKEN
end-entity certificates from PKCS#10 requests. Everything is done by the
openssl command-line tool; the TNAuthList is written with openssl's own
ASN.1 generator (EXPLICIT tags), independently of stisign's encoder.

  throwaway_ca.py init  DIR --scope "range:12025550100/100 ..."
  throwaway_ca.py issue DIR --csr REQ.pem --scope "..." --out CHAIN.pem
                    [--days N | --start YYYYMMDDHHMMSSZ --end YYYYMMDDHHMMSSZ]
                    [--no-tnauth]
The chain written by issue is leaf first, then the Delegate CA. The trust
anchor is DIR/ca/root.pem.
"""
import argparse
import os
import subprocess
import sys

POLICY_OID = "2.16.840.1.114569.1.1.3"
CRL_URI = "http://crl.example.invalid/stisign-demo.crl"


def run(*args, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("throwaway_ca: %s failed:\n%s" % (" ".join(args[:3]), r.stderr))
    return r.stdout


def tnauth_sections(scope):
    """openssl ASN1 generator sections for a TNAuthList from scope text."""
    entries, extra = [], []
    for i, tok in enumerate(scope.replace(",", " ").split()):
        kind, _, val = tok.partition(":")
        if kind == "spc":
            entries.append("e%d = EXP:0,IA5STRING:%s" % (i, val))
        elif kind == "tn":
            entries.append("e%d = EXP:2,IA5STRING:%s" % (i, val))
        elif kind == "range":
            start, _, count = val.partition("/")
            entries.append("e%d = EXP:1,SEQUENCE:range%d" % (i, i))
            extra.append("[range%d]\nstart = IA5STRING:%s\ncount = INTEGER:%s\n" % (i, start, count))
        else:
            sys.exit("throwaway_ca: bad scope entry %r" % tok)
    if not entries:
        sys.exit("throwaway_ca: empty scope")
    return "[tnal]\n" + "\n".join(entries) + "\n\n" + "\n".join(extra)


def ext_config(scope, tnauth=True):
    tn = "1.3.6.1.5.5.7.1.26 = ASN1:SEQUENCE:tnal\n" if tnauth else ""
    return f"""[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
certificatePolicies = {POLICY_OID}

[dca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = {POLICY_OID}
crlDistributionPoints = URI:{CRL_URI}
1.3.6.1.5.5.7.1.26 = ASN1:SEQUENCE:tnal

[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = {POLICY_OID}
crlDistributionPoints = URI:{CRL_URI}
{tn}
{tnauth_sections(scope)}
"""


def ca_config(cadir):
    return f"""[ca]
default_ca = dca
[dca]
dir = {cadir}
database = {cadir}/index.txt
new_certs_dir = {cadir}/newcerts
rand_serial = yes
default_md = sha256
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
[policy_any]
countryName = optional
organizationName = optional
commonName = supplied
"""


def write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def cmd_init(a):
    cadir = os.path.join(os.path.abspath(a.dir), "ca")
    os.makedirs(os.path.join(cadir, "newcerts"), exist_ok=True)
    if os.path.exists(os.path.join(cadir, "dca.pem")) and not a.force:
        return
    write(os.path.join(cadir, "index.txt"), "")
    write(os.path.join(cadir, "ca.cnf"), ca_config(cadir))
    ext = os.path.join(cadir, "ext-init.cnf")
    write(ext, ext_config(a.scope))
    for name in ("root", "dca"):
        run("openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", os.path.join(cadir, name + ".key"))
        os.chmod(os.path.join(cadir, name + ".key"), 0o600)
    root = os.path.join(cadir, "root")
    run("openssl", "req", "-new", "-x509", "-key", root + ".key", "-out", root + ".pem",
        "-days", "3650", "-subj", "/C=US/O=Throwaway STI-CA/CN=Throwaway STI-CA Root",
        "-config", ext, "-extensions", "root", "-sha256")
    dca = os.path.join(cadir, "dca")
    run("openssl", "req", "-new", "-key", dca + ".key", "-out", dca + ".csr",
        "-subj", "/C=US/O=Throwaway TN Provider/CN=Throwaway Delegate CA")
    run("openssl", "ca", "-batch", "-config", os.path.join(cadir, "ca.cnf"),
        "-cert", root + ".pem", "-keyfile", root + ".key", "-in", dca + ".csr",
        "-out", dca + ".pem", "-days", "1825", "-extfile", ext, "-extensions", "dca", "-notext")


def cmd_issue(a):
    cadir = os.path.join(os.path.abspath(a.dir), "ca")
    ext = os.path.join(cadir, "ext-leaf.cnf")
    write(ext, ext_config(a.scope, tnauth=not a.no_tnauth))
    leaf = a.out + ".leaf"
    validity = ["-days", str(a.days)]
    if a.start or a.end:
        validity = ["-startdate", a.start, "-enddate", a.end]
    run("openssl", "ca", "-batch", "-config", os.path.join(cadir, "ca.cnf"),
        "-cert", os.path.join(cadir, "dca.pem"), "-keyfile", os.path.join(cadir, "dca.key"),
        "-in", a.csr, "-out", leaf, "-extfile", ext, "-extensions", "leaf", "-notext", *validity)
    with open(leaf) as f1, open(os.path.join(cadir, "dca.pem")) as f2:
        write(a.out, f1.read() + f2.read())
    os.unlink(leaf)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    i = sub.add_parser("init")
    i.add_argument("dir")
    i.add_argument("--scope", required=True)
    i.add_argument("--force", action="store_true")
    s = sub.add_parser("issue")
    s.add_argument("dir")
    s.add_argument("--csr", required=True)
    s.add_argument("--scope", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--days", type=int, default=365)
    s.add_argument("--start")
    s.add_argument("--end")
    s.add_argument("--no-tnauth", action="store_true")
    a = p.parse_args()
    if a.cmd == "init":
        cmd_init(a)
    else:
        if bool(a.start) != bool(a.end):
            p.error("--start and --end go together")
        cmd_issue(a)


if __name__ == "__main__":
    main()
