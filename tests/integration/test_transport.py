#!/usr/bin/env python3
"""The RPC transport keeps its promises: answers owed are delivered even
when the client half-closes or a later frame is malformed, frames held back
by flow control are all answered once the client reads, and a client
streaming frames is not mistaken for a slowloris."""
import json
import os
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from stitest import OP_SIGN, T_IDENTITY, Conn, b64u_decode, check, frame, main, sign_body

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


def frames_held_back_by_flow_control_are_all_answered(env):
    # Three requests in flight at most: 300 pipelined in one write make the
    # server pause and resume about a hundred times, each time with
    # complete frames it read but held back.
    setup(env, "max_pending_per_connection = 3\n")
    c = Conn(env.sock)
    origs = {i: "120255501%02d" % (i % 100) for i in range(1, 301)}
    c.send(b"".join(frame(OP_SIGN, i, sign_body(origs[i], ["12025550199"])) for i in origs))
    got = {}
    while len(got) < len(origs):
        r = c.recv_frame()
        check(r is not None, "connection kept open (%d answers so far)" % len(got))
        check(r[2] not in got, "id %d answered once" % r[2])
        got[r[2]] = r
    for i, r in got.items():
        check(r[1] == 0, "id %d signed (status %d)" % (i, r[1]))
        ident = r[3][T_IDENTITY][0].decode()
        claims = json.loads(b64u_decode(ident.split(";")[0].split(".")[1]))
        check(claims["orig"]["tn"] == origs[i], "id %d carries its own orig" % i)
    check(set(got) == set(origs), "every id answered")
    # Still serving the same connection afterwards.
    c.send(frame(OP_SIGN, 999, sign_body("12025550100", ["12025550101"])))
    r = c.recv_frame()
    check(r is not None and r[2] == 999 and r[1] == 0, "the connection signs on")


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
          frames_held_back_by_flow_control_are_all_answered,
          streaming_client_is_not_cut_by_the_frame_timer, slowloris_is_cut_by_the_frame_timer,
          shutdown_answers_what_is_in_flight],
         "transport")
