# server_cases.py - the cases of the server suite; each runs against every
# deployment in deployments.py.
# SPDX-License-Identifier: MIT
#
# A case is a function (env, dep) -> optional detail string. env is a fresh
# harness.Env; dep is an unstarted Deployment, which the case starts with
# the settings it needs (dep.start(...)), and may restart with others
# (fresh_dep). Waits poll a condition with a deadline; the few sleeps hold a
# stream idle on purpose (that is what the timeout cases test).

import datetime
import re
import select
import statistics
import time
import zlib

import deployments as D
from harness import (Client, Publisher, TestFailure, check, connect_until_ok,
                     publish_many, publish_py, wait_until)

CASES = []
DELAYS = {}  # deployment name -> per-event delays (s) of case a

HEARTBEAT = 2      # seconds, for the cases that do not test timeouts
BUSY_RETRY = 4321  # ms; tells a "busy" answer from a stream (retry 3000)
PROMPT = 0.5       # an event later than this after its INSERT is late
STREAMS = 20       # the size of the concurrency case


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


# ----------------------------------------------------------------- helpers

class GzClient(Client):
    """A Client that sends Accept-Encoding and inflates a gzip or deflate
    body before parsing it, counting the compressed bytes."""

    def __init__(self, port, path="/events", headers=None, **kw):
        self._z = None
        self.wire_bytes = 0
        hdrs = dict(headers or {})
        hdrs.setdefault("Accept-Encoding", "gzip, deflate")
        super().__init__(port, path, hdrs, **kw)

    def encoding(self):
        return (self.header("content-encoding") or "").lower()

    def _feed_body(self, data, t, final=False):
        enc = self.encoding()
        if enc in ("gzip", "x-gzip", "deflate") and data:
            if self._z is None:
                self._z = zlib.decompressobj(31 if "gzip" in enc else 15)
            self.wire_bytes += len(data)
            data = self._z.decompress(data)
        super()._feed_body(data, t, final)


def open_stream(dep, query="", headers=None, timeout=3.0, cls=Client):
    """Opens a stream and waits until the worker has started it (status
    200, retry line and opening comment)."""
    c = cls(dep.port, dep.url(query), headers)
    c.wait_headers(timeout)
    check(c.status == 200, "GET %s: status %s, body %r"
          % (dep.url(query), c.status, bytes(c.body[:300])))
    c.wait(lambda c: c.retries and c.comments, timeout, "no retry line and opening comment")
    return c


def publish_await(db, clients, data, timeout=3.0):
    """Inserts one event, then waits until every client has it; returns
    (id, [delay per client]) with delay = receive time - time before the
    INSERT. Reads all clients as their sockets become readable."""
    t_pub = time.monotonic()
    id = publish_py(db, data)
    pump_until(clients, lambda c: any(e.id == str(id) for e in c.events), timeout,
               "event %s" % id)
    delays = []
    for c in clients:
        ev = next(e for e in c.events if e.id == str(id))
        delays.append(ev.t + c.t0 - t_pub)
    return id, delays


def pump_until(clients, pred, timeout, what):
    """Reads every client (select) until pred holds for all of them."""
    deadline = time.monotonic() + timeout
    while True:
        waiting = [c for c in clients if not pred(c)]
        if not waiting:
            return
        dead = [c for c in waiting if c.done]
        left = deadline - time.monotonic()
        if dead or left <= 0:
            c = (dead or waiting)[0]
            raise TestFailure("%s: %d of %d streams lack it (%s; status %s, %d events, body end %r)"
                              % (what, len(waiting), len(clients),
                                 "ended" if c.done else "timed out", c.status,
                                 len(c.events), bytes(c.body[-200:])))
        r, _, _ = select.select([c.sock for c in waiting], [], [], min(left, 0.5))
        for c in waiting:
            if c.sock in r:
                c.pump(time.monotonic() + 0.01)


def ms(x):
    return "%.1f ms" % (x * 1000)


def summary(delays):
    return "median %s, max %s" % (ms(statistics.median(delays)), ms(max(delays)))


def fresh_dep(env, dep):
    """Stops dep and returns a new, unstarted one of the same kind in the
    same temp dir (for a second configuration within one case)."""
    dep.stop()
    return type(dep)(env)


LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3})Z sselite-fcgi\[\d+\]: .*"
                      r"stream end .*reason=(\w+)")


def stream_ends(dep):
    """[(wall time, reason)] of every 'stream end' the worker logged."""
    out = []
    for path in dep.worker_logs():
        try:
            with open(path, errors="replace") as f:
                for line in f:
                    m = LOG_TIME.search(line)
                    if m:
                        t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f")
                        out.append((t.replace(tzinfo=datetime.timezone.utc).timestamp(),
                                    m.group(2)))
        except OSError:
            pass
    return out


