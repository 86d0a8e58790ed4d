"""console_fixture.py — the real stisignd with its provisioning console on a
real pty, on an empty SoftHSM2 token folder and an empty store. The test
talks to the console the way screen or picocom would: it opens the pty
slave the daemon linked, in raw mode, and reads/writes bytes."""
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import termios
import tty

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../integration"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../scripts"))
import stitest  # noqa: E402
from console import Console  # noqa: E402,F401
from stitest import BUILD, MODULE, STISIGN, STISIGND, Conn, Failure, check  # noqa: E402,F401


class ConsoleEnv:
    def __init__(self, name, extra=""):
        base = os.path.join(BUILD, "tmp")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=name + "-", dir=base)
        os.chmod(self.dir, 0o700)
        os.makedirs(os.path.join(self.dir, "tokens"))
        with open(os.path.join(self.dir, "softhsm2.conf"), "w") as f:
            f.write("directories.tokendir = %s/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n" % self.dir)
        os.environ["SOFTHSM2_CONF"] = os.path.join(self.dir, "softhsm2.conf")
        self.sock = os.path.join(self.dir, "sign.sock")
        self.store = os.path.join(self.dir, "store")
        self.link = os.path.join(self.dir, "console")
        self.log = os.path.join(self.dir, "stisignd.log")
        self.cfg = os.path.join(self.dir, "stisignd.conf")
        with open(self.cfg, "w") as f:
            f.write("socket = %s\nmodule = %s\nstore_dir = %s\nworkers = 1\n"
                    "console = pty\nconsole_path = %s\n%s" % (self.sock, MODULE, self.store,
                                                            self.link, extra))
        self.daemon = None
        self.con = None

    def start(self):
        self.daemon = subprocess.Popen([STISIGND, "-c", self.cfg], stdout=open(self.log, "ab"),
                                       stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.daemon.poll() is not None:
                raise Failure("stisignd exited %d:\n%s" % (self.daemon.returncode, self.logtext()))
            if os.path.exists(self.sock) and os.path.islink(self.link):
                break
            time.sleep(0.05)
        else:
            raise Failure("stisignd did not come up:\n" + self.logtext())
        check(os.readlink(self.link) in self.logtext(), "the pty path is in the log")
        self.con = Console(self.link)
        return self.con

    def configure(self, extra):
        """Appends configuration lines (before start)."""
        with open(self.cfg, "a") as f:
            f.write(extra)

    def stop(self):
        """An orderly stop (SIGTERM): the appliance's power-off; start()
        boots it again on the same store."""
        if self.con:
            self.con.close()
            self.con = None
        self.daemon.send_signal(signal.SIGTERM)
        rc = self.daemon.wait(20)
        check(rc == 0, "stisignd exited %d:\n%s" % (rc, self.logtext()[-2000:]))
        self.daemon = None

    def logtext(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def health(self):
        return subprocess.run([STISIGN, "health", "--socket", self.sock], capture_output=True,
                              text=True, timeout=30)

    def close(self, ok):
        if self.con:
            self.con.close()
        if self.daemon and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if ok and not os.environ.get("STI_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print("state kept in", self.dir)


def run_tests(tests, name):
    passed = failed = 0
    only = sys.argv[1:]
    for t in tests:
        if only and t.__name__ not in only:
            continue
        env = ConsoleEnv(name)
        ok = False
        try:
            t(env)
            ok = True
        except Exception as e:  # noqa: BLE001
            print("FAIL %s: %s: %s" % (t.__name__, type(e).__name__, e))
            print("--- stisignd log ---\n" + env.logtext()[-3000:])
        finally:
            env.close(ok)
        print("%s %s" % ("ok  " if ok else "FAIL", t.__name__))
        passed += ok
        failed += not ok
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed or not passed else 0)
