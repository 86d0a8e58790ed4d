#!/usr/bin/env python3
"""The verifier's fetcher and cache (firmware/vs) against a hostile STI-CR.

tests/integration/x5u_server.py serves good, malformed, oversized, slow and
cut answers over TLS (and plain HTTP for CRLs); tests/vs/vs_probe runs the
real fetcher or cache against them. Each case asserts the exact code, how
long it took where time is the point, how many requests reached the server
where caching is the point, and that the probe itself ended normally: in
the ASan build (STI_SANITIZE) that also means no memory error and no leak.
The chain and the CRL are made here with the openssl CLI."""
import http.client
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import BUILD, Failure, check, main  # noqa: E402

PROBE = os.path.join(BUILD, "tests/vs/vs_probe")
SERVER = os.path.join(os.path.dirname(__file__), "x5u_server.py")
TIMEOUT_MS = 1500


def sh(args, cwd):
    r = subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60)
    if r.returncode != 0:
        raise Failure("%s failed: %s" % (" ".join(args[:3]), r.stderr))


class Server:
    """One x5u_server.py process; its CA file, ports and hit counters."""

    def __init__(self, fx, *extra):
        self.proc = subprocess.Popen([sys.executable, SERVER, "--chain", fx.chain, "--crl",
                                      fx.crl, "--tmp", fx.dir, *extra], stdout=subprocess.PIPE,
                                     text=True)
        self.ca = None
        self.port = self.dns = None
        while self.dns is None:
            line = self.proc.stdout.readline()
            if not line:
                raise Failure("x5u_server.py exited during start-up")
            key, _, val = line.strip().partition(" ")
            if key == "CA":
                self.ca = val
            elif key == "PORT":
                self.port = int(val)
            elif key == "DNS":
                self.dns = int(val)
        self.tls = "--http" not in extra

    def url(self, path, host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.tls else "http", host, self.port, path)

    def stats(self):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca)
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=ctx, timeout=10)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("GET", "/stats")
        text = conn.getresponse().read().decode()
        conn.close()
        out = {"hits": {}}
        for line in text.splitlines():
            parts = line.split(" ")
            if parts[0] == "hits":
                if parts[1] != "/stats":  # this very request
                    out["hits"][parts[1]] = int(parts[2])
            else:
                out[parts[0]] = parts[1]
        return out

    def hits(self, path):
        return self.stats()["hits"].get(path, 0)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Fixture:
    """A chain (leaf, root) and a CRL of that root revoking the leaf, and
    three servers: TLS, TLS with a certificate for another name, HTTP."""

    def __init__(self):
        base = os.path.join(BUILD, "tmp")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="vs-fetch-", dir=base)
        d = self.dir
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        sh(["openssl", "req", "-x509", *ec, "-keyout", "root.key", "-out", "root.pem", "-days",
            "2", "-subj", "/CN=vs-test STI root", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign"], d)
        sh(["openssl", "req", *ec, "-keyout", "leaf.key", "-out", "leaf.csr", "-subj",
            "/CN=SHAKEN VSTEST"], d)
        sh(["openssl", "x509", "-req", "-in", "leaf.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-CAcreateserial", "-out", "leaf.pem", "-days", "2"], d)
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\ncrlnumber = crlnumber\n"
                    "default_md = sha256\ndefault_crl_days = 2\n")
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("01\n")
        ca = ["openssl", "ca", "-config", "ca.cnf", "-keyfile", "root.key", "-cert", "root.pem"]
        sh([*ca, "-revoke", "leaf.pem"], d)
        sh([*ca, "-gencrl", "-out", "crl.pem"], d)
        self.chain = os.path.join(d, "chain.pem")
        with open(self.chain, "wb") as out:
            for name in ("leaf.pem", "root.pem"):
                with open(os.path.join(d, name), "rb") as f:
                    out.write(f.read())
        self.chain_len = os.path.getsize(self.chain)
        self.crl = os.path.join(d, "crl.pem")
        self.tls = Server(self)
        self.other = Server(self, "--san", "DNS:elsewhere.test")
        self.http = Server(self, "--http")

    def close(self):
        for s in (self.tls, self.other, self.http):
            s.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


FX = None


class VsEnv:
    """stitest.main's per-test environment: here the shared fixture."""

    def __init__(self, name):
        self.fx = FX

    def logtext(self):
        return ""

    def close(self, ok):
        pass


def probe(fx, urls, *opts, ca=True, ports=None):
    """Runs vs_probe (ca: True the TLS server's CA, False the system store,
    or a file); returns (lines by URL, stats dict, wall ms)."""
    ports = ports or "443,8443,%d,%d,%d" % (fx.tls.port, fx.other.port, fx.http.port)
    args = [PROBE, "--timeout-ms", str(TIMEOUT_MS), "--ports", ports]
    if ca:
        args += ["--ca", fx.tls.ca if ca is True else ca]
    args += list(opts) + list(urls)
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, timeout=120)
    wall = (time.monotonic() - t0) * 1000
    # Exit 0 and nothing on stderr: no crash, no sanitizer report, no leak.
    check(r.returncode == 0, "vs_probe exit %d\n%s%s" % (r.returncode, r.stdout, r.stderr[-4000:]))
    check(r.stderr == "", "vs_probe stderr:\n" + r.stderr[-4000:])
    lines, stats = {}, None
    for line in r.stdout.splitlines():
        head, _, detail = line.partition(" detail=")
        parts = head.split(" ")
        if parts[0] == "stats":
            stats = {k: int(v) for k, v in (p.split("=") for p in parts[1:])}
            continue
        rec = {"detail": detail, "name": parts[2]}
        for p in parts[1:]:
            if "=" in p:
                k, v = p.split("=", 1)
                rec[k] = v
        rec["rc"] = int(rec["rc"])
        lines.setdefault(parts[0], []).append(rec)
    for u in urls:
        check(u in lines, "no line for %s:\n%s" % (u, r.stdout))
    return lines, stats, wall