def check_no_loss(got, published, what):
    dups = sorted({i for i in got if got.count(i) > 1})
    check(not dups, "%s: duplicated ids across reconnects: %s" % (what, dups))
    missing = sorted(set(published) - set(got))
    check(not missing, "%s: lost ids: %s" % (what, missing))
    check(got == sorted(got) and set(got) == set(published),
          "%s: ids out of order or unexpected: %s" % (what, got))


# ------------------------------------------------------------------- cases

@case("a. headers and retry at once; each event arrives without waiting for the next")
def t_prompt(env, dep):
    dep.start(heartbeat=HEARTBEAT, retry_ms=2500)
    c = Client(dep.port, dep.url())
    c.wait(lambda c: re.match(rb"retry: 2500\n\n:[^\r\n]*\n\n", bytes(c.body)), 2.0,
           "the body did not start with 'retry: 2500' and a comment within 2 s")
    check(c.status == 200, "status %s" % c.status)
    ct = (c.header("content-type") or "").replace(" ", "").lower()
    check(ct == "text/event-stream;charset=utf-8", "Content-Type %r" % c.header("content-type"))
    check(c.header("cache-control") == "no-cache", "Cache-Control %r" % c.header("cache-control"))
    first = c.t_headers
    check(first < PROMPT and c.t_first_body < PROMPT,
          "headers after %.3f s, first body bytes after %.3f s" % (first, c.t_first_body))
    check(not c.events and not c.done, "events %s, ended %s" % (c.events, c.done))
    delays = []
    for i in range(10):
        id, (dt,) = publish_await(env.db, [c], "event %d" % i)
        check(dt < PROMPT, "event %d (id %s) arrived %.3f s after its INSERT" % (i, id, dt))
        delays.append(dt)
    check([e.data for e in c.events] == ["event %d" % i for i in range(10)],
          "events %s" % c.events)
    c.close()
    DELAYS.setdefault(dep.name, []).extend(delays)
    return "headers %s; 10 events one at a time: %s" % (ms(first), summary(delays))


