# case_backlog.py - reliability cases for the backlog path and unreadable rows
# (lib/eventlog.c, lib/stream.c): a slow client resuming into a large backlog
# must not keep the -wal file from being checkpointed (probe D1); one row that
# cannot be read ends no stream and strands no resuming client (D6); a row
# with a BLOB channel reaches live and resumed streams alike, i.e. neither
# (D8).
# SPDX-License-Identifier: MIT

import contextlib
import os
import socket
import sqlite3
import threading
import time

from harness import Client, check, publish_many, publish_py, tail
from registry import case

MIB = 1024 * 1024


def open_stream(port, path, headers=None, timeout=5.0):
    c = Client(port, path, headers)
    c.wait_headers(timeout)
    check(c.status == 200, "GET %s: status %s, body %r" % (path, c.status, bytes(c.body[:200])))
    c.wait(lambda c: c.retries and c.comments, timeout, "no retry line and opening comment")
    return c


def worker_and_lighttpd(env, **opts):
    """Starts the worker on env.db (which must exist) and lighttpd."""
    w = env.start_worker(**opts)
    return w, env.start_lighttpd(socket_path=w.sock)


def not_ended(c, what):
    """Reads what has arrived and checks that the stream is still open."""
    c.wait(lambda c: False, 0.2)
    check(not c.done, "%s ended: %r" % (what, bytes(c.body[-200:])))


# ------------------------------------------------------------------- D1

BACKLOG_ROWS = 700          # of 32,000 bytes: 22 MB, far more than the socket
BACKLOG_SIZE = 32000        # buffers between the worker and the client hold
PUBLISH_SECONDS = 8.0
PUBLISH_RATE = 1000         # single-row commits per second, at most
PUBLISH_ROW = "p" * 1000
# With every commit checkpointed the -wal file stays near the auto-checkpoint
# size (1000 pages, 4 MB); the unfixed worker, whose backlog read holds its
# snapshot while it waits on the client, let it grow by every commit (about
# 16 KiB each: the table, two index pages and sqlite_sequence), past 100 MB.
WAL_LIMIT = 16 * MIB


class SlowPublisher(threading.Thread):
    """Single-row INSERTs on channel 'live', at most PUBLISH_RATE a second,
    for PUBLISH_SECONDS; self.rows counts them."""

    def __init__(self, db):
        super().__init__(daemon=True)
        self.db, self.rows, self.error = db, 0, None

    def run(self):
        try:
            with contextlib.closing(sqlite3.connect(self.db, timeout=5,
                                                    isolation_level=None)) as con:
                con.execute("PRAGMA synchronous = NORMAL")  # no fsync per commit
                t0 = time.monotonic()
                end = t0 + PUBLISH_SECONDS
                while time.monotonic() < end:
                    con.execute("INSERT INTO events(channel, data) VALUES ('live', ?)",
                                (PUBLISH_ROW,))
                    self.rows += 1
                    ahead = t0 + self.rows / PUBLISH_RATE - time.monotonic()
                    if ahead > 0:
                        time.sleep(ahead)  # pacing, not synchronisation
        except Exception as e:  # reported by the case
            self.error = e


@case("d1: a slow client resuming into a backlog does not make the WAL grow")
def t_slow_backlog_wal(env):
    env.init_db()
    big = "b" * BACKLOG_SIZE
    publish_many(env.db, [("old", None, big) for _ in range(BACKLOG_ROWS)])
    with contextlib.closing(sqlite3.connect(env.db, timeout=5)) as con:
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = env.db + "-wal"
    # Started after the backlog was written, so the resume is read from SQL.
    w, lt = worker_and_lighttpd(env, threads=4)

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", lt.port))
    sock.sendall(b"GET /events?channel=old HTTP/1.1\r\nHost: x\r\n"
                 b"Last-Event-ID: 1\r\n\r\n")
    got = bytearray()
    pub = SlowPublisher(env.db)
    pub.start()
    wal_max = 0
    next_read = time.monotonic()
    try:
        deadline = time.monotonic() + PUBLISH_SECONDS + 10
        while pub.is_alive() and time.monotonic() < deadline:
            if time.monotonic() >= next_read:
                # A client that reads 2 KB every half second.
                sock.settimeout(0.05)
                with contextlib.suppress(socket.timeout):
                    got += sock.recv(2048)
                next_read += 0.5
            with contextlib.suppress(FileNotFoundError):
                wal_max = max(wal_max, os.path.getsize(wal))
            time.sleep(0.05)  # sampling interval of the -wal size
        pub.join(10)
    finally:
        sock.close()
    check(pub.error is None, "publisher failed: %s" % pub.error)
    check(got.startswith(b"HTTP/1.1 200") and b"id: 2\n" in got,
          "the slow client got no backlog: %r" % bytes(got[:300]))
    check(pub.rows >= 2000, "the publisher managed only %d rows in %.0f s"
          % (pub.rows, PUBLISH_SECONDS))
    check(wal_max < WAL_LIMIT,
          "-wal grew to %.1f MB (limit %.0f MB) while %d rows were published"
          % (wal_max / MIB, WAL_LIMIT / MIB, pub.rows))
    print("#   d1: -wal peak %.1f MB, %d rows published" % (wal_max / MIB, pub.rows))
    check(w.alive(), "the worker died: %s" % tail(w.log))


