# case_hub.py - reliability cases for the hub (lib/hub.c): the worker's memory
# is bounded by ring-bytes whatever the events' size (probe D3), and a stream
# that meets a database fault ends as a fault, not as a replacement (D7).
# SPDX-License-Identifier: MIT

import contextlib
import socket
import sqlite3
import time

from harness import Client, TestFailure, check, connect_until_ok, publish_py
from registry import case

MIB = 1024 * 1024
ROWS = 400
# The unfixed worker keeps every one of the 400 rows in its ring (over
# 400 MiB); with the default ring-bytes (32 MiB) its peak measured 44 MiB,
# SQLite's and malloc's share included.
HWM_LIMIT_KIB = 128 * 1024
FILLER = "abcdefghijklmnopqrstuvwxyz0123456789-"


def big_row(i):
    """Row i: 1 MiB of text, or (every 50th) 1 MiB of line breaks, which
    encodes to 7 MiB ("data: " per line)."""
    if i % 50 == 49:
        return "\n" * MIB
    head = "row %06d " % i
    return (head + FILLER * (MIB // len(FILLER) + 1))[:MIB]


def vm_kib(pid, field):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise TestFailure("no %s in /proc/%d/status" % (field, pid))


class RawStream:
    """A GET through lighttpd over HTTP/1.0 (close-delimited body), parsed
    with bytes operations: the harness's Client parses byte by byte, too slow
    for hundreds of MiB. Events are blocks ending in a blank line; every line
    the worker writes is non-empty ("data: " at least), so b"\\n\\n" ends a
    block and nothing else."""

    def __init__(self, port, path, headers=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        req = "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n" % path
        req += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
        self.sock.sendall(req.encode("latin-1"))
        self.buf = bytearray()
        self.scan = 0  # where to look for the next b"\n\n"
        self.status = None

    def close(self):
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("timed out reading the stream (%d bytes buffered)" % len(self.buf))
        self.sock.settimeout(min(left, 10.0))
        try:
            chunk = self.sock.recv(4 * MIB)
        except socket.timeout:
            return
        if not chunk:
            raise TestFailure("the stream ended; last bytes %r" % bytes(self.buf[-200:]))
        self.buf += chunk

    def next_item(self, deadline):
        """Returns ("event", id, data bytes), ("comment", text) or
        ("retry", ms)."""
        while self.status is None:
            i = self.buf.find(b"\r\n\r\n")
            if i < 0:
                self._fill(deadline)
                continue
            head = bytes(self.buf[:i]).decode("latin-1")
            del self.buf[:i + 4]
            self.status = int(head.split(" ", 2)[1])
            check(self.status == 200, "status %s: %r" % (self.status, head))
        while True:
            i = self.buf.find(b"\n\n", self.scan)
            if i < 0:
                self.scan = max(0, len(self.buf) - 1)
                self._fill(deadline)
                continue
            block = bytes(self.buf[:i])
            del self.buf[:i + 2]
            self.scan = 0
            if block.startswith(b":"):
                return ("comment", block[1:].decode("utf-8", "replace").strip())
            if block.startswith(b"retry: "):
                return ("retry", int(block[7:]))
            id, data = None, []
            for line in block.split(b"\n"):
                if line.startswith(b"id: "):
                    id = int(line[4:])
                elif line.startswith(b"data: "):
                    data.append(line[6:])
                else:
                    raise TestFailure("unexpected line %r" % line[:100])
            return ("event", id, b"\n".join(data))

    def next_event(self, deadline):
        while True:
            item = self.next_item(deadline)
            if item[0] == "event":
                return item[1], item[2]


def expect_rows(stream, rows, deadline, what):
    """rows: [(id, i)]; checks the stream's next events are exactly those
    rows, ids and data byte for byte."""
    for id, i in rows:
        got_id, got = stream.next_event(deadline)
        check(got_id == id, "%s: event id %s, expected %d" % (what, got_id, id))
        want = big_row(i).encode()
        check(got == want, "%s: id %d: %d bytes differ from the %d published"
              % (what, id, len(got), len(want)))


@case("d3: 400 rows of 1 MiB (some of line breaks) nobody reads keep the worker "
      "under 128 MiB; resumed and live streams get every row byte-exact")
def t_ring_bytes(env):
    env.init_db()
    w = env.start_worker()
    lt = env.start_lighttpd(socket_path=w.sock)
    sentinel = Client(lt.port, "/events?channel=sentinel")
    sentinel.wait(lambda c: c.retries and c.comments, 5.0, "the sentinel stream did not start")

    ids = []
    with contextlib.closing(sqlite3.connect(env.db, timeout=10)) as con:
        for start in range(0, ROWS, 20):
            with con:
                for i in range(start, start + 20):
                    ids.append(con.execute(
                        "INSERT INTO events(channel, data) VALUES ('big', ?)",
                        (big_row(i),)).lastrowid)
    # The hub reads in id order: once the sentinel is delivered, every row
    # before it went through the hub.
    sentinel.wait_id(publish_py(env.db, "after the big rows", channel="sentinel"), 30.0)
    hwm = vm_kib(w.pid, "VmHWM")
    check(hwm < HWM_LIMIT_KIB, "worker peak RSS %d MiB after %d rows of 1 MiB (limit %d MiB)"
          % (hwm // 1024, ROWS, HWM_LIMIT_KIB // 1024))

    deadline = time.monotonic() + 45
    live = RawStream(lt.port, "/events?channel=big")
    resumed = RawStream(lt.port, "/events?channel=big", [("Last-Event-ID", str(ids[0] - 1))])
    try:
        while live.next_item(deadline)[0] != "comment":
            pass  # the stream has started: its cursor is the head
        more = [ROWS + 49, ROWS]  # one of line breaks, one of text
        more_ids = [publish_py(env.db, big_row(i), channel="big") for i in more]
        expect_rows(resumed, list(zip(ids, range(ROWS))) + list(zip(more_ids, more)),
                    deadline, "resumed stream")
        expect_rows(live, list(zip(more_ids, more)), deadline, "live stream")
    finally:
        live.close()
        resumed.close()
        sentinel.close()
    hwm = vm_kib(w.pid, "VmHWM")
    check(hwm < HWM_LIMIT_KIB, "worker peak RSS %d MiB after the streams (limit %d MiB)"
          % (hwm // 1024, HWM_LIMIT_KIB // 1024))


@case("d7: an open stream that meets a database fault ends with retry: "
      "error-retry-ms and ': error:', not as a replacement")
def t_fault_ending(env):
    env.init_db()
    with contextlib.closing(sqlite3.connect(env.db)) as con:
        mode = con.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
    check(mode == "delete", "journal_mode is %r" % mode)
    w = env.start_worker(busy_timeout_ms=200, error_retry_ms=12345)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = Client(lt.port, "/events")
    c.wait(lambda c: c.retries and c.comments, 5.0, "the stream did not start")
    # In rollback-journal mode an exclusive lock keeps every reader out; the
    # hub gives up after busy-timeout-ms: a fault.
    holder = sqlite3.connect(env.db, isolation_level=None, timeout=5)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        c.wait_end(10.0, "the stream did not end while the database was locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        c.close()
    texts = [t.strip() for t, _ in c.comments]
    check(c.retries[-1:] == [12345] and len(c.retries) == 2,
          "retry lines %s, expected the opening one and 12345; comments %s"
          % (c.retries, texts))
    check(texts[-1].startswith("error:"), "last comment %r, expected ': error: ...'"
          % texts[-1])
    check(not any("replaced" in t for t in texts), "comments %s" % texts)
    # The worker serves again once the lock is gone.
    again = connect_until_ok(lt.port, timeout=10.0)
    try:
        again.wait(lambda c: c.retries and c.comments, 5.0, "no stream after the fault")
        check(again.retries[0] == 3000, "a healthy stream got retry %s" % again.retries)
        again.wait_id(publish_py(env.db, "after the fault"), 5.0)
    finally:
        again.close()