class Session:
    """A browser-like reader: one stream at a time; when it ends (or is
    cut), it reconnects with Last-Event-ID as EventSource does, retrying
    while the server or worker is away. got holds every id received, ends
    one (monotonic time, clean end?) per ended stream."""

    def __init__(self, dep):
        self.dep = dep
        self.got, self.ends = [], []
        self.c = open_stream(dep)

    def live(self):
        """Events received on the current stream."""
        return len(self.c.events)

    def pump(self, timeout):
        """Reads for up to timeout s; reconnects if the stream ended."""
        c = self.c
        c.wait(lambda c: c.done, timeout)
        if c.done:
            self.ends.append((time.monotonic(), c.clean_end))
            self.got += c.ids()
            c.close()
            last = self.got[-1] if self.got else None
            self.c = connect_until_ok(self.dep.port, self.dep.url(),
                                      {"Last-Event-ID": str(last)} if last else None,
                                      timeout=20.0)

    def until(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            check(left > 0, "%s: not within %.0f s (%d ids so far, %d stream ends)"
                  % (what, timeout, len(self.got) + self.live(), len(self.ends)))
            self.pump(min(left, 0.2))

    def close(self):
        self.got += self.c.ids()
        self.c.close()


@case("b. exact resume; kill -9 of the worker and a graceful restart lose and duplicate nothing")
def t_resume_crash_graceful(env, dep):
    dep.start(heartbeat=HEARTBEAT)
    # Resume points, by header and by query parameter, through this server.
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(5)])
    for what, q, h in (("Last-Event-ID", "", {"Last-Event-ID": str(ids[1])}),
                       ("last_event_id", "last_event_id=%d" % ids[1], None)):
        r = open_stream(dep, q, h)
        r.wait_id(ids[-1], 3.0)
        check(r.ids() == ids[2:], "resume by %s after %d: got %s, expected %s"
              % (what, ids[1], r.ids(), ids[2:]))
        r.close()

    pub = Publisher(env.db, interval=0.02, limit=100000, max_seconds=90)
    notes = []
    s = Session(dep)
    pub.start()
    try:
        s.until(lambda: s.live() >= 10, 5.0, "10 events")
        t = time.monotonic()
        killed = dep.kill_workers()
        s.until(lambda: s.ends, 10.0, "the stream to end after the worker was killed")
        notes.append("kill -9 %s: stream ended after %.1f s (%s)" % (
            ",".join(map(str, killed)), s.ends[-1][0] - t, "clean" if s.ends[-1][1] else "cut"))
        s.until(lambda: s.live() >= 10, 5.0, "10 events after the worker was killed")

        ends = len(s.ends)
        gen = dep.generation()
        t = time.monotonic()
        dep.graceful()
        # The stream either goes on (the old generation keeps serving it)
        # or ends (the server stops its workers) and resumes; once the
        # server has restarted, new streams must be served.
        s.until(lambda: dep.generation() > gen, 20.0, "the graceful restart to complete")
        restarted = time.monotonic() - t
        probe = connect_until_ok(dep.port, dep.url(), timeout=10.0)
        served = time.monotonic() - t
        probe.close()
        s.until(lambda: s.live() >= 10, 20.0, "10 events after the graceful restart")
        if len(s.ends) > ends:
            notes.append("%s: stream ended after %.1f s (%s), resumed" % (
                dep.graceful_name, s.ends[ends][0] - t, "clean" if s.ends[ends][1] else "cut"))
        else:
            notes.append("%s: stream went on" % dep.graceful_name)
        notes.append("restarted after %.1f s, new stream served after %.1f s" % (restarted, served))
    finally:
        published = pub.stop()
    s.until(lambda: published[-1] in s.got + s.c.ids(), 10.0, "the last published event")
    s.close()
    check_no_loss(s.got, published, "kill -9 and graceful restart")

    guard = dep.graceful_guard()
    if guard:
        # Control: without that setting, a graceful restart with a stream
        # open serves nothing new (the restart waits for the stream).
        dep = fresh_dep(env, dep)
        dep.start(heartbeat=HEARTBEAT, graceful_timeout=False)
        c = open_stream(dep)
        gen, begun = dep.generation(), dep.graceful_begun()
        dep.graceful()
        wait_until(lambda: dep.graceful_begun() > begun, 5.0, "lighttpd to begin the restart")
        probe = Client(dep.port, dep.url())
        answered = probe.wait(lambda p: p.status is not None, 3.0)
        c.wait(lambda c: c.done, 0.1)
        check(not answered and not c.done,
              "control: without %s a new request was answered (status %s after %.2f s) during "
              "the graceful restart; the open stream %s (after %.2f s)"
              % (guard, probe.status, probe.t_headers or -1,
                 "had ended" if c.done else "was still open", c.now()))
        notes.append("control, without %s: no answer to a new request for 3 s while a stream "
                     "stayed open" % guard)
        c.close()
        probe.close()
        # Once the stream is gone the restart completes.
        wait_until(lambda: dep.generation() > gen, 10.0, "the restart once the stream closed")
    return "%d events; %s" % (len(published), "; ".join(notes))


def served_stream(dep, timeout):
    """Opens streams until one is a real stream (not the busy answer);
    returns it, or raises after timeout s."""
    deadline = time.monotonic() + timeout
    while True:
        c = Client(dep.port, dep.url())
        ok = c.wait(lambda c: (c.retries and c.comments) or c.done,
                    max(0.05, deadline - time.monotonic()))
        if ok and c.retries == [3000] and not c.done:
            return c
        c.close()
        if time.monotonic() >= deadline:
            raise TestFailure("no stream within %.1f s (last answer: status %s, retry %s)"
                              % (timeout, c.status, c.retries))
        time.sleep(0.05)


def check_full(dep):
    """With every stream slot taken, a new request gets the busy answer
    (threaded workers) at once."""
    b = Client(dep.port, dep.url())
    b.wait_end(3.0, "no busy answer while every stream thread was taken")
    check(b.retries == [BUSY_RETRY] and not b.events,
          "expected the busy answer (retry %d): status %s, retry %s"
          % (BUSY_RETRY, b.status, b.retries))
    b.close()


