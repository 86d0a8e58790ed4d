#!/usr/bin/env python3
"""x5u_server.py — a hostile STI-CR for the verifier's fetcher tests.

Loopback only. Answers are written as raw bytes on the socket, so heads can
be malformed, oversized, dripped or cut. TLS by default, with a server
certificate from a throwaway TLS CA made here with the openssl CLI in a
temporary directory (removed on exit); --http serves plain HTTP (CRL
distribution points). Python standard library + openssl only.

  x5u_server.py --chain CHAIN.pem [--crl CRL.der|.pem] [--http]
                [--san "DNS:localhost,IP:127.0.0.1"] [--host 127.0.0.1|::1] [--tmp DIR]

Prints, then serves until killed:
  CA <path of the TLS CA certificate>     (TLS mode only)
  PORT <tcp port>
  DNS <udp port of a resolver that never answers>

Paths (any query string is ignored unless named):
  /good.pem[?max-age=N][&expires=S]  200 pem-certificate-chain, the chain file
  /query.pem?x=1          the same, under a query string
  /chunked.pem            the same, chunked in three pieces
  /close.pem              the same, no Content-Length, ended by close_notify
  /dirty-close.pem        the same, no Content-Length, TCP close without close_notify
  /bare-lf                the same, every head line ended by a bare LF
  /huge-head              1 MiB of header lines
  /endless                chunked, one byte every 100 ms, never ends
  /big                    Content-Length 10 MiB, then streams
  /slow                   the good answer one byte every 200 ms
  /wrong-type             200 text/html
  /no-type, /two-types    no Content-Type, two of them
  /notpem                 200 pem-certificate-chain with a body that is not PEM
  /bad-chunk              chunked with a chunk size that is not hex
  /continue               100 Continue, then the good answer
  /redirect               302 Location: /good.pem
  /notfound               404
  /garbage                not HTTP at all (an SSH banner and binary)
  /reset                  half a head, then a TCP reset
  /crl.der, /crl.pem      200 application/pkix-crl, the CRL file, DER / PEM
  /count                  the good answer after 300 ms (hits are counted)
  /stats                  text: "hits <path> <n>" per path, "sni <names seen, comma-separated>",
                          "handshake_failures <n>"
"""
import argparse
import base64
import os
import shutil
import signal
import socket
import socketserver
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

LOCK = threading.Lock()
HITS = {}
STATE = {"sni": [], "handshake_failures": 0}
CHAIN = b""
CRL_DER = b""
PEM_TYPE = "application/pem-certificate-chain"
CRL_TYPE = "application/pkix-crl"


def make_tls(tmp, san):
    def run(*args):
        r = subprocess.run(list(args), capture_output=True, text=True, cwd=tmp)
        if r.returncode != 0:
            sys.exit("x5u_server: %s failed: %s" % (" ".join(args[:3]), r.stderr))

    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    run("openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=vs-test throwaway TLS CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign")
    run("openssl", "req", *ec, "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=localhost")
    with open(os.path.join(tmp, "ext.cnf"), "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n" % san)
    run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(os.path.join(tmp, "srv.pem"), os.path.join(tmp, "srv.key"))

    def on_sni(sslobj, name, context):
        # OpenSSL calls this for every handshake, with None when the client
        # sent no SNI (as it must not for an address literal).
        if name is not None:
            with LOCK:
                if name not in STATE["sni"]:
                    STATE["sni"].append(name)

    ctx.sni_callback = on_sni
    return ctx, os.path.join(tmp, "ca.pem")