def one(fx, url, *opts, **kw):
    lines, _, wall = probe(fx, [url], *opts, **kw)
    return lines[url][0], wall


def expect(rec, rc, what):
    check(rec["rc"] == rc, "%s: rc %d %s (%s), want %d" % (what, rec["rc"], rec["name"],
                                                          rec["detail"], rc))


def fetch_paths(fx, want, *opts):
    """All paths of the TLS server at once (want: path -> code); each must
    get its code. Returns (first line by path, wall ms)."""
    urls = {p: fx.tls.url(p) for p in want}
    lines, _, wall = probe(fx, list(urls.values()), *opts)
    got = {p: lines[u][0] for p, u in urls.items()}
    for p, rc in want.items():
        expect(got[p], rc, p)
    return got, wall


# ---- the fetcher ----

def good_chain_is_fetched_in_every_framing(env):
    fx = env.fx
    urls = [fx.tls.url(p) for p in ("/good.pem", "/query.pem?x=1", "/chunked.pem", "/close.pem")]
    lines, _, _ = probe(fx, urls)
    for u in urls:
        rec = lines[u][0]
        expect(rec, 0, u)
        check(rec["certs"] == "2" and int(rec["n"]) == fx.chain_len, "%s: %r" % (u, rec))
        check(rec["ttl"] == "-1", "%s: no Cache-Control, ttl %s" % (u, rec["ttl"]))
    rec, _ = one(fx, fx.tls.url("/good.pem?max-age=77"))
    check(rec["ttl"] == "77", "max-age=77 gave ttl %s" % rec["ttl"])
    rec, _ = one(fx, fx.tls.url("/good.pem?expires=100"))
    check(95 <= int(rec["ttl"]) <= 100, "Expires in 100 s gave ttl %s" % rec["ttl"])


def host_name_is_checked_and_sent_as_sni(env):
    fx = env.fx
    before = fx.tls.stats()["sni"]
    check(before == "-", "an address literal sent SNI: %s" % before)
    rec, _ = one(fx, fx.tls.url("/good.pem", host="localhost"))
    expect(rec, 0, "https://localhost")
    check(fx.tls.stats()["sni"] == "localhost", "SNI seen: %s" % fx.tls.stats()["sni"])
    # a certificate for another name, and a CA the probe does not trust
    rec, _ = one(fx, fx.other.url("/good.pem"), ca=fx.other.ca)
    expect(rec, 610, "certificate for elsewhere.test")
    check("mismatch" in rec["detail"], rec["detail"])
    rec, _ = one(fx, fx.tls.url("/good.pem"), ca=False)
    expect(rec, 610, "untrusted CA")
    check("server certificate" in rec["detail"], rec["detail"])