@case("c. a client that disconnects frees its worker within one heartbeat")
def t_disconnect(env, dep):
    # One stream slot: max-streams 1 (streams hold no thread once parked),
    # or under mod_fcgid a single process.
    dep.start(heartbeat=HEARTBEAT, threads=2, max_streams=1, busy_retry_ms=BUSY_RETRY,
              max_procs=1)
    # One heartbeat, plus room for the probe comment the worker sends
    # 250 ms after each heartbeat (Apache notices a vanished client only on
    # its second failed write) and for a loaded machine. Two heartbeats
    # (4 s), the failure this catches, stay well outside.
    bound = HEARTBEAT + 0.75
    # mod_fcgid looks for a free process about once a second.
    serve_bound = bound + (1.0 if dep.per_process else 0.0)
    holder = open_stream(dep)
    procs = dep.worker_pids()
    notes, problems = [], []
    for how in ("reset (RST)", "close (FIN)"):
        if not dep.per_process:
            check_full(dep)
        seen = len(stream_ends(dep))
        t_wall, t = time.time(), time.monotonic()
        if how.startswith("reset"):
            holder.abort()
        else:
            holder.close()
        if dep.per_process:
            # The request waits in mod_fcgid for the one process.
            nxt = Client(dep.port, dep.url())
            nxt.wait(lambda c: c.retries and c.comments, 3 * HEARTBEAT + 2,
                     "after a %s: the next stream was not served" % how)
        else:
            nxt = served_stream(dep, 3 * HEARTBEAT + 2)
        served = time.monotonic() - t
        freed = [max(0.0, w - t_wall) for w, reason in stream_ends(dep)[seen:]
                 if reason == "client_gone"]
        freed_s = ("worker logged client_gone after %.2f s" % min(freed)) if freed else \
            "no client_gone line in the worker log"
        notes.append("%s: next stream after %.2f s, %s" % (how, served, freed_s))
        if freed and min(freed) > bound:
            problems.append("GET %s, idle stream, client %s: expected the worker to log "
                            "client_gone within %.1f s (heartbeat %d s), got %.2f s"
                            % (dep.url(), how, bound, HEARTBEAT, min(freed)))
        if served > serve_bound:
            problems.append("the next GET %s after the %s: expected a stream within %.1f s, "
                            "got one after %.2f s" % (dep.url(), how, serve_bound, served))
        holder = nxt
    if dep.per_process:
        check(dep.worker_pids() == procs,
              "worker processes %s, expected the same single one %s" % (dep.worker_pids(), procs))
    id = publish_py(env.db, "still live")
    holder.wait_id(id, 3.0)
    holder.close()
    check(not problems, "; ".join(problems) + " [%s]" % "; ".join(notes))
    return "; ".join(notes)


@case("d. heartbeats keep a stream past the server's (short) timeouts; without the shipped "
      "streaming setting events are late")