def head(status, ctype=None, length=None, extra=(), eol=b"\r\n"):
    lines = [b"HTTP/1.1 " + status.encode()]
    if ctype is not None:
        lines.append(b"Content-Type: " + ctype.encode())
    if length is not None:
        lines.append(b"Content-Length: %d" % length)
    lines += [h.encode() for h in extra]
    lines.append(b"Connection: close")
    return eol.join(lines) + eol + eol


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(20)
        if self.server.tls is not None:
            try:
                sock = self.server.tls.wrap_socket(sock, server_side=True)
            except (ssl.SSLError, OSError):
                with LOCK:
                    STATE["handshake_failures"] += 1
                return
        self.sock = sock
        try:
            req = self.read_head()
            if req is None:
                return
            self.dispatch(req)
        except (OSError, ssl.SSLError):
            pass  # the client gave up, as it should on hostile answers
        finally:
            try:
                self.sock.close()  # never a close_notify: only clean_close sends one
            except OSError:
                pass

    def read_head(self):
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = self.sock.recv(4096)
            if not chunk or len(buf) > 16384:
                return None
            buf += chunk
        line = buf.split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        return parts[1] if len(parts) == 3 and parts[0] == "GET" else None

    def send(self, data):
        self.sock.sendall(data)

    def clean_close(self):
        if isinstance(self.sock, ssl.SSLSocket):
            self.sock = self.sock.unwrap()  # close_notify

    def reset(self):
        # Linger 0: close() then sends a TCP RST instead of a FIN.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def dispatch(self, target):
        u = urllib.parse.urlsplit(target)
        q = urllib.parse.parse_qs(u.query)
        path = u.path
        with LOCK:
            HITS[path] = HITS.get(path, 0) + 1
        extra = []
        if "max-age" in q:
            extra.append("Cache-Control: max-age=%s" % q["max-age"][0])
        if "expires" in q:
            t = time.time() + int(q["expires"][0])
            extra.append("Expires: " + time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(t)))
        if path in ("/good.pem", "/query.pem"):
            self.send(head("200 OK", PEM_TYPE, len(CHAIN), extra) + CHAIN)
        elif path == "/count":
            time.sleep(0.3)
            self.send(head("200 OK", PEM_TYPE, len(CHAIN), extra) + CHAIN)
        elif path == "/chunked.pem":
            self.send(head("200 OK", PEM_TYPE, None, ["Transfer-Encoding: chunked"]))
            third = len(CHAIN) // 3
            for piece in (CHAIN[:third], CHAIN[third:2 * third], CHAIN[2 * third:]):
                self.send(b"%x\r\n" % len(piece) + piece + b"\r\n")
                time.sleep(0.02)
            self.send(b"0\r\n\r\n")
        elif path == "/close.pem":
            self.send(head("200 OK", PEM_TYPE) + CHAIN)
            self.clean_close()
        elif path == "/dirty-close.pem":
            self.send(head("200 OK", PEM_TYPE) + CHAIN)
        elif path == "/bare-lf":
            self.send(head("200 OK", PEM_TYPE, len(CHAIN), eol=b"\n") + CHAIN)
        elif path == "/huge-head":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Type: " + PEM_TYPE.encode() + b"\r\n")
            pad = b"a" * 1000
            for i in range(1048):  # ~1 MiB
                self.send(b"X-Pad-%05d: " % i + pad + b"\r\n")
            self.send(b"Content-Length: %d\r\n\r\n" % len(CHAIN) + CHAIN)
        elif path == "/endless":
            self.send(head("200 OK", PEM_TYPE, None, ["Transfer-Encoding: chunked"]))
            end = time.time() + 60
            while time.time() < end:
                self.send(b"1\r\nA\r\n")
                time.sleep(0.1)
        elif path == "/big":
            self.send(head("200 OK", PEM_TYPE, 10 << 20))
            block = b"A" * 65536
            for _ in range(160):
                self.send(block)
        elif path == "/slow":
            for b in head("200 OK", PEM_TYPE, len(CHAIN)) + CHAIN:
                self.send(bytes([b]))
                time.sleep(0.2)
        elif path == "/wrong-type":
            body = b"<html><body>not a chain</body></html>\n"
            self.send(head("200 OK", "text/html; charset=utf-8", len(body)) + body)
        elif path == "/no-type":
            self.send(head("200 OK", None, len(CHAIN)) + CHAIN)
        elif path == "/two-types":
            self.send(head("200 OK", PEM_TYPE, len(CHAIN), ["Content-Type: text/plain"]) + CHAIN)
        elif path == "/notpem":
            body = b"hello, this is not a certificate chain\n"
            self.send(head("200 OK", PEM_TYPE, len(body)) + body)
        elif path == "/bad-chunk":
            self.send(head("200 OK", PEM_TYPE, None, ["Transfer-Encoding: chunked"]))
            self.send(b"zz\r\nhello\r\n0\r\n\r\n")
        elif path == "/continue":
            self.send(b"HTTP/1.1 100 Continue\r\n\r\n")
            time.sleep(0.05)
            self.send(head("200 OK", PEM_TYPE, len(CHAIN), extra) + CHAIN)
        elif path == "/redirect":
            self.send(head("302 Found", "text/plain", 0, ["Location: /good.pem"]))
        elif path == "/notfound":
            body = b"not found\n"
            self.send(head("404 Not Found", "text/plain", len(body)) + body)
        elif path == "/garbage":
            self.send(b"SSH-2.0-OpenSSH_9.2p1\r\n" + bytes(range(256)) * 4)
        elif path == "/reset":
            self.send(b"HTTP/1.1 200 OK\r\nContent-Ty")
            time.sleep(0.05)
            self.reset()
        elif path in ("/crl.der", "/crl.pem"):
            body = CRL_DER
            if path == "/crl.pem":
                b64 = base64.encodebytes(CRL_DER).replace(b"\n", b"")
                lines = [b64[i:i + 64] for i in range(0, len(b64), 64)]
                body = b"-----BEGIN X509 CRL-----\n" + b"\n".join(lines) + b"\n-----END X509 CRL-----\n"
            self.send(head("200 OK", CRL_TYPE, len(body), extra) + body)
        elif path == "/stats":
            with LOCK:
                text = "".join("hits %s %d\n" % kv for kv in sorted(HITS.items()))
                text += "sni %s\nhandshake_failures %d\n" % (",".join(STATE["sni"]) or "-",
                                                              STATE["handshake_failures"])
            body = text.encode()
            self.send(head("200 OK", "text/plain", len(body)) + body)
        else:
            body = b"no such path\n"
            self.send(head("404 Not Found", "text/plain", len(body)) + body)


