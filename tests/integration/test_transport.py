#!/usr/bin/env python3
"""The RPC transport keeps its promises: answers owed are delivered even
when the client half-closes or a later frame is malformed, and a client
streaming frames is not mistaken for a slowloris."""
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import OP_SIGN, T_IDENTITY, Conn, check, frame, main, sign_body

SCOPE = "range:12025550100/100"


def setup(env, extra=""):
    env.keygen("af")
    env.ca_init(SCOPE)
    env.credential("af", "af", env.issue("af", SCOPE))
    env.start(extra)


def answers_owed_survive_a_half_close(env):
    setup(env)
    c = Conn(env.sock)
    c.send(b"".join(frame(OP_SIGN, i, sign_body("12025550100", ["12025550101"]))
                    for i in range(1, 51)))
    c.s.shutdown(socket.SHUT_WR)
    got = set()
    while True:
        r = c.recv_frame()
        if r is None:
            break
        check(r[1] == 0, "signed")
        got.add(r[2])
    check(got == set(range(1, 51)), "all 50 answered after half-close, got %d" % len(got))


def answers_owed_survive_a_later_framing_error(env):
    setup(env)
    c = Conn(env.sock)
    c.send(b"".join(frame(OP_SIGN, i, sign_body("12025550100", ["12025550101"]))
                    for i in range(1, 21)) + frame(OP_SIGN, 99, version=7))
    got = {}
    while True:
        r = c.recv_frame()
        if r is None:
            break
        got[r[2]] = r[1]
    check(got.get(99) == 200, "bad version answered 200")
    check(all(got.get(i) == 0 for i in range(1, 21)), "the 20 earlier requests answered: %r" % got)


def streaming_client_is_not_cut_by_the_frame_timer(env):
    setup(env, "frame_timeout_ms = 500\n")
    c = Conn(env.sock)
    one = frame(OP_SIGN, 1, sign_body("12025550100", ["12025550101"]))
    # Always leave half a frame in the server's buffer, for 3x the timeout.
    c.send(one[:10])
    deadline = time.time() + 1.5
    n = 0
    while time.time() < deadline:
        c.send(one[10:] + one[:10])
        n += 1
        r = c.recv_frame()
        check(r is not None and r[1] == 0, "answered while streaming")
        time.sleep(0.05)
    check(n > 10, "streamed %d frames" % n)


def slowloris_is_cut_by_the_frame_timer(env):
    setup(env, "frame_timeout_ms = 300\n")
    c = Conn(env.sock)
    t0 = time.time()
    c.send(frame(OP_SIGN, 1, sign_body("12025550100", ["12025550101"]))[:5])
    check(c.recv_frame() is None, "closed without an answer")
    el = time.time() - t0
    check(0.25 < el < 3, "cut after the frame timeout: %.2f s" % el)


def shutdown_answers_what_is_in_flight(env):
    setup(env)
    c = Conn(env.sock)
    c.send(b"".join(frame(OP_SIGN, i, sign_body("12025550100", ["12025550101"]))
                    for i in range(1, 201)))
    c.recv_frame()  # the daemon is busy with the batch
    env.daemon.send_signal(signal.SIGTERM)
    got = 1
    while True:
        r = c.recv_frame()
        if r is None:
            break
        check(r[1] == 0, "signed during shutdown")
        got += 1
    check(got == 200, "all 200 answered across SIGTERM, got %d" % got)
    env.daemon.wait(10)
    check(env.daemon.returncode == 0, "clean exit")
    check(not os.path.exists(env.sock), "socket file removed")


if __name__ == "__main__":
    main([answers_owed_survive_a_half_close, answers_owed_survive_a_later_framing_error,
          streaming_client_is_not_cut_by_the_frame_timer, slowloris_is_cut_by_the_frame_timer,
          shutdown_answers_what_is_in_flight],
         "transport")