def t_timeouts(env, dep):
    notes = []
    # 1. Timeouts SHORT (3 s), heartbeat 1 s: idle for over twice the
    # timeout, the stream lives (under mod_fcgid, whose busy timeout counts
    # from the start of the request, streams end cleanly at max-lifetime
    # and resume; none is cut).
    lifetime = D.SHORT + 1 if dep.per_process else None
    dep.start(heartbeat=1, short_timeouts=True, max_lifetime=lifetime)
    hold = 2 * D.SHORT + 1
    c = open_stream(dep)
    segments, last = [], ""
    t = time.monotonic()
    while True:
        left = hold - (time.monotonic() - t)
        if left <= 0:
            break
        c.wait(lambda c: c.done, left)
        if not c.done:
            break
        body = bytes(c.body)
        check(lifetime and c.clean_end and body.endswith(b"\n\n") and b"<html" not in body.lower(),
              "the idle stream was cut after %.1f s (server timeouts %d s, heartbeat 1 s): %r"
              % (c.now(), D.SHORT, body[-300:]))
        segments.append(c.now())
        last = c.last_id or last
        c.close()
        c = connect_until_ok(dep.port, dep.url(), {"Last-Event-ID": last} if last else None,
                             timeout=5.0)
    beats = len(c.comments)
    id, (dt,) = publish_await(env.db, [c], "after the idle time")
    check(dt < PROMPT, "the event after %d idle seconds took %.3f s" % (hold, dt))
    c.close()
    if segments:
        notes.append("idle %d s with timeouts %d s: %d clean max-lifetime ends (%s), then event in %s"
                     % (hold, D.SHORT, len(segments), ", ".join("%.1f s" % s for s in segments),
                        ms(dt)))
    else:
        notes.append("idle %d s with timeouts %d s: alive (%d comments), then event in %s"
                     % (hold, D.SHORT, beats, ms(dt)))

    # 2. Control: a heartbeat longer than those timeouts gets the stream
    # cut, so the timeouts above were real.
    dep = fresh_dep(env, dep)
    dep.start(heartbeat=4 * D.SHORT, short_timeouts=True)
    c = open_stream(dep)
    seen = len(stream_ends(dep))
    # The worker logs the end as soon as the server drops its connection;
    # the client may learn it later (Apache keeps the connection for its
    # KeepAliveTimeout after a failed proxied response).
    ended = lambda: c.done or len(stream_ends(dep)) > seen  # noqa: E731
    deadline = time.monotonic() + D.SHORT + 4.0
    while not ended() and time.monotonic() < deadline:
        c.wait(lambda c: c.done, 0.1)
    check(ended(), "control: with heartbeat %d s the stream was not cut by the %d s timeout "
          "within %.0f s" % (4 * D.SHORT, D.SHORT, D.SHORT + 4.0))
    t_cut = c.now()
    c.wait_end(10.0, "control: the client never saw the cut stream end")
    notes.append("control, heartbeat %d s: cut after %.1f s%s" % (
        4 * D.SHORT, t_cut, "" if c.now() - t_cut < 1 else
        " (the client saw the end after %.1f s)" % c.now()))
    c.close()

    if dep.per_process:
        # 2b. Control: without max-lifetime, FcgidBusyTimeout (counted from
        # the start of the request) cuts even a stream with heartbeats.
        dep = fresh_dep(env, dep)
        dep.start(heartbeat=1, short_timeouts=True, max_lifetime=0)
        c = open_stream(dep)
        c.wait_end(2 * D.SHORT + 6.0, "control: FcgidBusyTimeout %d did not cut the stream"
                   % (2 * D.SHORT))
        html = b"<html" in bytes(c.body).lower()
        notes.append("control, no max-lifetime: cut by FcgidBusyTimeout %d after %.1f s%s"
                     % (2 * D.SHORT, c.now(), " (HTML error page appended)" if html else ""))
        c.close()

    # 3. Negative control: the shipped streaming directive removed (the
    # server's buffering default): the first event does not come promptly.
    dep = fresh_dep(env, dep)
    dep.start(heartbeat=HEARTBEAT, unbuffered=False)
    c = Client(dep.port, dep.url())
    c.wait(lambda c: c.status is not None, 0.5)
    t_pub = time.monotonic()
    id = publish_py(env.db, "buffered?")
    arrived = c.wait(lambda c: any(e.id == str(id) for e in c.events), 2.5)
    check(not arrived, "negative control: without %s the event still arrived after %.3f s"
          % (dep.buffering_directive(), time.monotonic() - t_pub))
    notes.append("without %s: no event in 2.5 s (%s, %d body bytes)"
                 % (dep.buffering_directive(),
                    "headers after %.2f s" % c.t_headers if c.status else "no headers",
                    len(c.body)))
    c.abort()

    if isinstance(dep, D.Nginx):
        # The worker's own "X-Accel-Buffering: no" alone (buffering on in
        # the config) also streams: the snippet's line is a second guard.
        dep = fresh_dep(env, dep)
        dep.start(heartbeat=HEARTBEAT, unbuffered="header")
        c = open_stream(dep)
        id, (dt,) = publish_await(env.db, [c], "header only")
        check(dt < PROMPT, "fastcgi_buffering on with the X-Accel-Buffering header: event after "
              "%.3f s" % dt)
        notes.append("fastcgi_buffering on, X-Accel-Buffering: no honoured: event in %s" % ms(dt))
        c.close()
    return "; ".join(notes)


@case("e. %d simultaneous streams each get every event" % STREAMS)
def t_concurrency(env, dep):
    # Sized for STREAMS: max-streams STREAMS held by 4 threads (streams are
    # parked without one), or under mod_fcgid STREAMS processes.
    dep.start(heartbeat=HEARTBEAT, threads=4, max_streams=STREAMS, busy_retry_ms=BUSY_RETRY,
              max_procs=STREAMS)
    t = time.monotonic()
    clients = [Client(dep.port, dep.url()) for _ in range(STREAMS)]
    pump_until(clients, lambda c: c.retries and c.comments, 15.0, "stream start")
    started = time.monotonic() - t
    bad = [c.status for c in clients if c.status != 200 or c.retries != [3000] or c.done]
    check(not bad, "streams not served normally: statuses %s" % bad)
    extra = ""
    if dep.per_process:
        n = len(dep.worker_pids())
        check(n >= STREAMS, "%d worker processes for %d streams" % (n, STREAMS))
        extra = "%d processes; " % n
    else:
        check_full(dep)
        extra = "stream %d got the busy answer; " % (STREAMS + 1)
    worst, ids = [], []
    for i in range(10):
        id, delays = publish_await(env.db, clients, "to all %d" % i, timeout=5.0)
        ids.append(id)
        worst.append(max(delays))
    for c in clients:
        check(c.ids() == ids, "a stream got ids %s, expected %s" % (c.ids(), ids))
        c.close()
    return "all %d started in %.1f s; %s10 events to all, slowest stream per event: %s" % (
        STREAMS, started, extra, summary(worst))


