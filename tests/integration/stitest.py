"""stitest.py — shared fixture for stisign integration tests.

Each test gets a fresh temporary directory holding a SoftHSM2 token, PIN
files, a throwaway CA, certificates issued from CSRs signed on the token,
and the real stisignd listening on a real Unix socket. Verification of
what the daemon returns goes through the openssl command-line tool, not
through stisign's own code.
"""
import base64
import json
import os
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

BUILD = os.environ.get("STI_BUILD", os.path.join(os.path.dirname(__file__), "../../build"))
SRC = os.environ.get("STI_SRC", os.path.join(os.path.dirname(__file__), "../.."))
MODULE = os.environ.get("STI_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
STISIGN = os.path.join(BUILD, "firmware/tools/stisign")
STISIGND = os.path.join(BUILD, "firmware/daemon/stisignd")
CA = os.path.join(SRC, "scripts/throwaway_ca.py")
MKIMAGE = os.path.join(BUILD, "firmware/tools/stisign-mkimage")
VENDOR_KEY = os.path.join(SRC, "board/sim/vendor-test-key.pem")
X5U = "https://cr.example.com/it/chain.pem"
# STI_DAEMON_WRAP="valgrind --trace-children=yes ..." prefixes the daemon's
# argv (scripts/valgrind.sh); starting and stopping then wait longer.
DAEMON_WRAP = shlex.split(os.environ.get("STI_DAEMON_WRAP", ""))
WRAP_SLOWDOWN = 10 if DAEMON_WRAP else 1
# STI_SANDBOX=off|log|enforce: the workers' sandbox setting for every
# daemon a test starts (a test's own setting still wins); valgrind.sh
# needs off.
SANDBOX = os.environ.get("STI_SANDBOX", "")

# wire constants (docs/protocol.md)
HDR = struct.Struct(">IBBHI")
OP_SIGN, OP_HEALTH, OP_LIST = 1, 2, 3
T_MESSAGE, T_ORIG, T_DEST, T_ATTEST, T_ORIGID, T_IAT = 0x0F, 1, 2, 3, 4, 5
T_IDENTITY, T_CRED = 0x10, 0x11


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


def b64u_decode(s):
    check("=" not in s, "padding in base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def wait_for(pred, what, secs=20):
    """Polls pred() until it is true; fails naming what after secs."""
    deadline = time.time() + secs
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def run(args, ok=True, **kw):
    r = subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)
    if ok and r.returncode != 0:
        raise Failure("%s failed (%d):\n%s%s" % (" ".join(args), r.returncode, r.stdout, r.stderr))
    return r


class Env:
    def __init__(self, name):
        base = os.path.join(BUILD, "tmp")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=base)
        os.chmod(self.dir, 0o700)
        self.token = "it-token"
        self.sock = os.path.join(self.dir, "sign.sock")
        self.daemon = None
        self.log = os.path.join(self.dir, "stisignd.log")
        os.makedirs(os.path.join(self.dir, "tokens"))
        with open(os.path.join(self.dir, "softhsm2.conf"), "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % self.dir)
        os.environ["SOFTHSM2_CONF"] = os.path.join(self.dir, "softhsm2.conf")
        self.pin = self.secret("pin", "1234567890")
        self.so_pin = self.secret("so-pin", "0987654321")
        self.tool(["token", "init", "--label", self.token, "--so-pin-file", self.so_pin,
                   "--pin-file", self.pin])
        self.creds = []

    def secret(self, name, value):
        path = os.path.join(self.dir, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, (value + "\n").encode())
        os.close(fd)
        return path

    def tool(self, args, ok=True):
        return run([STISIGN] + args, ok=ok)

    def keygen(self, label):
        self.tool(["key", "generate", "--token", self.token, "--pin-file", self.pin,
                   "--label", label])

    def csr(self, label, scope):
        out = os.path.join(self.dir, label + ".csr")
        self.tool(["csr", "--token", self.token, "--pin-file", self.pin, "--key", label,
                   "--subject", "C=US,O=stisign it,CN=SHAKEN IT", "--scope", scope,
                   "--out", out])
        return out

    def ca_init(self, scope):
        run([sys.executable, CA, "init", self.dir, "--scope", scope])
        return os.path.join(self.dir, "ca/root.pem")

    def issue(self, label, scope, extra=()):
        csr = self.csr(label, scope)
        chain = os.path.join(self.dir, label + "-chain.pem")
        run([sys.executable, CA, "issue", self.dir, "--csr", csr, "--scope", scope,
             "--out", chain, *extra])
        return chain

    def credential(self, name, key, chain, x5u=X5U):
        self.creds.append((name, key, chain, x5u))

    def write_config(self, extra="", module=None):
        """module: a PKCS#11 module other than STI_MODULE (e.g. libfaultp11.so)."""
        if DAEMON_WRAP:
            # Workers under valgrind need far more than the default 10 s to open.
            extra = "start_timeout_ms = 300000\n" + extra
        if SANDBOX:
            extra = "sandbox = %s\n" % SANDBOX + extra
        path = os.path.join(self.dir, "stisignd.conf")
        with open(path, "w") as f:
            f.write("socket = %s\nmodule = %s\ntoken = %s\npin_file = %s\nworkers = 2\n%s\n"
                    % (self.sock, module or MODULE, self.token, self.pin, extra))
            for name, key, chain, x5u in self.creds:
                f.write("[credential %s]\nkey = %s\nchain = %s\nx5u = %s\n\n"
                        % (name, key, chain, x5u))
        return path

    def start(self, extra="", expect_fail=False, module=None):
        cfg = self.write_config(extra, module=module)
        logf = open(self.log, "ab")
        self.daemon = subprocess.Popen(DAEMON_WRAP + [STISIGND, "-c", cfg], stdout=logf,
                                       stderr=logf)
        deadline = time.time() + 30 * WRAP_SLOWDOWN
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                if expect_fail:
                    return self.daemon.returncode
                raise Failure("stisignd exited %d:\n%s" % (self.daemon.returncode, self.logtext()))
            if os.path.exists(self.sock):
                try:
                    c = Conn(self.sock)
                    c.close()
                    return 0
                except OSError:
                    pass
            time.sleep(0.05)
        raise Failure("stisignd did not come up:\n" + self.logtext())

    def front_pid(self, timeout=10):
        """The front process: the I/O loop (it is restarted on a crash)."""
        deadline = time.time() + timeout
        while True:
            pids = role_pids(self.daemon.pid, "front")
            if pids or time.time() > deadline:
                check(len(pids) == 1, "one front process: %r" % pids)
                return pids[0]
            time.sleep(0.05)

    def worker_pids(self):
        return role_pids(self.daemon.pid, "worker")

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(20 * WRAP_SLOWDOWN)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                raise Failure("stisignd did not stop on SIGTERM")
        # valgrind --error-exitcode=99: the wrapper reports errors this way
        if DAEMON_WRAP and self.daemon and self.daemon.returncode == 99:
            self.daemon = None
            raise Failure("stisignd under %s exited 99 (memory errors or leaks)" % DAEMON_WRAP[0])
        self.daemon = None

    def close(self, ok):
        try:
            self.stop()
        finally:
            if ok and not os.environ.get("STI_KEEP"):
                shutil.rmtree(self.dir, ignore_errors=True)
            else:
                print("state kept in", self.dir)

    def sign_cli(self, orig, dests, attest="A", extra=(), ok=True):
        args = ["sign", "--socket", self.sock, "--orig", orig, "--attest", attest, *extra]
        for d in dests:
            args += ["--dest", d]
        return self.tool(args, ok=ok)


def mkimage(env, name, version, key=VENDOR_KEY, payload=b"stisign firmware\n"):
    """A firmware update image in env.dir (signed with key; None: unsigned)."""
    p = os.path.join(env.dir, name + ".payload")
    with open(p, "wb") as f:
        f.write(payload)
    out = os.path.join(env.dir, name + ".img")
    args = [MKIMAGE, "--version", version, "--payload", p, "--out", out]
    args += ["--unsigned"] if key is None else ["--key", key]
    run(args)
    return out


def field(tag, value):
    if isinstance(value, str):
        value = value.encode()
    return struct.pack(">BH", tag, len(value)) + value


def frame(op, rid, body=b"", version=1, length=None, status=0):
    n = HDR.size + len(body) if length is None else length
    return HDR.pack(n, version, op, status, rid) + body


def sign_body(orig, dests, attest="A", iat=None, origid=None):
    b = field(T_ORIG, orig) + b"".join(field(T_DEST, d) for d in dests)
    b += field(T_ATTEST, attest.encode())
    if iat is not None:
        b += field(T_IAT, struct.pack(">Q", iat))
    if origid is not None:
        b += field(T_ORIGID, origid)
    return b


class Conn:
    """A raw protocol client, independent of libstisign."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def recv_frame(self):
        """(op, status, id, {tag: [values]}) or None when the server closed."""
        while True:
            if len(self.buf) >= HDR.size:
                n, ver, op, status, rid = HDR.unpack(self.buf[:HDR.size])
                if len(self.buf) >= n:
                    body, self.buf = self.buf[HDR.size:n], self.buf[n:]
                    fields, off = {}, 0
                    while off < len(body):
                        tag, ln = struct.unpack(">BH", body[off:off + 3])
                        fields.setdefault(tag, []).append(body[off + 3:off + 3 + ln])
                        off += 3 + ln
                    return op, status, rid, fields
            data = self.s.recv(65536)
            if not data:
                return None
            self.buf += data

    def closed_by_peer(self):
        try:
            return self.s.recv(1) == b""
        except (ConnectionResetError, BrokenPipeError):
            return True

    def close(self):
        self.s.close()


def proc_children(pid):
    """Every child of pid (all its threads'), from /proc."""
    kids = set()
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                kids.update(int(x) for x in f.read().split())
    except OSError:
        pass
    return sorted(kids)


def proc_role(pid):
    """The daemon role a process runs (docs/architecture.md): front,
    verifier, worker, or None."""
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        return None
    return {b"--front": "front", b"--verifier": "verifier",
            b"--hsm-worker": "worker"}.get(argv[1] if len(argv) > 1 else b"")


def role_pids(parent, role):
    return [k for k in proc_children(parent) if proc_role(k) == role]


def der_sig(raw):
    """raw r||s -> DER ECDSA-Sig-Value, for openssl dgst -verify."""
    def der_int(b):
        b = b.lstrip(b"\x00") or b"\x00"
        if b[0] & 0x80:
            b = b"\x00" + b
        return b"\x02" + bytes([len(b)]) + b
    body = der_int(raw[:32]) + der_int(raw[32:])
    return b"\x30" + bytes([len(body)]) + body


def verify_identity(env, identity, chain, x5u=X5U):
    """Checks an Identity header value the way a strict verifier would, with
    openssl doing the cryptography. Returns (header, claims)."""
    check(identity.count(";") == 3, "Identity has jws;info;alg;ppt: " + identity)
    jws, info, alg, ppt = identity.split(";")
    check(info == "info=<%s>" % x5u, "info parameter is the x5u in angle brackets: " + info)
    check(alg == "alg=ES256", "alg parameter")
    check(ppt == "ppt=shaken", "ppt parameter")
    parts = jws.split(".")
    check(len(parts) == 3 and all(parts), "JWS has three non-empty parts")
    hraw, craw, sraw = (b64u_decode(p) for p in parts)
    header, claims = json.loads(hraw), json.loads(craw)
    check(hraw == json.dumps(header, sort_keys=True, separators=(",", ":")).encode(),
          "header JSON is deterministic")
    check(craw == json.dumps(claims, sort_keys=True, separators=(",", ":")).encode(),
          "claims JSON is deterministic")
    check(header == {"alg": "ES256", "ppt": "shaken", "typ": "passport", "x5u": x5u},
          "header members: %r" % header)
    check(set(claims) == {"attest", "dest", "iat", "orig", "origid"}, "claim names")
    check(isinstance(claims["iat"], int), "iat is an integer")
    check(isinstance(claims["dest"]["tn"], list), "dest.tn is an array")
    check(len(sraw) == 64, "raw r||s signature")
    d = tempfile.mkdtemp(dir=env.dir)
    with open(os.path.join(d, "in"), "wb") as f:
        f.write((parts[0] + "." + parts[1]).encode())
    with open(os.path.join(d, "sig"), "wb") as f:
        f.write(der_sig(sraw))
    run(["openssl", "x509", "-in", chain, "-pubkey", "-noout", "-out", os.path.join(d, "pub")])
    r = run(["openssl", "dgst", "-sha256", "-verify", os.path.join(d, "pub"), "-signature",
             os.path.join(d, "sig"), os.path.join(d, "in")], ok=False)
    check(r.returncode == 0 and "Verified OK" in r.stdout, "openssl verifies the ES256 signature")
    shutil.rmtree(d)
    return header, claims


def main(tests, name, env_cls=None):
    """Runs each test function with a fresh environment (Env, or env_cls);
    prints each result with its time and a ctest-readable summary."""
    env_cls = env_cls or Env
    passed = failed = 0
    only = sys.argv[1:]
    t_all = time.monotonic()
    for t in tests:
        if only and t.__name__ not in only:
            continue
        env = env_cls(name)
        ok = False
        t0 = time.monotonic()
        try:
            t(env)
            ok = True
        except Failure as e:
            print("FAIL %s: %s" % (t.__name__, e))
            log = env.logtext()
            if log:
                print("--- stisignd log ---\n" + log[-3000:])
        except Exception as e:
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
        finally:
            try:
                env.close(ok)
            except Failure as e:
                print("FAIL %s: %s" % (t.__name__, e))
                ok = False
        print("%s %s (%.1f s)" % ("ok  " if ok else "FAIL", t.__name__, time.monotonic() - t0),
              flush=True)
        passed += ok
        failed += not ok
    print("%d passed, %d failed in %.1f s" % (passed, failed, time.monotonic() - t_all))
    sys.exit(1 if failed or not passed else 0)