class Server(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # the default 5 drops parallel SYNs (1 s retransmits)
    tls = None


def read_crl(path):
    data = open(path, "rb").read()
    if data.lstrip().startswith(b"-----BEGIN"):
        b64 = b"".join(l for l in data.splitlines() if l and not l.startswith(b"-----"))
        return base64.b64decode(b64)
    return data


def main():
    global CHAIN, CRL_DER
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--chain", required=True)
    ap.add_argument("--crl")
    ap.add_argument("--http", action="store_true")
    ap.add_argument("--san", default="DNS:localhost,IP:127.0.0.1")
    ap.add_argument("--host", default="127.0.0.1", choices=["127.0.0.1", "::1"])
    ap.add_argument("--tmp", help="parent of the temporary TLS CA directory")
    a = ap.parse_args()
    CHAIN = open(a.chain, "rb").read()
    if a.crl:
        CRL_DER = read_crl(a.crl)
    tmp = tempfile.mkdtemp(prefix="x5u-server-", dir=a.tmp)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        if a.host == "::1":
            Server.address_family = socket.AF_INET6
        srv = Server((a.host, 0), Handler)
        if not a.http:
            srv.tls, ca = make_tls(tmp, a.san)
            print("CA %s" % ca)
        dns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        dns.bind(("127.0.0.1", 0))
        print("PORT %d" % srv.server_address[1])
        print("DNS %d" % dns.getsockname()[1], flush=True)
        srv.serve_forever(poll_interval=0.1)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