def compressed_run(env, dep, clients_note):
    c = open_stream(dep, cls=GzClient, headers={"Accept-Encoding": "gzip, deflate"})
    delays = []
    for i in range(5):
        id, (dt,) = publish_await(env.db, [c], "compressible %d " % i + "x" * 200)
        check(dt < PROMPT, "%s: event %d took %.3f s" % (clients_note, i, dt))
        delays.append(dt)
    enc = c.encoding() or "none"
    wire = c.wire_bytes if c._z is not None else len(c.body)
    c.close()
    return "%s: Content-Encoding %s, %d bytes on the wire for %d, events %s" % (
        clients_note, enc, wire, len(c.body), summary(delays))


@case("f. compression enabled server-wide does not hold events back")
def t_compression(env, dep):
    dep.start(heartbeat=HEARTBEAT, compress=True)
    notes = [compressed_run(env, dep, "shipped config")]
    if dep.gzip_guard():
        # The same without the shipped line that keeps /events uncompressed:
        # compressed, and still prompt.
        dep = fresh_dep(env, dep)
        dep.start(heartbeat=HEARTBEAT, compress=True, gzip_guard=False)
        notes.append(compressed_run(env, dep, "without %s" % dep.gzip_guard()))
    return "; ".join(notes)


class Reconnector:
    """A client that always wants a stream, reconnecting at once with
    Last-Event-ID whenever one ends or is refused (as a page that opens a
    new EventSource would; sselite.js does so after a refusal). A poller
    also closes each stream itself once it has an event and is HOLD s old,
    so that it sends requests all the time, also while a worker is down.
    got holds every id received; answers one (time sent, status or error,
    was a stream, time the stream started or None) per request."""

    PAUSE = 0.05  # s between a refused request and the next
    HOLD = 0.25   # s a poller keeps each stream

    def __init__(self, dep, poller=False):
        self.dep, self.poller = dep, poller
        self.got, self.answers = [], []
        self.c, self.t_sent, self.retry_at = None, 0.0, 0.0
        self.connect()

    def connect(self):
        self.c = None
        last = self.got[-1] if self.got else None
        self.t_sent = time.monotonic()
        try:
            self.c = Client(self.dep.port, self.dep.url(),
                            {"Last-Event-ID": str(last)} if last else None)
        except OSError as e:
            self.finish("connect: %s" % e)

    def finish(self, answer, stream=False):
        """Records the current request's answer and schedules the next."""
        c = self.c
        t_stream = c.t0 + c.comments[0][1] if stream and c.comments else None
        self.answers.append((self.t_sent, answer, stream, t_stream))
        if self.c is not None:
            self.got += self.c.ids()
            self.c.close()
            self.c = None
        self.retry_at = time.monotonic() + (0.0 if stream else self.PAUSE)

    def streaming(self):
        c = self.c
        return c is not None and c.status == 200 and bool(c.retries and c.comments)

    def step(self, readable):
        """Reads what arrived (readable: the socket is ready), then ends or
        replaces the request as needed."""
        c = self.c
        if c is None:
            if time.monotonic() >= self.retry_at:
                self.connect()
            return
        if readable:
            c.pump(time.monotonic() + 0.01)
        if c.status is not None and c.status != 200:
            self.finish("status %d" % c.status)
        elif c.done:
            self.finish("status %s" % c.status if c.status else "closed without an answer",
                        stream=bool(c.retries and c.comments))
        elif self.poller and self.streaming() and c.events and c.now() >= self.HOLD:
            self.finish("status 200", stream=True)

    def ids(self):
        return self.got + (self.c.ids() if self.c is not None else [])

    def state(self):
        """What the client is doing, for a failure message."""
        c, n = self.c, len(self.ids())
        if c is None:
            return "between requests, %d ids" % n
        return "request sent %.2f s ago, status %s, %s, %d ids" % (
            time.monotonic() - self.t_sent, c.status,
            "streaming" if self.streaming() else "no stream yet", n)


def fresh_events(clients, n):
    """A condition: every client has n more ids than now, and every one
    but the pollers is on a live stream."""
    marks = [len(r.ids()) for r in clients]
    return lambda: all((r.poller or r.streaming()) and len(r.ids()) >= m + n
                       for r, m in zip(clients, marks))


def run_clients(clients, until, timeout, what):
    """Drives every Reconnector (select) until until() holds."""
    deadline = time.monotonic() + timeout
    while not until():
        left = deadline - time.monotonic()
        check(left > 0, "%s: not within %.0f s (%s)" % (
            what, timeout, "; ".join("client %d: %s" % (i, r.state()) for i, r in enumerate(clients))))
        socks = [r.c.sock for r in clients if r.c is not None]
        ready = select.select(socks, [], [], min(left, 0.02))[0] if socks else []
        for r in clients:
            r.step(r.c is not None and r.c.sock in ready)