def redirect_is_refused_not_followed(env):
    fx = env.fx
    good = fx.tls.hits("/good.pem")
    rec, _ = one(fx, fx.tls.url("/redirect"))
    expect(rec, 615, "/redirect")
    check(rec["detail"] == "status 302, redirects are not followed", rec["detail"])
    check(fx.tls.hits("/good.pem") == good, "the redirect was followed")
    rec, _ = one(fx, fx.tls.url("/notfound"))
    expect(rec, 615, "/notfound")
    check(rec["detail"] == "status 404", rec["detail"])


def wrong_content_type_is_refused(env):
    got, _ = fetch_paths(env.fx, {"/wrong-type": 616, "/no-type": 616, "/two-types": 616})
    detail = got["/wrong-type"]["detail"]
    check(detail == "Content-Type text/html; charset=utf-8", detail)


def oversized_answers_are_cut_short(env):
    fx = env.fx
    got, _ = fetch_paths(fx, {"/big": 617, "/huge-head": 617})
    for p, rec in got.items():
        check(int(rec["ms"]) < 1000, "%s took %s ms" % (p, rec["ms"]))
    check("Content-Length 10485760" in got["/big"]["detail"], got["/big"]["detail"])
    check("head" in got["/huge-head"]["detail"], got["/huge-head"]["detail"])
    # a smaller cap applies to the good chain too
    fetch_paths(fx, {"/chunked.pem": 617}, "--max-body", "100")


def slow_and_endless_answers_end_at_the_deadline(env):
    got, wall = fetch_paths(env.fx, {"/slow": 618, "/endless": 618})
    for p, rec in got.items():
        ms = int(rec["ms"])
        check(TIMEOUT_MS - 10 <= ms <= TIMEOUT_MS + 1000, "%s ended after %d ms" % (p, ms))
    check(wall <= TIMEOUT_MS + 1000 + 2000, "the probe ran %d ms" % wall)
    check("reading the head" in got["/slow"]["detail"], got["/slow"]["detail"])
    check("reading the body" in got["/endless"]["detail"], got["/endless"]["detail"])


def broken_http_gets_a_clean_code(env):
    got, _ = fetch_paths(env.fx, {"/garbage": 620, "/reset": 610, "/dirty-close.pem": 610,
                                  "/bad-chunk": 617, "/bare-lf": 0, "/notpem": 619,
                                  "/continue": 615})
    # libevent reads bare-LF heads like CRLF ones: the chain comes through
    check(got["/bare-lf"]["certs"] == "2", repr(got["/bare-lf"]))
    # an interim 100 ends the fetch at once (evhttp 2.1 would lose the answer after it)
    check(got["/continue"]["detail"] == "status 100", got["/continue"]["detail"])


def crl_is_fetched_over_https_or_allowed_http(env):
    fx = env.fx
    urls = [fx.tls.url("/crl.der"), fx.tls.url("/crl.pem")]
    lines, _, _ = probe(fx, urls, "--crl")
    for u in urls:
        expect(lines[u][0], 0, u)
        check(lines[u][0].get("revoked") == "1", repr(lines[u][0]))
    plain = fx.http.url("/crl.der")
    rec, _ = one(fx, plain, "--crl", "--crl-http")
    expect(rec, 0, "http CRL allowed")
    rec, _ = one(fx, plain, "--crl")
    expect(rec, 610, "http CRL not allowed")
    rec, _ = one(fx, fx.http.url("/good.pem"), "--crl-http")
    expect(rec, 111, "http chain")
    # a chain where a CRL is expected is not a CRL
    rec, _ = one(fx, fx.tls.url("/good.pem"), "--crl")
    expect(rec, 616, "chain served for a CRL")


