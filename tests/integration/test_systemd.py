#!/usr/bin/env python3
"""systemd without systemd: the test plays the service manager. It binds the
signing socket itself and hands it over as fd 3 with LISTEN_PID/LISTEN_FDS
(socket activation), and listens on a NOTIFY_SOCKET datagram socket for
READY=1, STATUS=..., WATCHDOG=1 (every WATCHDOG_USEC/2, only while the
daemon can sign) and STOPPING=1."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from fault_lib import FAULTP11_LIB  # noqa: E402
from stitest import STISIGND, Conn, check, main, proc_children, verify_identity  # noqa: E402

SCOPE = "range:12025550100/100"


class Manager:
    """The service manager's side: the listening socket and the notify socket."""

    def __init__(self, env):
        self.env = env
        self.lis = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.lis.bind(env.sock)
        self.lis.listen(64)
        self.notify_path = os.path.join(env.dir, "notify.sock")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify.bind(self.notify_path)
        self.notify.settimeout(0.2)
        self.msgs = []  # (time, line)

    def start(self, cfg, watchdog_usec=1000000):
        env = self.env
        lis_fd = self.lis.fileno()
        # The child inherits our environment (env=None), so that its own
        # putenv of LISTEN_PID (it needs its pid) reaches exec.
        os.environ.update(NOTIFY_SOCKET=self.notify_path, LISTEN_FDS="1",
                          WATCHDOG_USEC=str(watchdog_usec))

        def child():  # runs in the child between fork and exec
            if lis_fd == 3:
                os.set_inheritable(3, True)  # dup2(3, 3) would keep close-on-exec
            else:
                os.dup2(lis_fd, 3)
            os.environ["LISTEN_PID"] = str(os.getpid())

        logf = open(env.log, "ab")
        env.daemon = subprocess.Popen([STISIGND, "-c", cfg], stdout=logf, stderr=logf,
                                      close_fds=False, preexec_fn=child)

    def collect(self, seconds):
        end = time.time() + seconds
        while time.time() < end:
            try:
                data = self.notify.recv(4096)
            except socket.timeout:
                continue
            for line in data.decode().split("\n"):
                if line:
                    self.msgs.append((time.time(), line))

    def wait_for(self, line, seconds):
        end = time.time() + seconds
        while time.time() < end:
            if any(m == line for _, m in self.msgs):
                return True
            self.collect(0.2)
        return False

    def close(self):
        for k in ("NOTIFY_SOCKET", "LISTEN_FDS", "WATCHDOG_USEC"):
            os.environ.pop(k, None)
        self.lis.close()
        self.notify.close()


def provision(env):
    env.keygen("af1")
    env.ca_init(SCOPE)
    chain = env.issue("af1", SCOPE)
    env.credential("af1", "af1", chain)
    return chain


def socket_activation_and_notify(env):
    chain = provision(env)
    cfg = env.write_config()
    mgr = Manager(env)
    try:
        ino = os.stat(env.sock).st_ino
        mgr.start(cfg, watchdog_usec=1000000)
        check(mgr.wait_for("READY=1", 30), "READY=1 received:\n" + env.logtext())
        check(any(m.startswith("STATUS=ready") for _, m in mgr.msgs), "STATUS=ready: %r"
              % mgr.msgs)
        # Signing over the socket the manager bound: the daemon did not make its own.
        r = env.sign_cli("12025550123", ["12025550101"])
        verify_identity(env, r.stdout.strip(), chain)
        check(os.stat(env.sock).st_ino == ino, "the inherited socket is still the one in use")
        check("socket from systemd" in env.logtext(), "log says the socket came from systemd")
        t0 = time.time()
        mgr.collect(2.2)
        kicks = [t for t, m in mgr.msgs if m == "WATCHDOG=1" and t >= t0]
        check(3 <= len(kicks) <= 6, "WATCHDOG=1 about every 0.5 s: %d in 2.2 s" % len(kicks))
        # The workers are not handed the activation variables.
        for pid in proc_children(env.daemon.pid):
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    check(b"LISTEN_PID=" not in f.read(), "worker %d without LISTEN_PID" % pid)
            except PermissionError:
                pass
        env.daemon.send_signal(signal.SIGTERM)
        check(mgr.wait_for("STOPPING=1", 10), "STOPPING=1 at shutdown")
        env.daemon.wait(20)
        check(env.daemon.returncode == 0, "clean exit %d" % env.daemon.returncode)
    finally:
        mgr.close()


def watchdog_starves_while_the_self_test_fails(env):
    """A daemon that may not sign must let systemd's watchdog fire."""
    provision(env)
    ctl = os.path.join(env.dir, "faults")
    with open(ctl, "w") as f:
        f.write("corrupt_sig=1\n")
    os.environ["FAULTP11_CONTROL"] = ctl
    os.environ["FAULTP11_MODULE"] = os.environ.get("STI_MODULE",
                                                   "/usr/lib/softhsm/libsofthsm2.so")
    cfg = env.write_config(module=FAULTP11_LIB)
    mgr = Manager(env)
    try:
        mgr.start(cfg, watchdog_usec=400000)
        check(mgr.wait_for("READY=1", 30), "READY=1 received:\n" + env.logtext())
        mgr.collect(1.5)
        check(not any(m == "WATCHDOG=1" for _, m in mgr.msgs), "no watchdog kick: %r" % mgr.msgs)
        check(any(m.startswith("STATUS=down: self-test failed") for _, m in mgr.msgs),
              "STATUS says why: %r" % mgr.msgs)
    finally:
        mgr.close()
        os.environ.pop("FAULTP11_CONTROL", None)


def not_activated_without_listen_pid(env):
    """LISTEN_FDS for another process (LISTEN_PID not ours) is ignored: the
    daemon binds its configured path."""
    provision(env)
    os.environ["LISTEN_FDS"] = "1"
    os.environ["LISTEN_PID"] = "1"
    try:
        env.start()
    finally:
        os.environ.pop("LISTEN_FDS", None)
        os.environ.pop("LISTEN_PID", None)
    check("socket from systemd" not in env.logtext(), "bound its own socket")
    c = Conn(env.sock)
    c.close()


if __name__ == "__main__":
    main([socket_activation_and_notify, watchdog_starves_while_the_self_test_fails,
          not_activated_without_listen_pid], "systemd")
