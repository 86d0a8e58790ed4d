#!/usr/bin/env python3
"""Soak: 1000 well-behaved pipelined clients on one stisignd while waves of
misbehaving clients come and go: clients that disconnect mid-frame, slow
readers that pipeline many requests and never read, slowloris writers (one
byte every 0.5 s), and oversized length fields. One Python process drives
every connection through epoll.

Proves: every well-behaved request gets exactly one answer (a signature for
its own request) and no well-behaved connection is cut; each misbehaving
client is closed by the daemon within a bound (slowloris by the frame
timeout, slow readers by the write timeout, oversized frames at once after
a 202 answer); the daemon's RSS (daemon + workers) after the last wave is
within 20% of its level after the first (warm-up) wave. Figures are printed
as FIGURES lines. Bounded: about 40 s, Unix socket only.
"""
import heapq
import json
import os
import random
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import stitest  # noqa: E402
from fault_lib import SANITIZED, FaultEnv, check, orig_for, pct, raise_nofile  # noqa: E402
from stitest import HDR, OP_SIGN, T_IDENTITY, Failure, b64u_decode, frame, sign_body  # noqa: E402

GOOD = int(os.environ.get("STI_SOAK_GOOD", "1000"))
DEPTH = 3             # requests per burst on a good connection
RATE = 400            # target requests/s over all good connections
WAVES = 8             # wave 0 is the warm-up
PER_WAVE = {"midframe": 40, "oversized": 20, "slowloris": 20, "slowreader": 4}
SLOWREADER_REQS = 1500
FRAME_TIMEOUT, WRITE_TIMEOUT = 2.0, 3.0
LIMITS = {"oversized": 3.0, "slowloris": FRAME_TIMEOUT + 2.5, "slowreader": WRITE_TIMEOUT + 9.0}
TOTAL_BUDGET = 85.0

EP_IN, EP_OUT, EP_RDHUP, EP_HUP, EP_ERR = (select.EPOLLIN, select.EPOLLOUT, select.EPOLLRDHUP,
                                           select.EPOLLHUP, select.EPOLLERR)


class Cx:
    __slots__ = ("kind", "s", "fd", "t0", "out", "inb", "pending", "closed_at", "answer",
                 "wave", "sent_bytes", "payload")

    def __init__(self, kind, path, wave=-1):
        self.kind, self.wave = kind, wave
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.setblocking(False)
        self.fd = self.s.fileno()
        self.t0 = time.monotonic()
        self.out = bytearray()
        self.inb = bytearray()
        self.pending = set()
        self.closed_at = None
        self.answer = None
        self.sent_bytes = 0
        self.payload = b""