# ------------------------------------------------------------------- D6

def handmade_db(path):
    """An events table made by hand, without NOT NULL on data, and a
    user_version the worker accepts."""
    with contextlib.closing(sqlite3.connect(path)) as con:
        con.executescript(
            "PRAGMA journal_mode=WAL;"
            "CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " channel TEXT NOT NULL DEFAULT 'default', event TEXT, data TEXT,"
            " created_at INTEGER);"
            "PRAGMA user_version = 1;")


@case("d6: a NULL-data row ends no stream and strands no resuming client")
def t_null_data_row(env):
    handmade_db(env.db)
    # A small ring, so the later resume is read from SQL.
    w, lt = worker_and_lighttpd(env, ring_events=16)
    x = open_stream(lt.port, "/events?channel=x")
    y = open_stream(lt.port, "/events?channel=y")
    a = publish_py(env.db, "a", channel="x")
    bad = publish_py(env.db, None, channel="x")
    b = publish_py(env.db, "b", channel="x")
    c = publish_py(env.db, "c", channel="y")
    x.wait_id(b, 5.0)
    y.wait_id(c, 5.0)
    check(x.ids() == [a, b], "live x got %s, want %s" % (x.ids(), [a, b]))
    check(y.ids() == [c], "live y got %s, want %s" % (y.ids(), [c]))
    # A bad row last in what the worker reads, then a good one.
    publish_py(env.db, None, channel="x")
    d = publish_py(env.db, "d", channel="x")
    x.wait_id(d, 5.0)
    publish_many(env.db, [("filler", None, "f") for _ in range(20)])
    for lei, want in (("0", [a, b, d]), (str(a), [b, d]), (str(bad), [b, d])):
        r = open_stream(lt.port, "/events?channel=x", {"Last-Event-ID": lei})
        r.wait_id(d, 5.0)
        not_ended(r, "the stream resumed from %s" % lei)
        check(r.ids() == want, "resumed from %s: got %s, want %s" % (lei, r.ids(), want))
        r.close()
    e = publish_py(env.db, "e", channel="y")
    y.wait_id(e, 5.0)
    not_ended(x, "the live stream of x")
    not_ended(y, "the live stream of y")
    x.close()
    y.close()
    with open(w.log, "rb") as f:
        log = f.read().decode("utf-8", "replace")
    check("event id=%d skipped" % bad in log, "no warning about row %d: %s" % (bad, tail(w.log)))


# ------------------------------------------------------------------- D8

@case("d8: a BLOB-channel row: live and resumed streams get the same rows")
def t_blob_channel(env):
    env.init_db()
    w, lt = worker_and_lighttpd(env, ring_events=16)
    live = open_stream(lt.port, "/events?channel=blobch")
    first = publish_py(env.db, "before", channel="blobch")
    with contextlib.closing(sqlite3.connect(env.db, timeout=5)) as con:
        # A table from before schema v3 (or edited by hand): neither its
        # CHECKs nor the v3 trigger stop the row.
        con.execute("PRAGMA ignore_check_constraints = ON")
        with con:
            con.execute("DROP TRIGGER IF EXISTS events_limits_insert")
            con.execute("INSERT INTO events(channel, data) VALUES (CAST('blobch' AS BLOB), 'r')")
    last = publish_py(env.db, "after", channel="blobch")
    live.wait_id(last, 5.0)
    publish_many(env.db, [("filler", None, "f") for _ in range(20)])
    resumed = open_stream(lt.port, "/events?channel=blobch", {"Last-Event-ID": "0"})
    resumed.wait_id(last, 5.0)
    check(live.ids() == resumed.ids(), "live got %s, resumed %s" % (live.ids(), resumed.ids()))
    check(live.ids() == [first, last], "got %s, want %s" % (live.ids(), [first, last]))
    live.close()
    resumed.close()


@case("d6: a database of a schema version the worker does not know is refused")
def t_unknown_schema_version(env):
    env.init_db()
    publish_py(env.db, "hello", channel="x")
    for version in (99, 0):
        with contextlib.closing(sqlite3.connect(env.db, timeout=5)) as con:
            con.execute("PRAGMA user_version = %d" % version)
        w = env.start_worker(sock=env.path("w-%d.sock" % version))
        lt = env.start_lighttpd(socket_path=w.sock)
        s = Client(lt.port, "/events?channel=x", {"Last-Event-ID": "0"})
        s.wait_end(5.0, "user_version %d: the stream was not refused" % version)
        body = bytes(s.body)
        check(b": error: database not initialised" in body and b"id: 1" not in body,
              "user_version %d: got %r" % (version, body[:300]))
        check(s.retries, "user_version %d: no retry: line" % version)
        check(w.alive(), "the worker died: %s" % tail(w.log))
        lt.stop()
        w.stop()
