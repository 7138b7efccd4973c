# case_parked.py - reliability cases for streams that hold no thread
# (lib/loop.c, issue 12): thousands of streams on a few threads, every event
# to each, SIGTERM ending them all cleanly, max-streams, slow readers caught
# up exactly, hang-ups freeing everything.
# SPDX-License-Identifier: MIT
#
# The worker is driven over its FastCGI socket directly (--listen), with a
# small FastCGI client written from the specification: a web server would
# itself be the limit at thousands of streams (lighttpd needs two
# descriptors per stream), and the raw records also show what the worker
# writes at the end of a stream (the empty stdout record and END_REQUEST).

import os
import selectors
import signal
import socket
import struct
import time

from harness import TestFailure, check, publish_many, publish_py, wait_until
from registry import case

BEGIN, ABORT, END, PARAMS, STDIN, STDOUT = 1, 2, 3, 4, 5, 6


def record(rtype, rid, content=b""):
    return struct.pack("!BBHHBx", 1, rtype, rid, len(content), 0) + content


def nv(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n), len(v)]) + n + v


class FcgiStream:
    """One GET /events request over a new connection to the worker; reads
    stdout records as they come (pump) and parses the SSE body."""

    def __init__(self, sock_path, query="", headers=(), rcvbuf=0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(sock_path)
        params = nv("REQUEST_METHOD", "GET") + nv("REQUEST_URI", "/events?" + query) + \
            nv("QUERY_STRING", query) + nv("REMOTE_ADDR", "127.0.0.1")
        for k, v in headers:
            params += nv(k, v)
        self.sock.sendall(record(BEGIN, 1, struct.pack("!HB5x", 1, 0)) +
                          record(PARAMS, 1, params) + record(PARAMS, 1) + record(STDIN, 1))
        self.sock.setblocking(False)
        self.wire = bytearray()
        self.out = bytearray()   # stdout content
        self.stdout_ended = False
        self.ended = False       # END_REQUEST seen
        self.eof = False
        self.closed = False

    def fileno(self):
        return self.sock.fileno()

    def readable(self):
        return not self.closed

    def pump(self):
        """Reads what is there; parses whole records."""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except BlockingIOError:
                break
            except OSError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            self.wire += chunk
        while len(self.wire) >= 8:
            ver, rtype, rid, clen, plen = struct.unpack("!BBHHBx", self.wire[:8])
            if len(self.wire) < 8 + clen + plen:
                break
            body = bytes(self.wire[8:8 + clen])
            del self.wire[:8 + clen + plen]
            check(ver == 1 and rid == 1, "bad record header (version %d, id %d)" % (ver, rid))
            if rtype == STDOUT:
                check(not self.stdout_ended, "stdout after its end")
                if clen:
                    self.out += body
                else:
                    self.stdout_ended = True
            elif rtype == END:
                check(self.stdout_ended, "END_REQUEST before the end of stdout")
                self.ended = True

    def body(self):
        i = self.out.find(b"\r\n\r\n")
        return bytes(self.out[i + 4:]) if i >= 0 else b""

    def started(self):
        return b": sselite stream\n\n" in self.out or b": busy" in self.out

    def busy(self):
        return b": busy" in self.out

    def ids(self):
        return [int(line[4:]) for line in self.body().split(b"\n") if line.startswith(b"id: ")]

    def close(self):
        if not self.closed:
            self.closed = True
            self.sock.close()


def pump_all(streams, pred, timeout, what):
    """Reads every stream until pred(s) holds for all; raises after timeout."""
    sel = selectors.DefaultSelector()
    for s in streams:
        if s.readable():
            sel.register(s, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    try:
        while True:
            waiting = [s for s in streams if not pred(s)]
            if not waiting:
                return
            left = deadline - time.monotonic()
            if left <= 0:
                s = waiting[0]
                raise TestFailure("%s: %d of %d streams lack it (first: %d bytes, end %r)"
                                  % (what, len(waiting), len(streams), len(s.out),
                                     bytes(s.out[-160:])))
            for key, _ in sel.select(min(left, 0.5)):
                s = key.fileobj
                s.pump()
                if s.ended or s.eof:
                    # As a web server does once the response has ended:
                    # libfcgi's close of the connection waits for this.
                    sel.unregister(s)
                    s.close()
    finally:
        sel.close()


def open_many(sock_path, n, **kw):
    streams = []
    for _ in range(n):
        streams.append(FcgiStream(sock_path, **kw))
    pump_all(streams, lambda s: s.started(), 60.0, "stream start")
    return streams


def proc_field(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure("no %s in /proc/%d/status" % (field, pid))


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


@case("parked: 3000 streams on 4 threads each get every event; SIGTERM ends all cleanly")
def t_parked_many_sigterm(env):
    env.init_db()
    n, threads = 3000, 4
    w = env.start_worker(threads=threads, heartbeat=30, access_log=0, backlog=4096)
    streams = open_many(w.sock, n)
    busy = sum(s.busy() for s in streams)
    check(busy == 0, "%d of %d streams got the busy answer on %d threads" % (busy, n, threads))
    # The hand-shake threads, the catch-up threads (threads / 4), the hub,
    # the loop and main: nothing per stream.
    nthreads = proc_field(w.pid, "Threads")
    check(nthreads <= threads + 1 + 3, "%d threads for %d streams" % (nthreads, n))
    ids = [publish_py(env.db, "to all %d" % i) for i in range(3)]
    pump_all(streams, lambda s: s.ids() == ids, 30.0, "every event")
    t = time.monotonic()
    w.signal(signal.SIGTERM)
    pump_all(streams, lambda s: s.ended, 10.0, "the end of the stream at SIGTERM")
    dt = time.monotonic() - t
    for s in streams:
        check(s.body().endswith(b": server shutting down, reconnect\n\n"),
              "a stream ended with %r" % s.body()[-80:])
        s.close()
    rc = w.wait(10)
    check(rc == 0, "worker exit status %s" % rc)
    return "%d streams, %d threads in the worker; all ended %.2f s after SIGTERM" % (n, nthreads, dt)


@case("parked: past max-streams the busy answer at once; a freed slot is served")
def t_max_streams(env):
    env.init_db()
    w = env.start_worker(threads=4, max_streams=50, busy_retry_ms=4321, heartbeat=30)
    held = open_many(w.sock, 50)
    check(not any(s.busy() for s in held), "a stream below max-streams got the busy answer")
    extra = FcgiStream(w.sock)
    pump_all([extra], lambda s: s.ended, 3.0, "the busy answer")
    check(extra.busy() and b"retry: 4321" in extra.out, "no busy answer: %r" % bytes(extra.out))
    extra.close()
    held[0].close()
    deadline = time.monotonic() + 5.0
    while True:
        s = FcgiStream(w.sock)
        pump_all([s], lambda s: s.started(), 3.0, "an answer")
        if not s.busy():
            break
        s.close()
        check(time.monotonic() < deadline, "no slot freed 5 s after a client left")
        time.sleep(0.05)
    id = publish_py(env.db, "after a slot was freed")
    pump_all([s] + held[1:], lambda s: id in s.ids(), 5.0, "the event")
    for h in held[1:] + [s]:
        h.close()


@case("parked: 10 slow readers on 2 threads, far behind the ring, get every event exactly once")
def t_slow_readers_exact(env):
    env.init_db()
    w = env.start_worker(threads=2, ring_events=16, batch=16, heartbeat=30)
    streams = []
    for _ in range(10):
        s = FcgiStream(w.sock, rcvbuf=4096)
        pump_all([s], lambda s: s.started(), 5.0, "stream start")
        streams.append(s)
    check(not any(s.busy() for s in streams), "a slow reader got the busy answer")
    ids = []
    for k in range(20):
        ids += publish_many(env.db, [("default", None, "x" * 300 + " %d" % (k * 100 + i))
                                     for i in range(100)])
    # Nobody has read yet: the worker's writes stopped long ago.
    time.sleep(0.5)
    pump_all(streams, lambda s: len(s.ids()) >= len(ids), 60.0, "all 2000 events")
    for s in streams:
        got = s.ids()
        check(got == ids, "a slow reader got %d events, first wrong at %s" % (
            len(got), next((i for i, (a, b) in enumerate(zip(got, ids)) if a != b), len(got))))
        s.close()


@case("parked: 500 streams whose clients hang up free every descriptor and slot")
def t_hangup_frees(env):
    env.init_db()
    w = env.start_worker(threads=2, heartbeat=30, access_log=0, backlog=1024)
    # The worker listens before its hub and loop are up: count its idle
    # descriptors once it has served a stream.
    first = FcgiStream(w.sock)
    pump_all([first], lambda s: s.started(), 5.0, "a first stream")
    first.close()
    time.sleep(0.3)
    idle_fds = fd_count(w.pid)
    streams = open_many(w.sock, 500)
    check(not any(s.busy() for s in streams), "a stream got the busy answer on 2 threads")
    check(fd_count(w.pid) >= idle_fds + 500, "the worker does not hold the 500 streams")
    for s in streams:
        s.close()
    wait_until(lambda: fd_count(w.pid) <= idle_fds + 2, 5.0,
               "the worker to close the 500 connections (fds %d, idle %d)"
               % (fd_count(w.pid), idle_fds))
    s = FcgiStream(w.sock)
    pump_all([s], lambda s: s.started(), 3.0, "a new stream")
    check(not s.busy(), "busy after every client left")
    id = publish_py(env.db, "after the hang-ups")
    pump_all([s], lambda s: id in s.ids(), 3.0, "the event")
    s.close()