def url_rules_apply_before_any_connection(env):
    fx = env.fx
    before = fx.tls.stats()["hits"]
    # the server's own port is allowed, so only the rule named can refuse
    bad = ["https://user@127.0.0.1:%d/good.pem" % fx.tls.port, fx.tls.url("/good.pem#f"),
           "https://127.0.0.1:80/good.pem", "https://127.0.0.1:9999/good.pem",
           "https://:%d/good.pem" % fx.tls.port, fx.tls.url("/a<b>")]
    lines, _, _ = probe(fx, bad, ports="443,8443,%d" % fx.tls.port)
    for u in bad:
        expect(lines[u][0], 111, u)
        check(lines[u][0]["from"] == "call", repr(lines[u][0]))
    check(fx.tls.stats()["hits"] == before, "a refused URL reached the server")


def silent_resolver_ends_at_the_deadline(env):
    fx = env.fx
    u = "https://x5u.vs-test.invalid:%d/good.pem" % fx.tls.port
    rec, wall = one(fx, u, "--nameserver", "127.0.0.1:%d" % fx.tls.dns)
    expect(rec, 618, "resolver that never answers")
    check("resolving" in rec["detail"], rec["detail"])
    check(TIMEOUT_MS - 10 <= int(rec["ms"]) <= TIMEOUT_MS + 1000, "after %s ms" % rec["ms"])


def fetches_beyond_max_inflight_are_busy(env):
    fx = env.fx
    urls = [fx.tls.url("/good.pem?a=1"), fx.tls.url("/good.pem?a=2")]
    lines, _, _ = probe(fx, urls, "--max-inflight", "1")
    rcs = sorted(lines[u][0]["rc"] for u in urls)
    check(rcs == [0, 207], "rcs %r" % rcs)


# ---- the cache ----

def parallel_lookups_share_one_fetch(env):
    fx = env.fx
    before = fx.tls.hits("/count")
    u = fx.tls.url("/count")
    lines, st, _ = probe(fx, [u], "--cache", "--parallel", "20")
    rec = lines[u][0]
    expect(rec, 0, "/count")
    check(rec["from"] == "fetch" and rec["answers"] == "20" and rec["same"] == "1", repr(rec))
    check(fx.tls.hits("/count") - before == 1, "%d hits for 20 lookups"
          % (fx.tls.hits("/count") - before))
    check(st["fetches"] == 1 and st["coalesced"] == 19 and st["misses"] == 1, repr(st))


def failure_is_answered_from_the_negative_cache(env):
    fx = env.fx
    before = fx.tls.hits("/notfound")
    u = fx.tls.url("/notfound")
    lines, st, _ = probe(fx, [u], "--cache", "--repeat", "3", "--gap-ms", "200", "--neg-ttl", "30")
    got = [(r["rc"], r["from"]) for r in lines[u]]
    check(got == [(615, "fetch"), (615, "negative"), (615, "negative")], repr(got))
    check(lines[u][2]["detail"] == "status 404", lines[u][2]["detail"])
    check(fx.tls.hits("/notfound") - before == 1, "the failure was fetched again")
    check(st["negative_hits"] == 2 and st["fetches"] == 1, repr(st))
    # once neg_ttl has passed, it is fetched again
    lines, st, _ = probe(fx, [u], "--cache", "--repeat", "2", "--gap-ms", "1200", "--neg-ttl", "1")
    check([r["from"] for r in lines[u]] == ["fetch", "fetch"], repr(lines[u]))


def max_age_is_clamped_to_the_ttl_bounds(env):
    fx = env.fx
    low, high, none = (fx.tls.url("/good.pem?max-age=5"), fx.tls.url("/good.pem?max-age=100000"),
                       fx.tls.url("/good.pem"))
    lines, _, _ = probe(fx, [low, high, none], "--cache", "--ttl-min", "60", "--ttl-max", "120",
                        "--ttl-default", "90")
    ttl = {u: int(lines[u][0]["ttl"]) for u in (low, high, none)}
    check(58 <= ttl[low] <= 60, "max-age=5 kept %d s" % ttl[low])
    check(118 <= ttl[high] <= 120, "max-age=100000 kept %d s" % ttl[high])
    check(88 <= ttl[none] <= 90, "no Cache-Control kept %d s" % ttl[none])
    # and it is what decides: 0 is held ttl_min, a day is held ttl_max
    zero = fx.tls.url("/count?max-age=0")
    day = fx.tls.url("/count?max-age=86400&v=2")
    before = fx.tls.hits("/count")
    lines, _, _ = probe(fx, [zero], "--cache", "--repeat", "2", "--gap-ms", "1200",
                        "--ttl-min", "60")
    check([r["from"] for r in lines[zero]] == ["fetch", "cache"], repr(lines[zero]))
    lines, _, _ = probe(fx, [day], "--cache", "--repeat", "2", "--gap-ms", "1200",
                        "--ttl-min", "1", "--ttl-max", "1")
    check([r["from"] for r in lines[day]] == ["fetch", "fetch"], repr(lines[day]))
    check(fx.tls.hits("/count") - before == 3, "hits %d" % (fx.tls.hits("/count") - before))


