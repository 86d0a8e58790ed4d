"""fault_lib.py — helpers shared by the fault and load suites.

FaultEnv: a stitest.Env whose daemon loads libfaultp11.so (a PKCS#11 module
wrapping SoftHSM2 that injects faults named in a control file).
LoadGen: a pipelined, rate-capped load generator on raw non-blocking
sockets in a background thread, recording every answer by request id so a
test can prove that each id got exactly one answer.
"""
import json
import os
import selectors
import socket
import struct
import threading
import time

from stitest import (HDR, OP_HEALTH, OP_SIGN, T_IDENTITY, Conn, Env, Failure, b64u_decode, check,
                     frame, proc_children, sign_body)

FAULTP11_LIB = os.environ.get("FAULTP11_LIB", os.path.join(
    os.environ.get("STI_BUILD", os.path.join(os.path.dirname(__file__), "../../build")),
    "tests/faultp11/libfaultp11.so"))
SANITIZED = os.environ.get("STI_SANITIZED", "0") not in ("", "0", "OFF", "FALSE")
SCOPE = "range:12025550100/100"

# health fields (docs/protocol.md)
T_STATE, T_WORKERS, T_READY, T_HSM_ERRORS, T_LAST_HSM_ERROR = 0x20, 0x21, 0x22, 0x28, 0x29
T_IN_FLIGHT, T_REASON = 0x2A, 0x2B
STATE_NAMES = {0: "ready", 1: "degraded", 2: "down"}


def uint(b):
    return int.from_bytes(b, "big")