class Soak:
    def __init__(self, env):
        self.env = env
        self.ep = select.epoll()
        self.cx = {}
        self.timers = []
        self.seq = 0
        self.next_id = 1
        self.sent = {}
        self.answers = {}
        self.good_cut = []
        self.done = {k: [] for k in PER_WAVE}   # kind -> [(wave, seconds to close, detail)]
        self.max_open = 0
        self.stop_bursts = False

    # -- plumbing
    def at(self, t, fn, c):
        self.seq += 1
        heapq.heappush(self.timers, (t, self.seq, fn, c))

    def add(self, c, mask):
        self.cx[c.fd] = c
        self.ep.register(c.fd, mask)
        self.max_open = max(self.max_open, len(self.cx))

    def drop(self, c):
        if c.fd in self.cx:
            del self.cx[c.fd]
            self.ep.unregister(c.fd)
            c.s.close()

    def mask(self, c):
        if c.kind == "slowreader":
            return EP_RDHUP | (EP_OUT if c.out else 0)
        return EP_IN | EP_RDHUP | (EP_OUT if c.out else 0)

    def flush(self, c):
        try:
            while c.out:
                n = c.s.send(c.out)
                del c.out[:n]
                c.sent_bytes += n
        except BlockingIOError:
            pass
        except OSError:
            self.closed(c)
            return
        if c.fd in self.cx:
            self.ep.modify(c.fd, self.mask(c))

    def closed(self, c):
        if c.closed_at is None:
            c.closed_at = time.monotonic()
            if c.kind == "good":
                self.good_cut.append(sorted(c.pending))
            elif c.kind in self.done:
                self.done[c.kind].append((c.wave, c.closed_at - c.t0, c))
        self.drop(c)

    # -- well-behaved clients
    def burst(self, c):
        if self.stop_bursts or c.closed_at is not None:
            return
        for _ in range(DEPTH):
            rid = self.next_id
            self.next_id += 1
            c.out += frame(OP_SIGN, rid, sign_body(orig_for(rid), ["12025550101"]))
            c.pending.add(rid)
            self.sent[rid] = time.monotonic()
        self.flush(c)

    def on_good_frames(self, c):
        buf, off = c.inb, 0
        while len(buf) - off >= HDR.size:
            n, ver, op, status, rid = HDR.unpack_from(buf, off)
            if len(buf) - off < n:
                break
            body = bytes(buf[off + HDR.size:off + n])
            off += n
            ident = None
            p = 0
            while status == 0 and p < len(body):
                tag, ln = struct.unpack_from(">BH", body, p)
                if tag == T_IDENTITY:
                    ident = body[p + 3:p + 3 + ln].decode()
                p += 3 + ln
            self.answers.setdefault(rid, []).append((status, time.monotonic() - self.sent.get(
                rid, 0), ident, rid in c.pending))
            c.pending.discard(rid)
        del buf[:off]
        if not c.pending and not self.stop_bursts:
            period = GOOD * DEPTH / RATE
            self.at(time.monotonic() + period * random.uniform(0.5, 1.5), self.burst, c)

    # -- misbehaving clients
    def spawn(self, kind, wave):
        path = self.env.sock
        if kind == "midframe":
            c = Cx(kind, path, wave)
            f = frame(OP_SIGN, 1, sign_body("12025550100", ["12025550101"]))
            c.s.send(f[:random.randint(1, len(f) - 1)])
            c.s.close()
            self.done[kind].append((wave, 0.0, None))
            return
        c = Cx(kind, path, wave)
        if kind == "oversized":
            c.out += HDR.pack(1 << 30, 1, OP_SIGN, 0, 77) + b"\x01\x00\x0b1202555010"
            self.add(c, self.mask(c))
            self.flush(c)
        elif kind == "slowloris":
            c.payload = frame(OP_SIGN, 5, sign_body("12025550100", ["12025550101"]))
            self.add(c, self.mask(c))
            self.drip(c)
        elif kind == "slowreader":
            c.out += b"".join(frame(OP_SIGN, 100000 + i, sign_body(orig_for(i), ["12025550101"]))
                              for i in range(SLOWREADER_REQS))
            self.add(c, self.mask(c))
            self.flush(c)

    def drip(self, c):
        if c.closed_at is not None:
            return
        if c.sent_bytes >= len(c.payload):
            return
        c.out += c.payload[c.sent_bytes:c.sent_bytes + 1]
        self.flush(c)
        self.at(time.monotonic() + 0.5, self.drip, c)

    def on_event(self, c, ev):
        if c.kind == "slowreader":
            if ev & (EP_RDHUP | EP_HUP | EP_ERR):
                self.closed(c)
            elif ev & EP_OUT:
                self.flush(c)
            return
        if ev & EP_OUT:
            self.flush(c)
            if c.closed_at is not None:
                return
        if ev & (EP_IN | EP_RDHUP | EP_HUP | EP_ERR):
            eof = False
            try:
                while True:
                    d = c.s.recv(262144)
                    if not d:
                        eof = True
                        break
                    c.inb += d
            except BlockingIOError:
                pass
            except OSError:
                eof = True
            if c.kind == "good":
                self.on_good_frames(c)
            elif c.kind == "oversized" and len(c.inb) >= HDR.size and c.answer is None:
                c.answer = HDR.unpack_from(c.inb, 0)[3]
            elif c.kind == "slowloris" and c.inb:
                c.answer = bytes(c.inb[:HDR.size])
            if eof:
                self.closed(c)

    # -- the loop
    def run_until(self, cond, limit):
        end = time.monotonic() + limit
        while not cond():
            now = time.monotonic()
            if now > end:
                return False
            while self.timers and self.timers[0][0] <= now:
                _, _, fn, c = heapq.heappop(self.timers)
                fn(c)
            wait = 0.01
            if self.timers:
                wait = max(0.0, min(wait, self.timers[0][0] - now))
            for fd, ev in self.ep.poll(wait):
                c = self.cx.get(fd)
                if c is not None:
                    self.on_event(c, ev)
        return True

    def wave(self, w):
        """Spawns one wave of misbehavers spread over 1 s and runs until the
        daemon has closed every one of them (or the bounds are exceeded)."""
        t0 = time.monotonic()
        kinds = [k for k, n in PER_WAVE.items() for _ in range(n)]
        random.shuffle(kinds)
        for i, k in enumerate(kinds):
            self.at(t0 + i / len(kinds), lambda kk, ww=w: self.spawn(kk, ww), k)
        want = dict(PER_WAVE)

        def all_closed():
            return all(sum(1 for x in self.done[k] if x[0] == w) >= want[k] for k in want)
        ok = self.run_until(all_closed, 1.0 + max(LIMITS.values()) + 3.0)
        open_now = [c for c in self.cx.values() if c.kind != "good" and c.wave == w]
        check(ok, "wave %d: %d misbehaving clients still open after %.0f s: %r"
              % (w, len(open_now), time.monotonic() - t0,
                 sorted({c.kind for c in open_now})))
        return time.monotonic() - t0