def least_recently_used_entries_are_evicted(env):
    fx = env.fx
    urls = [fx.tls.url("/good.pem?e=%d" % i) for i in (1, 2, 3)]
    lines, st, _ = probe(fx, urls, "--cache", "--repeat", "2", "--max-entries", "2")
    for u in urls:
        check([r["from"] for r in lines[u]] == ["fetch", "fetch"], "%s: %r" % (u, lines[u]))
    check(st["fetches"] == 6 and st["evictions"] == 4 and st["entries"] == 2, repr(st))
    # a re-read entry is the recently used one: 1, 2, 1, 3 evicts 2
    lines, st, _ = probe(fx, [urls[0], urls[1], urls[0], urls[2], urls[0]], "--cache",
                         "--max-entries", "2")
    check([r["from"] for r in lines[urls[0]]] == ["fetch", "cache", "cache"], repr(lines[urls[0]]))
    # by bytes: room for one chain only
    lines, st, _ = probe(fx, urls[:2], "--cache", "--max-bytes", str(fx.chain_len * 3 // 2))
    check(st["evictions"] == 1 and st["bytes"] == fx.chain_len and st["entries"] == 1, repr(st))
    # entries in flight are never evicted: the third URL at once is refused
    lines, st, _ = probe(fx, urls, "--cache", "--together", "--max-entries", "2")
    got = [lines[u][0]["rc"] for u in urls]
    check(got == [0, 0, 207] and lines[urls[2]][0]["from"] == "call", repr(lines))


def cache_survives_every_hostile_path(env):
    fx = env.fx
    paths = ["/garbage", "/reset", "/bare-lf", "/huge-head", "/big", "/slow", "/endless",
             "/wrong-type", "/redirect", "/notpem", "/bad-chunk", "/dirty-close.pem", "/continue"]
    urls = [fx.tls.url(p) for p in paths]
    lines, st, wall = probe(fx, urls, "--cache", "--together", "--parallel", "3", "--repeat", "2")
    for u in urls:
        first, second = lines[u]
        check(first["same"] == "1" and first["from"] == "fetch", "%s: %r" % (u, first))
        check(second["rc"] == first["rc"], "%s: %r" % (u, lines[u]))
        check(second["from"] == ("cache" if first["rc"] == 0 else "negative"), repr(second))
    check(lines[fx.tls.url("/notpem")][0]["rc"] == 619, repr(lines[fx.tls.url("/notpem")]))
    check(st["fetches"] == len(urls), repr(st))


TESTS = [good_chain_is_fetched_in_every_framing, host_name_is_checked_and_sent_as_sni,
         redirect_is_refused_not_followed, wrong_content_type_is_refused,
         oversized_answers_are_cut_short, slow_and_endless_answers_end_at_the_deadline,
         broken_http_gets_a_clean_code, crl_is_fetched_over_https_or_allowed_http,
         url_rules_apply_before_any_connection, silent_resolver_ends_at_the_deadline,
         fetches_beyond_max_inflight_are_busy, parallel_lookups_share_one_fetch,
         failure_is_answered_from_the_negative_cache, max_age_is_clamped_to_the_ttl_bounds,
         least_recently_used_entries_are_evicted, cache_survives_every_hostile_path]

if __name__ == "__main__":
    if not os.access(PROBE, os.X_OK):
        sys.exit("vs_probe not built: %s" % PROBE)
    FX = Fixture()
    try:
        main(TESTS, "vs_fetch", env_cls=VsEnv)
    finally:
        FX.close()
