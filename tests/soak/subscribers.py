#!/usr/bin/env python3
# subscribers.py - the soak's subscriber process: many logical subscribers,
# each behaving as a browser's EventSource, over raw sockets through the web
# server, in one single-threaded event loop.
# SPDX-License-Identifier: MIT
#
# HTTP framing comes from the integration harness's Client; the body is
# parsed here by the WHATWG text/event-stream rules with a line splitter
# fast enough for thousands of events a second (Client's byte loop keeps
# every byte, which a long soak cannot afford).
#
# Like a browser, a subscriber reconnects when its stream ends or fails,
# after the last `retry:` it was sent, with Last-Event-ID = the last id it
# received; a 200 whose body is ": busy" or ": error: ..." just ends, so it
# reconnects later too. Unlike a browser it also reconnects after a non-200
# answer (as deploy/js/sselite.js does), and records that answer.
#
# Kinds: "steady" reads everything and now and then goes offline for a few
# seconds (lid closed) and resumes; "slow" has a small receive buffer, reads
# 2 KiB at a time (about twice its one channel's rate), sometimes stops
# reading for longer than the worker's write-timeout, and every 20-40 s
# reloads from an old id, so it reads a backlog slowly; "rewind" starts new sessions from ids it saw long ago (a page
# reloaded with an old id, by header or query); "churn" connections (at most
# a few at once) connect and leave within a second, some before the answer,
# some with a TCP reset.
#
# SIGUSR1 starts the drain: no more churn, stalls or rewinds; slow readers
# read at full speed; each subscriber stops when it has received the last id
# its channels had (from TARGETS). SIGTERM or the deadline ends at once.
# Writes OUT.bin (every subscriber's records, see checks.py), OUT.json
# (index and counters) and OUT.progress (events received, once a second).
#
# Usage: subscribers.py CONFIG.json

import collections
import json
import os
import random
import selectors
import signal
import socket
import sys
import time
import urllib.parse
from array import array

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import checks  # noqa: E402
from checks import OP_BADGAP, OP_EVENT, OP_GAP, OP_SESSION  # noqa: E402
from harness import Client  # noqa: E402

SLOW_RCVBUF = 4096
SLOW_READ = 2048
CHURN_MAX = 3

flags = {"drain": False, "stop": False}


def mono_ms():
    return int(time.monotonic() * 1000)


class Conn(Client):
    """One HTTP request of a subscriber; the body goes to its SSE parser."""

    def __init__(self, sub, port, path, headers, rcvbuf=None):
        self.sub = sub
        self._sse = None
        self._pend = b""
        self._skip_lf = False
        self._block_data = []
        self._block_type = b""
        self._block_id = None
        self._id_buf = sub.last_id
        self.got_event = False
        super().__init__(port, path, headers, rcvbuf=rcvbuf)
        self.sock.setblocking(False)

    def _feed_body(self, data, t, final=False):
        if self._sse is None:
            ctype = (self.header("content-type") or "").lower()
            self._sse = self.status == 200 and ctype.startswith("text/event-stream")
        if not self._sse:
            return
        if self._skip_lf and data[:1] == b"\n":
            data = data[1:]
        self._skip_lf = False
        buf = self._pend + data
        if b"\r" in buf:
            # A CR ends a line; an LF right after it (maybe in the next
            # read) belongs to the same line end.
            self._skip_lf = buf.endswith(b"\r")
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        lines = buf.split(b"\n")
        self._pend = lines.pop()
        for line in lines:
            self._sse_line(line)
        if final:
            self._pend = b""  # an unfinished event is dropped, as by a browser

    def _sse_line(self, line):
        if not line:
            self.sub.last_id = self._id_buf
            if self._block_data:
                self.got_event = True
                self.sub.on_event(self._block_id, self._block_type.decode("utf-8", "replace"),
                                  b"\n".join(self._block_data).decode("utf-8", "replace"))
            self._block_data, self._block_type, self._block_id = [], b"", None
            return
        if line[:1] == b":":
            self.sub.on_comment(line[1:])
            return
        name, colon, value = line.partition(b":")
        if colon and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._block_data.append(value)
        elif name == b"event":
            self._block_type = value
        elif name == b"id":
            if b"\0" not in value:
                self._block_id = value
                self._id_buf = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit():
                self.sub.retry_ms = int(value)


