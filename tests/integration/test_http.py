#!/usr/bin/env python3
"""The HTTP endpoint, fetched with curl over 127.0.0.1: Prometheus metrics
that move when the daemon signs, and the STI-CR chain at /x5u/NAME.pem and
at the path of the credential's x5u URL. Also the certificate expiry
warnings, which the metrics carry as seconds."""
import datetime
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import X5U, check, main, run, verify_identity  # noqa: E402

SCOPE = "range:12025550100/100"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def curl(url, *args):
    """(status, headers dict lower-case, body bytes) from the real curl."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "-D", "-", *args, url],
                       capture_output=True, timeout=30)
    check(r.returncode == 0, "curl %s: %s" % (url, r.stderr.decode()))
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def metrics(port):
    status, headers, body = curl("http://127.0.0.1:%d/metrics" % port)
    check(status == 200, "metrics status %d" % status)
    check(headers.get("content-type", "").startswith("text/plain; version=0.0.4"),
          "Prometheus content type: %r" % headers.get("content-type"))
    m = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        m[name] = float(value)
    return m


def one_credential(env, extra=()):
    env.keygen("af1")
    env.ca_init(SCOPE)
    chain = env.issue("af1", SCOPE, extra)
    env.credential("af1", "af1", chain)
    return chain


def metrics_move_when_signing(env):
    chain = one_credential(env)
    port = free_port()
    env.start("http_listen = 127.0.0.1:%d\n" % port)
    m = metrics(port)
    ok = 'stisign_signatures_total{credential="af1",result="ok"}'
    err = 'stisign_signatures_total{credential="af1",result="error"}'
    check(m["stisign_up"] == 1 and m["stisign_selftest_ok"] == 1, "up and self-test ok")
    check(m[ok] == 0 and m[err] == 0, "no signatures yet")
    check(m['stisign_hsm_workers{state="configured"}'] == 2, "two workers configured")
    check(m['stisign_hsm_workers{state="ready"}'] == 2, "two workers ready")
    for _ in range(3):
        verify_identity(env, env.sign_cli("12025550123", ["12025550101"]).stdout.strip(), chain)
    env.sign_cli("19995550123", ["12025550101"], ok=False)  # out of scope: no credential
    m = metrics(port)
    check(m[ok] == 3 and m[err] == 0, "three signatures counted: %r" % m[ok])
    check(m['stisign_requests_total{result="ok"}'] == 3, "requests ok")
    check(m['stisign_requests_total{result="error"}'] == 1, "the refusal counted")
    check(m["stisign_sign_latency_seconds_count"] == 3, "latency count")
    check(m['stisign_sign_latency_seconds_bucket{le="+Inf"}'] == 3, "+Inf bucket holds all")
    check(0 < m["stisign_sign_latency_seconds_sum"] < 3, "latency sum plausible")
    buckets = [v for k, v in m.items() if k.startswith("stisign_sign_latency_seconds_bucket")]
    check(buckets == sorted(buckets), "buckets cumulative")
    check("stisign_hsm_errors_total" in m and m["stisign_sampled_verify_failures_total"] == 0,
          "hsm error counters present")
    end = run(["openssl", "x509", "-in", chain, "-noout", "-enddate"]).stdout.strip()
    not_after = datetime.datetime.strptime(end.split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")
    want = not_after.replace(tzinfo=datetime.timezone.utc).timestamp() - time.time()
    got = m['stisign_certificate_expiry_seconds{credential="af1"}']
    check(abs(got - want) < 30 and got > 300 * 86400, "expiry seconds %r vs %r" % (got, want))


def x5u_endpoint_serves_the_chain(env):
    chain = one_credential(env)
    port = free_port()
    env.start("http_listen = %d\npublish_chain = yes\n" % port)  # host defaults to loopback
    with open(chain, "rb") as f:
        want = f.read()
    path = "/" + X5U.split("://", 1)[1].split("/", 1)[1]
    for p in ("/x5u/af1.pem", path):
        status, headers, body = curl("http://127.0.0.1:%d%s" % (port, p))
        check(status == 200, "%s: status %d" % (p, status))
        check(headers.get("content-type") == "application/pem-certificate-chain",
              "%s: content type %r" % (p, headers.get("content-type")))
        check(body == want, "%s: body is the chain file, leaf first" % p)
    r = run(["curl", "-sS", "--max-time", "10", "-I", "-o", "/dev/null", "-w",
             "%{http_code} %{size_download}", "http://127.0.0.1:%d/x5u/af1.pem" % port])
    check(r.stdout.strip() == "200 0", "HEAD answers 200 without a body: %r" % r.stdout)
    status, _, _ = curl("http://127.0.0.1:%d/x5u/nobody.pem" % port)
    check(status == 404, "unknown credential: %d" % status)
    status, headers, _ = curl("http://127.0.0.1:%d/x5u/af1.pem" % port, "-X", "POST",
                              "--data", "x")
    check(status == 405 and "GET" in headers.get("allow", ""), "POST refused: %d" % status)
    status, _, _ = curl("http://127.0.0.1:%d/metrics" % port, "-X", "DELETE")
    check(status == 405, "DELETE refused: %d" % status)


def chains_are_not_published_unless_asked(env):
    one_credential(env)
    port = free_port()
    env.start("http_listen = 127.0.0.1:%d\n" % port)
    status, _, _ = curl("http://127.0.0.1:%d/x5u/af1.pem" % port)
    check(status == 404, "publish_chain off: %d" % status)


def bad_http_listen_is_refused_at_start(env):
    one_credential(env)
    rc = env.start("http_listen = 127.0.0.1:notaport\n", expect_fail=True)
    check(rc != 0 and "http_listen" in env.logtext(), "refused with a clear error:\n"
          + env.logtext()[-1000:])


def expiring_certificate_warns_once_per_threshold(env):
    now = datetime.datetime.now(datetime.timezone.utc)
    fmt = "%Y%m%d%H%M%SZ"
    start = (now - datetime.timedelta(days=1)).strftime(fmt)
    end = (now + datetime.timedelta(days=5, hours=2)).strftime(fmt)
    one_credential(env, ["--start", start, "--end", end])
    port = free_port()
    env.start("http_listen = 127.0.0.1:%d\n" % port)
    log = env.logtext()
    check(re.search(r"credential af1: certificate expires in 5 day\(s\).*warning at 7 days", log),
          "7-day warning logged:\n" + log[-1500:])
    check(log.count("credential af1: certificate expires") == 1, "logged once")
    got = metrics(port)['stisign_certificate_expiry_seconds{credential="af1"}']
    check(5 * 86400 < got < 6 * 86400, "expiry seconds: %r" % got)
    env.daemon.send_signal(signal.SIGHUP)  # the same certificate again: no repeat
    deadline = time.time() + 20
    while "reload: signing with" not in env.logtext():
        check(time.time() < deadline, "reload finished")
        time.sleep(0.1)
    time.sleep(0.3)
    check(env.logtext().count("credential af1: certificate expires") == 1, "not repeated")


if __name__ == "__main__":
    main([metrics_move_when_signing, x5u_endpoint_serves_the_chain,
          chains_are_not_published_unless_asked, bad_http_listen_is_refused_at_start,
          expiring_certificate_warns_once_per_threshold], "http")
