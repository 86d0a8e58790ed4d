#!/usr/bin/env python3
"""hold_connections.py SOCKET N SECONDS — open N idle connections to a Unix
socket and hold them (for memory measurements). Bounded in count and time."""
import socket
import sys
import time

path, n, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
conns = []
for _ in range(min(n, 10000)):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    conns.append(s)
time.sleep(min(secs, 600))