class FaultEnv(Env):
    """An Env with one P-256 credential whose daemon uses libfaultp11.so."""

    def __init__(self, name):
        super().__init__(name)
        self.ctl = os.path.join(self.dir, "faults")
        os.environ["FAULTP11_CONTROL"] = self.ctl
        os.environ["FAULTP11_MODULE"] = os.environ.get("STI_MODULE",
                                                       "/usr/lib/softhsm/libsofthsm2.so")
        self._n = 0

    def provision(self):
        self.keygen("af1")
        self.ca_init(SCOPE)
        self.chain = self.issue("af1", SCOPE)
        self.credential("af1", "af1", self.chain)
        return self.chain

    def start(self, extra="", expect_fail=False, module=None):
        return super().start(extra, expect_fail, module=module or FAULTP11_LIB)

    def set_faults(self, text):
        """Replaces the control file atomically (a new inode: the module
        notices on its next call)."""
        self._n += 1
        tmp = "%s.tmp%d" % (self.ctl, self._n)
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.ctl)

    def clear_faults(self):
        self.set_faults("")

    def fault_stats(self):
        st = {}
        try:
            with open(self.ctl + ".stats") as f:
                for line in f:
                    k, _, v = line.strip().partition("=")
                    if k and v.isdigit():
                        st[k] = int(v)
        except OSError:
            pass
        return st

    def health(self, conn=None):
        c = conn or Conn(self.sock, timeout=10)
        try:
            c.send(frame(OP_HEALTH, 0x7FFFFFFF))
            r = c.recv_frame()
            check(r is not None, "health answered")
            op, status, rid, f = r
            check(status == 0, "health status %d" % status)
            return {"state": STATE_NAMES.get(uint(f[T_STATE][0]), "?"),
                    "workers": uint(f[T_WORKERS][0]), "ready": uint(f[T_READY][0]),
                    "hsm_errors": uint(f[T_HSM_ERRORS][0]),
                    "last_hsm_error": uint(f[T_LAST_HSM_ERROR][0]),
                    "in_flight": uint(f[T_IN_FLIGHT][0]),
                    "reason": f.get(T_REASON, [b""])[0].decode()}
        finally:
            if conn is None:
                c.close()

    def wait_workers_ready(self, n=2, timeout=30.0):
        """Polls health until n workers are ready; returns seconds taken."""
        t0 = time.monotonic()
        while True:
            h = self.health()
            if h["ready"] == n and h["state"] == "ready":
                return time.monotonic() - t0
            check(time.monotonic() - t0 < timeout, "workers ready within %.0f s: %r" % (timeout, h))
            time.sleep(0.02)

    def probe_recovery(self, since, deadline_s=15.0):
        """Signs once every 10 ms on its own connection until a signature
        comes back; returns seconds from `since` (time.monotonic()) to that
        answer."""
        c = Conn(self.sock, timeout=deadline_s)
        try:
            rid = 1
            while True:
                c.send(frame(OP_SIGN, rid, sign_body("12025550150", ["12025550101"])))
                r = c.recv_frame()
                check(r is not None, "probe connection closed by the daemon")
                if r[1] == 0:
                    check(r[2] == rid and T_IDENTITY in r[3], "probe answer carries its id")
                    return time.monotonic() - since, r[3][T_IDENTITY][0].decode()
                check(400 <= r[1] < 500 or r[1] == 207, "probe error is HSM class: %d" % r[1])
                check(time.monotonic() - since < deadline_s,
                      "signing did not recover within %.0f s (last status %d)" % (deadline_s, r[1]))
                rid += 1
                time.sleep(0.01)
        finally:
            c.close()

    def rss_kb(self):
        """VmRSS of the daemon: the parent, the front and the workers, in kB."""
        total = 0
        for pid in [self.daemon.pid] + proc_children(self.daemon.pid):
            try:
                with open("/proc/%d/status" % pid) as f:
                    for line in f:
                        if line.startswith("VmRSS:"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total


def orig_for(rid):
    return "12025550%03d" % (100 + rid % 100)


class LoadGen(threading.Thread):
    """conns connections, each with at most depth requests in flight, at most
    `rate` requests/s in total, until stop() or max_requests / max_seconds.
    Records, per request id, every answer (status, latency, identity)."""

    def __init__(self, path, conns=4, depth=16, rate=400, max_requests=20000, max_seconds=60,
                 first_id=1):
        super().__init__(daemon=True)
        self.path, self.nconns, self.depth, self.rate = path, conns, depth, rate
        self.max_requests, self.max_seconds = max_requests, max_seconds
        self.next_id = first_id
        self.sent = {}      # id -> send time
        self.answers = {}   # id -> [(status, latency, identity or None, answer time)]
        self.stray = []     # answers for ids never sent
        self.closed = []    # connections the daemon closed with requests pending
        self.lock = threading.Lock()
        self._halt = threading.Event()
        self.error = None

    def stop(self):
        self._halt.set()

    def run(self):
        try:
            self._run()
        except Exception as e:  # reported by finish()
            self.error = e

    def _run(self):
        sel = selectors.DefaultSelector()
        conns = []
        for _ in range(self.nconns):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.path)
            s.setblocking(False)
            st = {"s": s, "out": bytearray(), "in": bytearray(), "pending": set()}
            conns.append(st)
            sel.register(s, selectors.EVENT_READ, st)
        t0 = time.monotonic()
        nsent = 0
        drain_deadline = None
        live = list(conns)
        while live:
            now = time.monotonic()
            stopping = self._halt.is_set() or nsent >= self.max_requests or \
                now - t0 > self.max_seconds
            if stopping:
                if drain_deadline is None:
                    drain_deadline = now + 20.0
                if all(not c["pending"] for c in live) or now > drain_deadline:
                    break
            else:
                allowed = int(self.rate * (now - t0)) - nsent
                for c in live:
                    while allowed > 0 and len(c["pending"]) < self.depth:
                        rid = self.next_id
                        self.next_id += 1
                        c["out"] += frame(OP_SIGN, rid, sign_body(orig_for(rid), ["12025550101"]))
                        c["pending"].add(rid)
                        with self.lock:
                            self.sent[rid] = time.monotonic()
                        nsent += 1
                        allowed -= 1
            for c in live:
                ev = selectors.EVENT_READ | (selectors.EVENT_WRITE if c["out"] else 0)
                sel.modify(c["s"], ev, c)
            for key, ev in sel.select(timeout=0.005):
                c = key.data
                if ev & selectors.EVENT_WRITE and c["out"]:
                    try:
                        n = c["s"].send(c["out"])
                        del c["out"][:n]
                    except BlockingIOError:
                        pass
                    except OSError:
                        self._lost(c, sel, live)
                        continue
                if ev & selectors.EVENT_READ:
                    try:
                        data = c["s"].recv(262144)
                    except BlockingIOError:
                        continue
                    except OSError:
                        data = b""
                    if not data:
                        self._lost(c, sel, live)
                        continue
                    c["in"] += data
                    self._parse(c)
        for c in live:
            sel.unregister(c["s"])
            c["s"].close()
        sel.close()

    def _lost(self, c, sel, live):
        self.closed.append(sorted(c["pending"]))
        sel.unregister(c["s"])
        c["s"].close()
        live.remove(c)

    def _parse(self, c):
        buf = c["in"]
        off = 0
        while len(buf) - off >= HDR.size:
            n, ver, op, status, rid = HDR.unpack_from(buf, off)
            if len(buf) - off < n:
                break
            body = bytes(buf[off + HDR.size:off + n])
            off += n
            ident = None
            if status == 0:
                p = 0
                while p < len(body):
                    tag, ln = struct.unpack_from(">BH", body, p)
                    if tag == T_IDENTITY:
                        ident = body[p + 3:p + 3 + ln].decode()
                    p += 3 + ln
            now = time.monotonic()
            with self.lock:
                if rid not in self.sent:
                    self.stray.append((rid, status))
                    continue
                self.answers.setdefault(rid, []).append(
                    (status, now - self.sent[rid], ident, now))
            c["pending"].discard(rid)
        del buf[:off]

    def finish(self, timeout=40):
        """Stops sending, waits for the answers, and checks the invariant:
        every id exactly one answer, OK with an Identity for its own orig,
        or an HSM-class error or busy. Returns a summary dict."""
        self.stop()
        self.join(timeout)
        check(not self.is_alive(), "load generator drained within %d s" % timeout)
        if self.error:
            raise self.error
        check(not self.stray, "answers for ids never sent: %r" % self.stray[:5])
        lost = [r for r in self.sent if r not in self.answers]
        dup = [r for r, a in self.answers.items() if len(a) > 1]
        check(not self.closed, "daemon closed a well-behaved connection (%d ids pending)"
              % sum(len(p) for p in self.closed))
        check(not lost, "%d of %d requests never answered, e.g. %r"
              % (len(lost), len(self.sent), lost[:5]))
        check(not dup, "%d ids answered more than once, e.g. %r" % (len(dup), dup[:5]))
        by_status = {}
        for rid, [(status, lat, ident, _)] in self.answers.items():
            by_status[status] = by_status.get(status, 0) + 1
            check(status == 0 or 400 <= status < 500 or status == 207,
                  "id %d: status %d is neither OK, HSM class nor busy" % (rid, status))
            if status == 0:
                check(ident is not None, "id %d: OK without an Identity" % rid)
                claims = json.loads(b64u_decode(ident.split(";")[0].split(".")[1]))
                check(claims["orig"]["tn"] == orig_for(rid),
                      "id %d got the answer of another request (orig %s)"
                      % (rid, claims["orig"]["tn"]))
        return {"sent": len(self.sent), "by_status": by_status}

    def ok_identities(self, n=3):
        ids = [a[0][2] for _, a in sorted(self.answers.items()) if a[0][0] == 0]
        if not ids:
            return []
        step = max(1, len(ids) // n)
        return ids[::step][:n]

    def latencies(self, t_from, t_to, status=None):
        """Answer latencies of requests sent within [t_from, t_to)."""
        out = []
        with self.lock:
            for rid, t in self.sent.items():
                if t_from <= t < t_to and rid in self.answers:
                    st, lat, _, _ = self.answers[rid][0]
                    if status is None or st == status:
                        out.append(lat)
        return sorted(out)


def pct(xs, p):
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, int(len(xs) * p / 100.0))]


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


__all__ = ["FaultEnv", "LoadGen", "Failure", "check", "pct", "raise_nofile", "FAULTP11_LIB",
           "SANITIZED", "SCOPE", "orig_for"]