def soak(env):
    nofile = raise_nofile()
    if SANITIZED:
        # A small ASan quarantine keeps the daemon's RSS meaningful and modest.
        os.environ["ASAN_OPTIONS"] = (os.environ.get("ASAN_OPTIONS", "") +
                                      ":quarantine_size_mb=16").lstrip(":")
    check(nofile >= GOOD + 200, "RLIMIT_NOFILE %d is enough for %d connections" % (nofile, GOOD))
    env.provision()
    env.start("frame_timeout_ms = %d\nwrite_timeout_ms = %d\n"
              % (FRAME_TIMEOUT * 1000, WRITE_TIMEOUT * 1000), module=stitest.MODULE)
    env.wait_workers_ready(2)
    t_start = time.monotonic()
    rss0 = env.rss_kb()
    sk = Soak(env)
    for i in range(GOOD):
        c = Cx("good", env.sock)
        sk.add(c, sk.mask(c))
        period = GOOD * DEPTH / RATE
        sk.at(time.monotonic() + random.uniform(0, period), sk.burst, c)
    t_connected = time.monotonic() - t_start
    rss = []
    wave_s = []
    for w in range(WAVES):
        wave_s.append(sk.wave(w))
        # let in-flight answers settle before sampling memory
        sk.run_until(lambda: False, 0.3)
        rss.append(env.rss_kb())
        check(env.daemon.poll() is None, "daemon alive after wave %d" % w)
        check(time.monotonic() - t_start < TOTAL_BUDGET, "soak within its time budget")
    sk.stop_bursts = True
    check(sk.run_until(lambda: all(not c.pending for c in sk.cx.values() if c.kind == "good"),
                       20.0), "well-behaved answers drained within 20 s")
    good_open = sum(1 for c in sk.cx.values() if c.kind == "good")
    rss_end = env.rss_kb()
    h = env.health()
    for c in list(sk.cx.values()):
        sk.drop(c)

    # well-behaved: every id exactly once, its own signature
    lost = [r for r in sk.sent if r not in sk.answers]
    dup = [r for r, a in sk.answers.items() if len(a) > 1]
    stray = [r for r in sk.answers if r not in sk.sent]
    bad = [(r, a[0][0]) for r, a in sk.answers.items() if a[0][0] != 0]
    lat = sorted(a[0][1] for a in sk.answers.values())
    closes = {k: sorted(x[1] for x in v) for k, v in sk.done.items()}
    figure = ("FIGURES soak: good_connections=%d max_open=%d nofile=%d connect_s=%.2f "
              "requests=%d answered=%d lost=%d dup=%d errors=%d p50_ms=%.1f p99_ms=%.1f "
              "waves_s=%s misbehavers=%s close_s_max=%s rss_kb_start=%d rss_kb_by_wave=%s "
              "rss_kb_after_last_wave=%d rss_kb_drained=%d growth_vs_warmup=%.1f%% signed=%s total_s=%.1f" % (
                  GOOD, sk.max_open, nofile, t_connected, len(sk.sent), len(sk.answers),
                  len(lost), len(dup), len(bad), pct(lat, 50) * 1000, pct(lat, 99) * 1000,
                  ",".join("%.1f" % s for s in wave_s),
                  {k: len(v) for k, v in closes.items()},
                  {k: round(v[-1], 2) for k, v in closes.items() if v and k != "midframe"},
                  rss0, ",".join(str(r) for r in rss), rss[-1], rss_end,
                  100.0 * (rss[-1] - rss[0]) / rss[0], h["state"], time.monotonic() - t_start))
    print(figure, flush=True)
    check(env.daemon.poll() is None, "daemon alive")
    check(good_open == GOOD and not sk.good_cut,
          "no well-behaved connection was cut (%d cut, pending %r)"
          % (len(sk.good_cut), [len(p) for p in sk.good_cut][:5]))
    check(sk.max_open >= 1000, "at least 1000 concurrent connections (%d)" % sk.max_open)
    check(not stray and not lost and not dup, "lost %r dup %r stray %r" % (lost[:5], dup[:5],
                                                                          stray[:5]))
    check(not bad, "well-behaved requests answered with errors: %r" % bad[:5])
    for r, a in list(sk.answers.items())[:: max(1, len(sk.answers) // 2000)]:
        claims = json.loads(b64u_decode(a[0][2].split(";")[0].split(".")[1]))
        check(claims["orig"]["tn"] == orig_for(r), "id %d carries its own orig" % r)
    idents = [a[0][2] for a in sk.answers.values()]
    for ident in idents[:: max(1, len(idents) // 3)][:3]:
        stitest.verify_identity(env, ident, env.chain)
    for k, v in sk.done.items():
        check(len(v) == PER_WAVE[k] * WAVES, "%s: %d of %d closed" % (k, len(v),
                                                                     PER_WAVE[k] * WAVES))
    for w, secs, c in sk.done["oversized"]:
        check(c.answer == 202, "oversized length answered 202 (got %r)" % c.answer)
        check(secs < LIMITS["oversized"], "oversized closed in %.2f s" % secs)
    for w, secs, c in sk.done["slowloris"]:
        check(FRAME_TIMEOUT - 0.3 <= secs < LIMITS["slowloris"],
              "slowloris cut by the 2 s frame timeout: after %.2f s, %d bytes"
              % (secs, c.sent_bytes))
    for w, secs, c in sk.done["slowreader"]:
        check(secs < LIMITS["slowreader"], "slow reader closed after %.2f s" % secs)
    growth = (rss[-1] - rss[0]) / rss[0]
    if SANITIZED:
        print("RSS check skipped under ASan (quarantine keeps freed memory resident)")
    else:
        check(growth <= 0.20, "RSS grew %.1f%% after warm-up (%d -> %d kB)"
              % (growth * 100, rss[0], rss[-1]))


def main():
    env = FaultEnv("load")
    ok = False
    try:
        soak(env)
        ok = True
    except Failure as e:
        print("FAIL soak: %s" % e)
        print("--- stisignd log ---\n" + env.logtext()[-2000:])
    finally:
        try:
            env.close(ok)
        except Failure as e:
            print("FAIL soak: %s" % e)
            ok = False
    print("ok   soak" if ok else "FAIL soak")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