KILLS = 3
SPACING = 1.0  # s at least between two kills
SESSIONS = 4   # stay on one stream until it ends, then reconnect at once
POLLERS = 2    # also reconnect every Reconnector.HOLD seconds
RESTART = D.RESTART_MS / 1000.0  # s from a death to the restart (RestartSec)


def kills_under_clients(env, dep, kill, kills=KILLS):
    """Runs SESSIONS + POLLERS Reconnectors under a publisher and calls
    kill() kills times, SPACING s apart and once every client has fresh
    events; kill returns (time killed, time the worker was gone, time a new
    worker listens or None). Checks that every client got every event
    exactly once. Returns (a summary in words, [one dict per kill]), each
    dict holding, in seconds after the kill: gone (the killed worker had
    exited), up (the new one listened, or None), back (every client had a
    stream again), and the requests that got no stream as [(time sent,
    answer)]: died, sent before the worker was gone (it may have taken
    them along), and refused, sent after."""
    pub = Publisher(env.db, interval=0.02, limit=100000, max_seconds=60)
    clients = [Reconnector(dep) for _ in range(SESSIONS)] + \
        [Reconnector(dep, poller=True) for _ in range(POLLERS)]
    done = []
    # A stream without Last-Event-ID starts at the newest event: every
    # client must be on one before the first is published.
    run_clients(clients, lambda: all(r.streaming() for r in clients), 10.0,
                "every client on a stream")
    pub.start()
    try:
        for k in range(kills + 1):
            t = time.monotonic()
            fresh = fresh_events(clients, 3)
            run_clients(clients, lambda: fresh() and time.monotonic() - t >= SPACING, 15.0,
                        "%s: 3 new events for every client" % (
                            "before kill %d" % (k + 1) if k < kills else "after the last kill"))
            if k < kills:
                done.append(kill(clients))
    finally:
        published = pub.stop()
    run_clients(clients, lambda: all(published[-1] in r.ids() for r in clients), 10.0,
                "every client to get the last published event")
    for r in clients:
        if r.c is not None:
            r.finish("status %s" % r.c.status, stream=True)
    for i, r in enumerate(clients):
        check_no_loss(r.ids(), published, "client %d" % i)
    out = []
    for n, (tk, tg, tu) in enumerate(done):
        end = done[n + 1][0] if n + 1 < len(done) else float("inf")
        bad = sorted((t - tk, answer) for r in clients for t, answer, stream, _ in r.answers
                     if not stream and tk <= t < end)
        out.append({
            "gone": tg - tk, "up": None if tu is None else tu - tk,
            "back": max(min(ts for _, _, _, ts in r.answers if ts is not None and ts > tk) - tk
                        for r in clients),
            "died": [b for b in bad if b[0] <= tg - tk],
            "refused": [b for b in bad if b[0] > tg - tk]})
    requests = sum(len(r.answers) for r in clients)
    return "%d events, %d requests" % (len(published), requests), out


def kill_note(n, k):
    """One kill's summary (see kills_under_clients) in words."""
    ref = k["refused"]
    kinds = sorted({a for _, a in ref})
    return "kill %d: worker gone after %s%s, streams back after %s, %d refused%s%s" % (
        n + 1, ms(k["gone"]), "" if k["up"] is None else ", listening again after %s" % ms(k["up"]),
        ms(k["back"]), len(ref),
        " (%s) from %.3f to %.3f s" % (", ".join("%d x %s" % (sum(a == x for _, a in ref), x)
                                                 for x in kinds), ref[0][0], ref[-1][0])
        if ref else "",
        ", %d died in flight (%s)" % (len(k["died"]), ", ".join(sorted({a for _, a in k["died"]})))
        if k["died"] else "")


@case("g. kill -9 of the worker under reconnecting clients: every request after the kill "
      "gets a stream (200), and no event is lost or repeated")
def t_restart(env, dep):
    # The shipped recipe: the server restarts a spawned worker; systemd
    # (socket_unit.py here) a standalone one, keeping its socket open.
    dep.start(heartbeat=HEARTBEAT)

    def kill(clients):
        t = time.monotonic()
        dep.kill_workers()
        return t, time.monotonic(), None
    summary, kills = kills_under_clients(env, dep, kill)
    note = "%s; %s" % (summary, "; ".join(kill_note(n, k) for n, k in enumerate(kills)))
    refused = [a for k in kills for _, a in k["refused"]]
    kinds, bound = dep.restart_refusals or ((), dep.restart_recovery)
    slow = ["kill %d: %.1f s" % (n + 1, k["back"]) for n, k in enumerate(kills) if k["back"] > bound]
    check(not slow, "every client must stream again within %.1f s of a kill (%s): %s"
          % (bound, ", ".join(slow), note))
    if not kinds:
        check(not refused, "requests refused after a kill: " + note)
    else:
        # A known limit of this deployment (deploy/README.md): refusals,
        # but only of the kinds documented.
        odd = sorted(set(refused) - set(kinds))
        check(not odd, "refusals other than %s (%s): %s" % ("/".join(kinds), odd, note))
        if refused:
            note += " (a documented limit of %s)" % dep.name
    return note