class Sub:
    """One logical subscriber (a browser page) and its records."""

    def __init__(self, loop, name, kind, channels, rng):
        self.loop, self.name, self.kind, self.channels, self.rng = loop, name, kind, channels, rng
        self.log = array("q")
        self.conn = None
        self.last_id = ""
        self.query_resume = None  # last_event_id= in the URL (rewind by query)
        self.retry_ms = 3000  # a browser's default until the server says
        self.next_connect = 0.0
        self.next_read = 0.0
        self.stall_until = 0.0
        self.next_offline = 0.0
        self.close_at = None
        self.history = collections.deque(maxlen=4000)
        self.target = None  # set by the drain: the last id of its channels
        self.done = False
        self.session_last = -1
        self.finished = False  # churn: its one connection is over
        self.connects = 0

    # -- records

    def rec(self, op, a=0, b=0, c=0):
        self.log.extend((op, a, b, c, mono_ms()))

    def start_session(self, resume, by_query=False):
        self.rec(OP_SESSION, -1 if resume is None else resume)
        # The newest id this session has (its resume point: it holds
        # everything up to there).
        self.session_last = -1 if resume is None else resume
        self.last_id = "" if resume is None or by_query else str(resume)
        self.query_resume = resume if by_query else None

    def on_event(self, id_field, etype, data):
        L = self.loop
        L.delivered += 1
        eid = int(id_field) if id_field and id_field.isdigit() else -1
        if etype == "sselite-gap":
            try:
                g = json.loads(data)
                ok = g.get("reason") == "pruned" and g["resumed_after"] == eid
                args = (g["requested"], g["resumed_after"], g["oldest"])
            except (ValueError, KeyError, TypeError):
                ok = False
            if ok:
                self.rec(OP_GAP, *args)
                L.counts["gap events"] += 1
            else:
                self.rec(OP_BADGAP, eid)
            return
        self.rec(OP_EVENT, eid, checks.event_crc(etype, data))
        if eid >= 0:
            self.history.append(eid)
            self.session_last = eid
            L.max_seen = max(L.max_seen, eid)
        if self.target is not None and eid >= self.target:
            self.done = True

    def on_comment(self, text):
        if text.startswith(b" busy"):
            self.loop.counts["busy answers"] += 1
        elif text.startswith(b" error"):
            self.loop.counts["error answers"] += 1
            self.loop.error_texts[text.decode("utf-8", "replace").strip()[:80]] += 1

    # -- connection life

    def path(self):
        q = [("channel", ch) for ch in self.channels]
        if self.query_resume is not None:
            q.append(("last_event_id", str(self.query_resume)))
        return "/events?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote, safe="")

    def connect(self, now):
        L = self.loop
        headers = [("Cache-Control", "no-cache")]
        if self.last_id:
            headers.append(("Last-Event-ID", self.last_id))
        self.connects += 1
        L.counts["connects"] += 1
        try:
            rcvbuf = SLOW_RCVBUF if self.kind == "slow" else None
            self.conn = Conn(self, L.port, self.path(), headers, rcvbuf=rcvbuf)
        except OSError:
            L.counts["connect failures"] += 1
            self.conn = None
            self.next_connect = now + self.retry_ms / 1000.0
            if self.kind == "churn":
                self.finished = True
            return
        if self.kind != "slow" or flags["drain"]:
            L.sel.register(self.conn.sock, selectors.EVENT_READ, self)
        self.next_read = now

    def end(self, now, why, delay=None):
        """Closes the connection; reconnects after retry (or delay)."""
        c = self.conn
        if c is None:
            return
        self.conn = None
        try:
            self.loop.sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        if why == "reset":
            c.abort()
        else:
            c.close()
        L = self.loop
        L.counts["ends: " + why] += 1
        if c.status is not None and c.status != 200:
            L.non200.append((mono_ms(), c.status))
        elif c.status == 200 and not c._sse:
            L.non200.append((mono_ms(), "200 %s" % c.header("content-type")))
        if self.kind == "churn":
            self.finished = True
        self.next_connect = now + (self.retry_ms / 1000.0 if delay is None else delay)

    def read(self, now, limit=65536):
        c = self.conn
        try:
            chunk = c.sock.recv(limit)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        t = c.now()
        if not chunk:
            c.eof = c.done = True
            c._feed_body(b"", t, final=True)
            self.end(now, "eof")
            return
        c._wire += chunk
        c._parse_wire(t)
        if c.status is not None and c.status != 200:
            self.end(now, "status")
        elif c.done:
            self.end(now, "end")

    def tick(self, now):
        L = self.loop
        drain = flags["drain"]
        if self.conn is None:
            if self.kind == "churn" or self.done or now < self.next_connect:
                return
            self.connect(now)
            return
        if self.kind == "churn":
            if now >= self.close_at or drain:
                self.end(now, "reset" if self.rng.random() < 0.5 else "close")
            return
        if drain:
            return
        if self.kind == "slow" and now >= self.next_offline:
            # A reload on a slow link: the backlog is then read slowly.
            if self.next_offline:
                self.rewind(now)
            self.next_offline = now + self.rng.uniform(20, 40)
        elif self.kind == "slow" and now >= self.next_read and now >= self.stall_until:
            self.read(now, SLOW_READ)
            self.next_read = now + self.rng.uniform(0.01, 0.1)
            if self.conn is not None and self.rng.random() < 0.0005:
                # Stop reading for longer than the worker's write-timeout.
                self.stall_until = now + L.stall_s
                L.counts["stalls"] += 1
        elif self.kind == "steady" and now >= self.next_offline:
            if self.next_offline:
                L.counts["offline pauses"] += 1
                self.end(now, "reset" if self.rng.random() < 0.3 else "close",
                         delay=self.rng.uniform(0.5, 5.0))
            self.next_offline = now + self.rng.uniform(8, 30)
        elif self.kind == "rewind" and now >= self.next_offline:
            if self.next_offline:
                self.rewind(now)
            self.next_offline = now + self.rng.uniform(4, 12)

    def rewind(self, now):
        """Starts a new session from an id seen long ago (a page reloaded
        with an old id, by header or query)."""
        if len(self.history) > 200:
            old = self.history[self.rng.randrange(0, len(self.history) // 2)]
            self.loop.counts["rewinds"] += 1
            self.end(now, "close", delay=0)
            self.start_session(old, by_query=self.rng.random() < 0.5)

    def drain_mode(self):
        if self.kind == "slow" and self.conn is not None:
            self.stall_until = 0.0
            self.loop.sel.register(self.conn.sock, selectors.EVENT_READ, self)


class Loop:
    def __init__(self, cfg):
        self.cfg = cfg
        self.port = cfg["port"]
        self.stall_s = cfg["stall_s"]
        self.sel = selectors.DefaultSelector()
        self.rng = random.Random(cfg["seed"])
        self.delivered = 0
        self.max_seen = 0
        self.counts = collections.Counter()
        self.error_texts = collections.Counter()
        self.non200 = []
        self.targets = None
        self.subs = []
        self.churn = []
        self.retired = []
        chans = cfg["channels"]
        n = 0
        for kind, count in (("steady", cfg["steady"]), ("slow", cfg["slow"]), ("rewind", cfg["rewind"])):
            for _ in range(count):
                n += 1
                width = 1 if kind == "slow" else self.rng.randint(1, 3)
                s = Sub(self, "%s-%d" % (kind, n), kind, self.rng.sample(chans, width),
                        random.Random(self.rng.random()))
                # Half start from the beginning of the log, half at its head.
                s.start_session(0 if n % 2 else None)
                s.next_connect = time.monotonic() + self.rng.uniform(0, 2)
                self.subs.append(s)

    def spawn_churn(self, now):
        self.churn = [s for s in self.churn if not s.finished]
        if flags["drain"] or len(self.churn) >= CHURN_MAX or self.rng.random() > 0.1:
            return
        s = Sub(self, "churn-%d" % (len(self.retired) + len(self.churn)), "churn",
                self.rng.sample(self.cfg["channels"], self.rng.randint(1, 2)),
                random.Random(self.rng.random()))
        resume = None
        if self.max_seen and self.rng.random() < 0.6:
            resume = max(0, self.max_seen - self.rng.randint(0, 500))
        s.start_session(resume)
        # Some leave before the answer can arrive, most within a second.
        s.close_at = now + (0 if self.rng.random() < 0.2 else self.rng.uniform(0.01, 1.0))
        self.retired.append(s)
        self.churn.append(s)
        s.connect(now)
        self.counts["churn connections"] += 1

    def start_drain(self, targets):
        self.targets = targets
        for s in self.subs:
            s.target = max([targets.get(ch, 0) for ch in s.channels])
            # From the current session only: one that rewound just before
            # the drain must read on from its old id (it once judged by the
            # whole history, and such a subscriber never reconnected).
            s.done = s.target == 0 or s.session_last >= s.target
            s.drain_mode()
            if s.conn is None:
                s.next_connect = min(s.next_connect, time.monotonic() + s.retry_ms / 1000.0)

    def run(self, deadline, progress):
        last_progress = 0.0
        while not flags["stop"] and time.monotonic() < deadline:
            now = time.monotonic()
            if flags["drain"] and self.targets is None:
                with open(self.cfg["targets"]) as f:
                    self.start_drain({k: int(v) for k, v in json.load(f).items()})
                drain_end = now + self.cfg["drain_s"]
            if self.targets is not None:
                if all(s.done for s in self.subs) or now >= drain_end:
                    break
            self.spawn_churn(now)
            for s in self.subs + self.churn:
                s.tick(now)
            for key, _ in self.sel.select(timeout=0.02):
                s = key.data
                if s.conn is not None:
                    s.read(now)
            if now - last_progress >= 1.0:
                last_progress = now
                with open(progress + ".tmp", "w") as f:
                    f.write("%d\n" % self.delivered)
                os.replace(progress + ".tmp", progress)
        for s in self.subs + self.churn:
            s.end(time.monotonic(), "close")
        with open(progress, "w") as f:
            f.write("%d\n" % self.delivered)

    def write(self, out):
        index = []
        off = 0
        with open(out + ".bin", "wb") as f:
            for s in self.subs + self.retired:
                s.log.tofile(f)
                index.append({"name": s.name, "kind": s.kind, "channels": s.channels,
                              "off": off, "n": len(s.log), "done": s.done, "connects": s.connects})
                off += len(s.log)
        with open(out + ".json", "w") as f:
            json.dump({"subscribers": index, "delivered": self.delivered, "counts": self.counts,
                       "error_texts": self.error_texts, "non200": self.non200,
                       "drained": self.targets is not None}, f)


def main():
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    signal.signal(signal.SIGUSR1, lambda s, f: flags.__setitem__("drain", True))
    signal.signal(signal.SIGTERM, lambda s, f: flags.__setitem__("stop", True))
    signal.signal(signal.SIGINT, lambda s, f: flags.__setitem__("stop", True))
    loop = Loop(cfg)
    try:
        loop.run(time.monotonic() + cfg["max_seconds"], cfg["out"] + ".progress")
    finally:
        loop.write(cfg["out"])
    return 0


if __name__ == "__main__":
    socket.setdefaulttimeout(5)
    sys.exit(main())