@case("h. a worker run with --listen (no socket activation), back 100 ms after kill -9: "
      "refusals end once it listens (lighttpd: within disable-time)")
def t_restart_listen(env, dep):
    if not dep.standalone:
        return "not applicable: the server spawns the worker"
    dep.start(heartbeat=HEARTBEAT, socket_unit=False)

    def kill(clients):
        t = time.monotonic()
        dep.kill_workers(restart=False)
        tg = time.monotonic()
        # A supervisor's RestartSec, while the clients go on.
        run_clients(clients, lambda: time.monotonic() - tg >= RESTART, 5.0, "the restart delay")
        dep.start_worker()
        return t, tg, time.monotonic()
    summary, kills = kills_under_clients(env, dep, kill, kills=2)
    note = "%s; %s" % (summary, "; ".join(kill_note(n, k) for n, k in enumerate(kills)))
    grace = dep.listen_refusals
    late = [(n + 1, dt - k["up"], a) for n, k in enumerate(kills) for dt, a in k["refused"]
            if dt > k["up"] + grace]
    check(not late, "refused more than %.2f s after the worker listened again (%s): %s"
          % (grace, "; ".join("kill %d: %.3f s after, %s" % x for x in late[-3:]), note))
    return note


def heartbeats_after(c, t):
    """Heartbeat comments c received after its time t."""
    return sum(1 for text, at in c.comments if text == " heartbeat" and at > t)


@case("i. streams parked without a thread: every event, heartbeats and max-lifetime while "
      "parked, hang-up frees the slot")
def t_parked(env, dep):
    # Three times as many streams as threads: all but the hand-shakes in
    # progress are parked in the worker's event loop (under mod_fcgid each
    # process parks its one stream).
    n = 6
    # mod_fcgid starts a process per stream, about one a second.
    lifetime = 10 if dep.per_process else 5
    dep.start(heartbeat=1, threads=2, max_lifetime=lifetime, busy_retry_ms=BUSY_RETRY,
              max_procs=n)
    if dep.per_process:
        clients = [Client(dep.port, dep.url()) for _ in range(n)]
        pump_until(clients, lambda c: c.retries and c.comments, 15.0, "stream start")
    else:
        # One at a time: two hand-shakes at once on 2 threads would get
        # the busy answer (one thread is kept free for it).
        clients = [open_stream(dep) for _ in range(n)]
    for c in clients:
        check(c.retries == [3000] and not c.done, "a stream got the busy answer")
    ids = []
    for i in range(5):
        id, _ = publish_await(env.db, clients, "parked %d" % i, timeout=5.0)
        ids.append(id)
    for c in clients:
        check(c.ids() == ids, "a parked stream got ids %s, expected %s" % (c.ids(), ids))
    t = max(c.now() for c in clients)
    pump_until(clients, lambda c: heartbeats_after(c, t) >= 2, 4.0,
               "two heartbeats while parked (heartbeat 1 s)")
    # max-lifetime 5: each ends cleanly, with the comment, after a whole event.
    pump_until(clients, lambda c: c.done, lifetime + 3.0,
               "the max-lifetime end of a parked stream")
    for c in clients:
        check(c.status == 200 and any("lifetime reached" in text for text, _ in c.comments),
              "a parked stream ended without the lifetime comment: %r" % bytes(c.body[-120:]))
        c.close()
    # Resume loses nothing, and a client that leaves frees its stream.
    last = ids[-1]
    more = publish_py(env.db, "after the end")
    r = open_stream(dep, headers={"Last-Event-ID": str(last)})
    r.wait_id(more, 3.0)
    check(r.ids() == [more], "resumed stream got %s, expected [%d]" % (r.ids(), more))
    seen = len(stream_ends(dep))
    t_wall = time.time()
    r.abort()
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        gone = [w for w, reason in stream_ends(dep)[seen:] if reason == "client_gone"]
        if gone:
            break
        time.sleep(0.05)
    check(gone, "no client_gone logged within 3 s of a parked stream's client leaving")
    return "%d streams on 2 threads got %d events, 2 heartbeats and the lifetime end; " \
        "client_gone %.2f s after a reset" % (n, len(ids), max(0.0, min(gone) - t_wall))
