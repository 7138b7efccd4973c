# cases.py - the integration cases: sselite-fcgi behind a real lighttpd.
# SPDX-License-Identifier: MIT
#
# Each case gets a fresh Env (temp dir, database) and checks one behaviour of
# the worker spec (/work/notes/context.md, "Worker behaviour") end to end:
# lighttpd 1.4 with stream-response-body = 2, either spawning the worker
# (bin-path, max-procs 1) or connecting to one started with --listen.

import json
import os
import re
import signal
import time

from harness import (Client, Publisher, TestFailure, check, connect_until_ok,
                     prune_keep, publish_cli, publish_many, publish_py,
                     publish_sqlite3, request, tail, wait_until)

CASES = []


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


# ----------------------------------------------------------------- helpers

def spawned(env, **settings):
    """Initialises env.db and starts lighttpd spawning the worker with
    SSELITE_DB plus SSELITE_<SETTING> for each keyword argument."""
    env.init_db()
    se = {"SSELITE_DB": env.db}
    for k, v in settings.items():
        se["SSELITE_" + k.upper()] = str(v)
    return env.start_lighttpd(spawn_env=se)


def standalone(env, **opts):
    """Initialises env.db, starts the worker with --listen, and lighttpd."""
    env.init_db()
    w = env.start_worker(**opts)
    return w, env.start_lighttpd(socket_path=w.sock)


def open_stream(port, query="", headers=None, timeout=3.0):
    """Opens a stream and waits for its status, retry line and opening
    comment, i.e. until the worker has started the response."""
    c = Client(port, "/events" + ("?" + query if query else ""), headers)
    c.wait_headers(timeout)
    check(c.status == 200, "GET /events?%s: status %s, body %r" % (query, c.status, bytes(c.body[:200])))
    c.wait(lambda c: c.retries and c.comments, timeout, "no retry line and opening comment")
    return c


def expect_ids(c, want, what):
    got = c.ids()
    check(got == want, "%s: got ids %s, expected %s" % (what, got, want))


def check_backlogs(env, lt, variants):
    """variants: name -> (query, headers, expected backlog ids). Opens every
    stream, awaits its backlog, publishes one new event, and checks that each
    stream got exactly its backlog and then the new event."""
    streams = {}
    for name, (q, h, backlog) in variants.items():
        streams[name] = open_stream(lt.port, q, h)
        if backlog:
            streams[name].wait_id(backlog[-1], 3.0)
    new = publish_py(env.db, "new")
    for name, (q, h, backlog) in variants.items():
        c = streams[name]
        c.wait_id(new, 3.0)
        expect_ids(c, backlog + [new], name)
        c.close()


def final_is_comment(c):
    """True if the stream ended on a whole block and its last block was a
    comment (the worker's closing comment)."""
    return not c.pending() and c.items and c.items[-1][0] == "comment" \
        and bytes(c.body).endswith(b"\n\n")


# ------------------------------------------------------------------- cases

@case("headers and retry arrive at once, before any event")
def t_headers(env):
    lt = spawned(env, retry_ms=2500)
    c = Client(lt.port, "/events")
    c.wait_headers(2.0)
    check(c.status == 200, "status %s" % c.status)
    ct = (c.header("content-type") or "").replace(" ", "").lower()
    check(ct == "text/event-stream;charset=utf-8", "Content-Type %r" % c.header("content-type"))
    check(c.header("cache-control") == "no-cache", "Cache-Control %r" % c.header("cache-control"))
    check(c.header("x-accel-buffering") == "no", "X-Accel-Buffering %r" % c.header("x-accel-buffering"))
    check(c.t_headers < 1.0, "headers took %.2f s" % c.t_headers)
    c.wait(lambda c: re.match(rb"retry: 2500\n\n:[^\r\n]*\n\n", bytes(c.body)), 1.0,
           "body did not start with 'retry: 2500' and a comment within 1 s")
    check(c.t_first_body < 1.0, "first body bytes after %.2f s" % c.t_first_body)
    check(c.retries == [2500] and not c.events and not c.done,
          "retries %s, events %s, ended %s" % (c.retries, c.events, c.done))
    c.close()


@case("HEAD gets the stream headers and no body")
def t_head(env):
    lt = spawned(env)
    c = request(lt.port, method="HEAD", timeout=3.0)
    check(c.status == 200, "status %s" % c.status)
    ct = (c.header("content-type") or "").replace(" ", "").lower()
    check(ct == "text/event-stream;charset=utf-8", "Content-Type %r" % c.header("content-type"))
    check(not c.body, "HEAD response had a body %r" % bytes(c.body[:100]))


@case("live delivery from sselite publish, the sqlite3 shell and python sqlite3")
def t_live(env):
    lt = spawned(env)
    c = open_stream(lt.port)
    pubs = [("sselite publish", lambda d: publish_cli(env.db, d)),
            ("sqlite3 shell", lambda d: publish_sqlite3(env.db, d)),
            ("python sqlite3", lambda d: publish_py(env.db, d))]
    want = []
    for name, pub in pubs:
        for i in range(3):
            data = "%s #%d" % (name, i)
            t = c.now()
            id = pub(data)
            want.append((str(id), data))
            # Await this event before publishing the next: each one must
            # arrive on its own, not flushed out by a later one.
            c.wait(lambda c: len(c.events) >= len(want), 3.0,
                   "event %s from %s did not arrive within 3 s" % (id, name))
            ev = c.events[len(want) - 1]
            check((ev.id, ev.data) == want[-1], "got %r, expected id %s data %r" % (ev, id, data))
            check(ev.t - t < 1.0, "event %s from %s took %.2f s" % (id, name, ev.t - t))
    got = [(e.id, e.data) for e in c.events]
    check(got == want, "stream %s != published %s" % (got, want))
    check(all(e.type == "message" for e in c.events), "unexpected event types")
    c.close()


@case("event type and multi-line data are framed per spec")
def t_framing(env):
    lt = spawned(env)
    c = open_stream(lt.port)
    samples = [(None, "plain"), ("update", '{"n":1}'), ("", "empty type"),
               (None, "a\nb"), (None, "a\r\nb\rc\n\nd"), (None, ""), (None, "x\n"),
               (None, "  two spaces"), (None, ": not a comment"), (None, "caf\u00e9 \u2603")]
    ids = []
    for ev, data in samples:
        ids.append(publish_py(env.db, data, event=ev))
        c.wait_id(ids[-1], 3.0)
    for (ev, data), id, got in zip(samples, ids, c.events):
        want = (str(id), ev or "message", re.sub(r"\r\n|\r", "\n", data))
        check((got.id, got.type, got.data) == want, "got %r, expected %r" % (got, want))
    body = bytes(c.body)
    for frag in (b"id: %d\nevent: update\ndata: {\"n\":1}\n\n" % ids[1],
                 b"id: %d\ndata: empty type\n\n" % ids[2],
                 b"id: %d\ndata: a\ndata: b\ndata: c\ndata: \ndata: d\n\n" % ids[4],
                 b"id: %d\ndata: \n\n" % ids[5],
                 b"id: %d\ndata: x\ndata: \n\n" % ids[6]):
        check(frag in body, "raw frame %r not in the stream" % frag)
    c.close()


@case("channels: one, several, default")
def t_channels(env):
    lt = spawned(env)
    subs = {"channel=a": {"a"}, "channel=a&channel=b": {"a", "b"}, "": {"default"},
            "channel=default": {"default"}, "channel=room%2F1": {"room/1"},
            "channel=b&channel=x.y:z@w-_": {"b", "x.y:z@w-_"}}
    streams = {q: open_stream(lt.port, q) for q in subs}
    seq = ["a", "b", "default", "c", "room/1", "x.y:z@w-_", "a", "b", "default", "c",
           "room/1", "a", "x.y:z@w-_", "default", "b"]
    ids = publish_many(env.db, [(ch, None, "%s %d" % (ch, i)) for i, ch in enumerate(seq)])
    ids.append(publish_py(env.db, "no channel given"))  # column default
    seq.append("default")
    for q, chans in subs.items():
        want = [id for id, ch in zip(ids, seq) if ch in chans]
        c = streams[q]
        c.wait_id(want[-1], 3.0)
        expect_ids(c, want, "stream ?%s" % q)
        c.close()


@case("resume from Last-Event-ID, last_event_id, lastEventId; header wins")
def t_resume(env):
    lt = spawned(env)
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(5)])
    r = ids[1]  # resume after the second event
    variants = {
        "header": ("", {"Last-Event-ID": str(r)}, ids[2:]),
        "last_event_id": ("last_event_id=%d" % r, None, ids[2:]),
        "lastEventId": ("lastEventId=%d" % r, None, ids[2:]),
        "header beats query": ("last_event_id=%d&lastEventId=%d" % (ids[3], ids[3]),
                               {"Last-Event-ID": str(r)}, ids[2:]),
        "header beats query (2)": ("last_event_id=%d" % r, {"Last-Event-ID": str(ids[3])}, ids[4:]),
        "at head": ("", {"Last-Event-ID": str(ids[-1])}, []),
        "empty header": ("", {"Last-Event-ID": ""}, []),
        "none": ("", None, []),
    }
    check_backlogs(env, lt, variants)


@case("kill -9 of the worker and restart of lighttpd lose nothing on resume")
def t_crash_resume(env):
    w, lt = standalone(env)
    pub = Publisher(env.db, interval=0.02)
    got = []
    c = open_stream(lt.port)
    pub.start()
    try:
        c.wait_events(15, 5.0)
        w.signal(signal.SIGKILL)
        check(w.wait(5.0) is not None, "the worker survived SIGKILL")
        c.wait_end(5.0, "the stream did not end when the worker was killed")
        got += c.ids()
        w2 = env.start_worker()  # same socket path, left behind by the dead worker
        c = connect_until_ok(lt.port, headers={"Last-Event-ID": str(got[-1])})
        c.wait(lambda c: len(c.events) >= 15, 5.0, "no events after the worker restart")
        lt.signal(signal.SIGKILL)
        check(lt.wait(5.0) is not None, "lighttpd survived SIGKILL")
        c.wait_end(5.0, "the stream did not end when lighttpd was killed")
        got += c.ids()
        lt2 = env.start_lighttpd(socket_path=w2.sock, port=lt.port)
        c = connect_until_ok(lt2.port, headers={"Last-Event-ID": str(got[-1])})
        c.wait(lambda c: len(c.events) >= 15, 5.0, "no events after the lighttpd restart")
    finally:
        published = pub.stop()
    c.wait_id(published[-1], 5.0)
    got += c.ids()
    c.close()
    dups = sorted({i for i in got if got.count(i) > 1})
    check(not dups, "duplicated ids across reconnects: %s" % dups)
    missing = sorted(set(published) - set(got))
    check(not missing, "lost ids: %s" % missing)
    check(got == sorted(got) and set(got) == set(published),
          "ids out of order or unexpected: %s" % got)
    check(w2.alive(), "the restarted worker died: %s" % w2.returncode)


@case("streams accepted right after a worker (re)start are served")
def t_fresh_start(env):
    env.init_db()
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(5)])
    sock = env.path("w.sock")
    lt = env.start_lighttpd(socket_path=sock)
    for n in range(20):
        w = env.start_worker(sock=sock)
        # lighttpd is already up: the request reaches the worker within a
        # few ms of its listen(), as when clients reconnect after a restart.
        c = Client(lt.port, "/events", {"Last-Event-ID": str(ids[1])})
        c.wait(lambda c: len(c.events) >= 3 or c.done, 3.0)
        check(c.status == 200 and c.ids() == ids[2:] and not c.done,
              "start %d: status %s, ids %s, ended %s, comments %s"
              % (n, c.status, c.ids(), c.done, [t for t, _ in c.comments]))
        c.close()
        w.stop()


@case("a disconnected client frees its stream slot (max-streams 1) within one heartbeat")
def t_thread_freed(env):
    # Streams hold no thread once parked: the bound is max-streams.
    w, lt = standalone(env, threads=1, max_streams=1, heartbeat=2, busy_retry_ms=4321)
    a = open_stream(lt.port)
    b = Client(lt.port, "/events")
    b.wait_end(2.0, "B got no busy answer while A held the only slot")
    check(b.retries == [4321] and not b.events, "B: retries %s, events %s" % (b.retries, b.events))
    t = time.monotonic()
    a.abort()  # TCP reset, like a killed tab
    c = wait_until(lambda: served(lt.port), 6.0, "a stream after A reset its connection")
    dt = time.monotonic() - t
    check(dt < 4.0, "served %.2f s after A left" % dt)
    t = time.monotonic()
    c.close()  # orderly close (FIN)
    d = wait_until(lambda: served(lt.port), 6.0, "a stream after C closed its connection")
    dt = time.monotonic() - t
    check(dt < 4.0, "served %.2f s after C left" % dt)
    id = publish_py(env.db, "still live")
    d.wait_id(id, 3.0)
    d.close()
    check(w.alive(), "the worker died (status %s)" % w.returncode)


def status_json(port):
    """The worker's status page (status-path /events/status) as a dict."""
    r = request(port, "/events/status?json", timeout=3.0)
    check(r.status == 200, "status page: status %s" % r.status)
    return json.loads(bytes(r.body))


def check_gap(c, a, want):
    """The first event of c must be sselite-gap with id a and data want."""
    check(c.events, "no events at all")
    g = c.events[0]
    check(g.type == "sselite-gap" and g.id == str(a),
          "first event %r, expected sselite-gap with id %d" % (g, a))
    try:
        got = json.loads(g.data)
    except ValueError:
        raise TestFailure("gap data is not JSON: %r" % g.data)
    check(got == want, "gap data %s, expected %s" % (got, want))


@case("gap event for a pruned or future resume point")
def t_gap(env):
    env.init_db()
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(10)])
    prune_keep(env.db, 3)
    head, oldest = ids[-1], ids[-3]
    lt = spawned(env)  # init is idempotent: the pruned log stays as it is
    pruned = open_stream(lt.port, headers={"Last-Event-ID": str(ids[1])})
    edge = open_stream(lt.port, headers={"Last-Event-ID": str(oldest - 1)})
    future = open_stream(lt.port, headers={"Last-Event-ID": "1000"})
    athead = open_stream(lt.port, headers={"Last-Event-ID": str(head)})
    pruned.wait_id(head, 3.0)
    edge.wait_id(head, 3.0)
    future.wait_events(1, 3.0)
    new = publish_py(env.db, "new")
    for c in (pruned, edge, future, athead):
        c.wait_id(new, 3.0)
        c.close()
    check_gap(pruned, oldest - 1, {"reason": "pruned", "requested": ids[1],
                                   "resumed_after": oldest - 1, "oldest": oldest, "head": head})
    expect_ids(pruned, [oldest - 1] + ids[-3:] + [new], "pruned resume")
    expect_ids(edge, ids[-3:] + [new], "resume at oldest-1 (no gap)")
    check(all(e.type == "message" for e in edge.events), "gap event at oldest-1")
    check_gap(future, head, {"reason": "future", "requested": 1000, "resumed_after": head,
                             "oldest": oldest, "head": head})
    expect_ids(future, [head, new], "future resume")
    expect_ids(athead, [new], "resume at head (no gap)")


@case("gap event for events pruned while the worker runs")
def t_gap_live(env):
    lt = spawned(env, status_path="/events/status")
    live = open_stream(lt.port)
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(10)])
    live.wait_id(ids[-1], 3.0)  # the worker has read (and may cache) them all
    live.close()
    prune_keep(env.db, 3)
    head, oldest = ids[-1], ids[-3]
    # Until the worker has looked at the log again it serves a resume
    # point inside its memory from there, pruned or not (no gap either
    # way); the gap is owed once it has seen the prune, which its status
    # page tells.
    wait_until(lambda: status_json(lt.port).get("db_oldest_id") == oldest, 3.0,
               "the worker to see the prune (db_oldest_id %d)" % oldest)
    c = open_stream(lt.port, headers={"Last-Event-ID": str(ids[1])})
    c.wait(lambda c: len(c.events) >= 4, 3.0, "expected a gap and 3 events")
    check_gap(c, oldest - 1, {"reason": "pruned", "requested": ids[1],
                              "resumed_after": oldest - 1, "oldest": oldest, "head": head})
    expect_ids(c, [oldest - 1] + ids[-3:], "resume after a live prune")
    c.close()


def bad_requests(port):
    q = "/events?"
    return [
        ("Last-Event-ID abc", q, {"Last-Event-ID": "abc"}, "GET", 400),
        ("Last-Event-ID -1", q, {"Last-Event-ID": "-1"}, "GET", 400),
        ("Last-Event-ID '1 2'", q, {"Last-Event-ID": "1 2"}, "GET", 400),
        ("Last-Event-ID 19 digits", q, {"Last-Event-ID": "1234567890123456789"}, "GET", 400),
        ("Last-Event-ID 10 KB", q, {"Last-Event-ID": "1" * 10240}, "GET", 400),
        ("Last-Event-ID +5", q, {"Last-Event-ID": "+5"}, "GET", 400),
        ("last_event_id=abc", q + "last_event_id=abc", None, "GET", 400),
        ("lastEventId=1x", q + "lastEventId=1x", None, "GET", 400),
        ("channel 'a b'", q + "channel=a%20b", None, "GET", 400),
        ("channel %zz", q + "channel=%zz", None, "GET", 400),
        ("channel empty", q + "channel=", None, "GET", 400),
        ("channel 129 chars", q + "channel=" + "c" * 129, None, "GET", 400),
        ("33 channels", q + "&".join("channel=c%d" % i for i in range(33)), None, "GET", 400),
        ("replay=x", q + "replay=x", None, "GET", 400),
        ("POST", "/events", None, "POST", 405),
        ("PUT", "/events", None, "PUT", 405),
        ("DELETE", "/events", None, "DELETE", 405),
        ("query > 8 KiB", q + "channel=a&pad=" + "y" * 9000, None, "GET", 414),
    ]


@case("malformed requests get 400/405/414 with a one-line text/plain body")
def t_malformed(env):
    w, lt = standalone(env)
    problems = []
    for name, path, headers, method, want in bad_requests(lt.port):
        body = b"x=1" if method in ("POST", "PUT") else b""
        try:
            r = request(lt.port, path, method, headers, body, timeout=2.0)
        except TestFailure as e:
            problems.append("%s: %s" % (name, e))
            continue
        text = bytes(r.body).decode("utf-8", "replace")
        ct = (r.header("content-type") or "").lower()
        if r.status != want:
            problems.append("%s: status %s (expected %d), body %r" % (name, r.status, want, text[:120]))
        elif not ct.startswith("text/plain"):
            problems.append("%s: Content-Type %r" % (name, ct))
        elif not text.strip() or "\n" in text.rstrip("\n") or "\r" in text:
            problems.append("%s: body is not one line: %r" % (name, text[:200]))
        if not w.alive():
            problems.append("%s: the worker died (status %s)" % (name, w.returncode))
            break
    check(not problems, "; ".join(problems))
    c = open_stream(lt.port, "channel=a")
    id = publish_py(env.db, "after the bad requests", channel="a")
    c.wait_id(id, 3.0)
    c.close()


def served(port):
    """Returns an open normal stream (retry 3000, no error), or None."""
    try:
        c = open_stream(port)
    except TestFailure:
        return None
    if c.retries == [3000] and not c.done:
        return c
    c.close()
    return None


def expect_fault(port, w, what, error_retry):
    c = Client(port, "/events")
    c.wait_headers(3.0)
    c.wait_end(5.0, "%s: the stream did not end" % what)
    check(c.status == 200, "%s: status %s" % (what, c.status))
    check(c.retries == [error_retry], "%s: retry %s, expected [%d]" % (what, c.retries, error_retry))
    errs = [t for t, _ in c.comments if t.startswith(" error:")]
    check(errs, "%s: no ': error:' comment in %r" % (what, bytes(c.body[:300])))
    check(not c.events, "%s: events %s" % (what, c.events))
    check(w.alive(), "%s: the worker died (status %s)" % (what, w.returncode))
    return errs[0]


@case("server-side faults: missing, corrupt, uninitialised database")
def t_faults(env):
    for what in ("missing", "corrupt", "empty"):
        db = env.path(what + ".db")
        if what == "corrupt":
            with open(db, "wb") as f:
                f.write(os.urandom(16384))
        elif what == "empty":
            open(db, "wb").close()
        w = env.start_worker(db=db, sock=env.path(what + ".sock"), error_retry_ms=7000)
        lt = env.start_lighttpd(socket_path=w.sock)
        expect_fault(lt.port, w, what, 7000)
        expect_fault(lt.port, w, what + " (again)", 7000)
        with open(w.log, errors="replace") as f:
            logged = [ln for ln in f if re.search(r"\b(error|warn)", ln, re.I)]
        check(logged, "%s: no error or warning logged on stderr: %s" % (what, tail(w.log)))
        if what == "corrupt":
            os.unlink(db)
        env.init_db(db)  # the fault is gone
        # The worker may retry opening the database on a timer; it must do
        # so well within error-retry-ms, when clients come back.
        c = wait_until(lambda: served(lt.port), 3.0, "%s, then fixed: a normal stream" % what)
        id = publish_py(db, "served again")
        c.wait_id(id, 3.0)
        c.close()
        lt.stop()
        w.stop()


@case("max-lifetime ends streams on whole events; resume loses nothing")
def t_max_lifetime(env):
    lt = spawned(env, max_lifetime=2)
    pub = Publisher(env.db, interval=0.03)
    got = []
    last = None
    c = open_stream(lt.port)
    pub.start()
    try:
        for n in range(3):
            c.wait_end(4.5, "stream %d did not end after max-lifetime 2 s" % n)
            dur = c.now()
            check(1.5 <= dur <= 4.0, "stream %d lasted %.2f s" % (n, dur))
            check(c.clean_end, "stream %d was cut, not ended" % n)
            check(final_is_comment(c), "stream %d did not end on a whole event and a comment: %r"
                  % (n, bytes(c.body[-200:])))
            got += c.ids()
            last = c.last_id or last
            check(last, "stream %d carried no event" % n)
            c = connect_until_ok(lt.port, headers={"Last-Event-ID": last}, timeout=3.0)
    finally:
        published = pub.stop()
    if published[-1] not in got:
        c.wait_id(published[-1], 3.0)
    got += c.ids()
    c.close()
    dups = sorted({i for i in got if got.count(i) > 1})
    check(not dups, "duplicated ids across reconnects: %s" % dups)
    check(got == published, "lost ids: %s" % sorted(set(published) - set(got)))


@case("heartbeat comments every second when idle")
def t_heartbeat(env):
    lt = spawned(env, heartbeat=1)
    c = open_stream(lt.port)
    def beats(c):
        return [t for text, t in c.comments if "heartbeat" in text]
    c.wait(lambda c: len(beats(c)) >= 4, 6.0, "fewer than 4 heartbeats in 6 s")
    times = beats(c)
    gaps = [b - a for a, b in zip(times, times[1:])]
    check(all(0.5 <= g <= 1.8 for g in gaps), "heartbeat intervals %s" % ["%.2f" % g for g in gaps])
    # Each heartbeat is followed by a tiny probe comment (for Apache, which
    # notices a vanished client only on its second failed write).
    probes = [t for text, t in c.comments if text.strip() == ""]
    check(any(0.1 <= p - times[0] <= 0.6 for p in probes),
          "no probe comment shortly after the first heartbeat: %s" % c.comments)
    check(not c.events and not c.done, "events %s, ended %s" % (c.events, c.done))
    c.close()


@case("replay=N on a first connect; not with a resume point")
def t_replay(env):
    lt = spawned(env)
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(10)])
    variants = {"replay=3": ("replay=3", None, ids[-3:]),
                "no replay": ("", None, []),
                "replay=0": ("replay=0", None, []),
                "replay=100": ("replay=100", None, ids),
                "resume wins": ("replay=2", {"Last-Event-ID": str(ids[4])}, ids[5:])}
    check_backlogs(env, lt, variants)


@case("SIGTERM, SIGINT and SIGUSR1 end open streams and the worker exits 0")
def t_sigterm(env):
    env.init_db()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
        name = signal.Signals(sig).name
        w = env.start_worker(sock=env.path("%s.sock" % name))
        lt = env.start_lighttpd(socket_path=w.sock)
        streams = [open_stream(lt.port), open_stream(lt.port, "channel=other")]
        id = publish_py(env.db, "before " + name)
        streams[0].wait_id(id, 3.0)
        t = time.monotonic()
        w.signal(sig)
        for i, c in enumerate(streams):
            c.wait_end(5.0, "%s: stream %d did not end" % (name, i))
            check(c.clean_end, "%s: stream %d was cut, not ended" % (name, i))
            check(final_is_comment(c), "%s: stream %d did not end with a final comment: %r"
                  % (name, i, bytes(c.body[-200:])))
            c.close()
        rc = w.wait(5.0)
        check(rc is not None, "%s: the worker still runs %.1f s later" % (name, time.monotonic() - t))
        check(rc == 0, "%s: the worker exited with status %s" % (name, rc))
        lt.stop()


@case("stopping lighttpd stops the worker it spawned")
def t_lighttpd_stop(env):
    lt = spawned(env)
    c = open_stream(lt.port)
    lt.signal(signal.SIGTERM)
    check(lt.wait(5.0) is not None, "lighttpd did not stop")
    c.wait_end(3.0)
    c.close()
    for w in lt.workers:
        check(w.wait(5.0) is not None, "the spawned worker %d outlived lighttpd" % w.pid)


@case("long poll: backlog at once, else the first new events")
def t_longpoll(env):
    lt = spawned(env, longpoll_timeout=1)
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(3)])
    r = request(lt.port, "/events?longpoll=1&last_event_id=%d" % ids[0], timeout=3.0)
    check(r.status == 200, "status %s" % r.status)
    ct = (r.header("content-type") or "").replace(" ", "").lower()
    check(ct == "text/plain;charset=utf-8", "Content-Type %r" % r.header("content-type"))
    expect_ids(r, ids[1:], "long poll with a backlog")
    c = Client(lt.port, "/events", {"X-Requestor": "XHR", "Last-Event-ID": str(ids[-1]),
                                    "Connection": "close"})
    new = publish_py(env.db, "new")
    c.wait_end(3.0, "the XHR long poll did not end")
    c.close()
    check(c.status == 200, "status %s" % c.status)
    expect_ids(c, [new], "X-Requestor long poll")
    r = request(lt.port, "/events?longpoll=1&last_event_id=%d" % new, timeout=4.0)
    check(r.status == 200 and not r.events, "empty long poll: status %s, events %s" % (r.status, r.events))
    check(r.now() < 3.0, "empty long poll took %.1f s with longpoll-timeout 1" % r.now())


def cors_headers(c):
    return (c.header("access-control-allow-origin"), c.header("access-control-allow-credentials"),
            ",".join(c.headers.get("vary", [])).lower())


@case("CORS: allowed origin, refused origin, preflight, *, credentials")
def t_cors(env):
    origin = "https://app.example"
    env.init_db()
    w = env.start_worker(sock=env.path("list.sock"), cors_origins="https://other.example," + origin)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = open_stream(lt.port, headers={"Origin": origin})
    acao, acac, vary = cors_headers(c)
    check(acao == origin and acac is None and "origin" in vary,
          "allowed origin: Allow-Origin %r, Allow-Credentials %r, Vary %r" % (acao, acac, vary))
    c.close()
    r = request(lt.port, headers={"Origin": "https://evil.example"}, timeout=3.0)
    check(r.status == 403, "foreign origin: status %s" % r.status)
    own = open_stream(lt.port, headers={"Origin": "http://127.0.0.1:%d" % lt.port})
    own.close()
    r = request(lt.port, method="OPTIONS", timeout=3.0,
                headers={"Origin": origin, "Access-Control-Request-Method": "GET",
                         "Access-Control-Request-Headers": "last-event-id"})
    check(r.status == 204, "preflight status %s" % r.status)
    methods = (r.header("access-control-allow-methods") or "").upper()
    allowed = (r.header("access-control-allow-headers") or "").lower()
    check("GET" in methods, "Allow-Methods %r" % methods)
    for h in ("last-event-id", "cache-control", "x-requestor"):
        check(h in allowed, "Allow-Headers %r lacks %s" % (allowed, h))

    w = env.start_worker(sock=env.path("star.sock"), cors_origins="*")
    lt = env.start_lighttpd(socket_path=w.sock)
    c = open_stream(lt.port, headers={"Origin": "https://anyone.example"})
    acao, acac, vary = cors_headers(c)
    check(acao == "*" and acac is None, "'*': Allow-Origin %r, Allow-Credentials %r" % (acao, acac))
    c.close()

    w = env.start_worker(sock=env.path("cred.sock"), cors_origins=origin, cors_credentials=True)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = open_stream(lt.port, headers={"Origin": origin})
    acao, acac, vary = cors_headers(c)
    check(acao == origin and acac == "true" and "origin" in vary,
          "credentials: Allow-Origin %r, Allow-Credentials %r, Vary %r" % (acao, acac, vary))
    c.close()


@case("past max-streams the busy answer comes at once; one thread holds many streams")
def t_busy(env):
    # heartbeat 1: lighttpd notices a departed client at its next write.
    w, lt = standalone(env, threads=2, max_streams=3, busy_retry_ms=4321, heartbeat=1)
    held = [open_stream(lt.port) for _ in range(3)]  # more than threads
    b = Client(lt.port, "/events")
    b.wait_end(2.0, "the busy answer did not come within 2 s")
    check(b.status == 200 and b.retries == [4321] and not b.events,
          "busy answer: status %s, retries %s, events %s" % (b.status, b.retries, b.events))
    check(b.comments, "busy answer without a comment")
    id = publish_py(env.db, "to the held streams")
    for c in held:
        c.wait_id(id, 3.0)
    held[0].close()
    c = wait_until(lambda: served(lt.port), 5.0, "a stream once one had left")
    id = publish_py(env.db, "after busy")
    c.wait_id(id, 3.0)
    c.close()
    for h in held[1:]:
        h.close()


@case("a stalled client is dropped after write-timeout and frees its thread")
def t_stalled(env):
    w, lt = standalone(env, threads=1, write_timeout=2, heartbeat=1)
    a = Client(lt.port, "/events", rcvbuf=4096)
    a.wait(lambda c: c.comments, 3.0, "no stream for the client that will stall")
    # About 24 MB: more than the socket buffers between worker, lighttpd and
    # a client that stopped reading can hold, so the worker's writes block.
    big = "x" * (384 * 1024)
    publish_many(env.db, [("default", None, big) for _ in range(64)])
    t = time.monotonic()
    b = Client(lt.port, "/events")
    b.wait(lambda c: c.retries, 12.0, "B not served while A stalls (write-timeout 2 s)")
    dt = time.monotonic() - t
    check(b.status == 200 and dt < 8.0, "B served after %.1f s (status %s)" % (dt, b.status))
    a.abort()
    b.close()
    check(w.alive(), "the worker died (status %s)" % w.returncode)


@case("a replaced database ends streams; resuming gets a future gap")
def t_replaced(env):
    w, lt = standalone(env)
    ids = publish_many(env.db, [("default", None, "old %d" % i) for i in range(10)])
    s = open_stream(lt.port, headers={"Last-Event-ID": str(ids[7])})
    s.wait_id(ids[-1], 3.0)
    # Restore-from-backup style: a complete new database renamed into place
    # (its WAL checkpointed away when its last connection closed).
    fresh = env.init_db(env.path("fresh.db"))
    new = publish_many(fresh, [("default", None, "new %d" % i) for i in range(2)])
    check(not os.path.exists(fresh + "-wal"), "fresh.db still has a WAL file")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(env.db + suffix):
            os.unlink(env.db + suffix)
    os.rename(fresh, env.db)
    s.wait(lambda c: c.done or any(e.type == "sselite-gap" for e in c.events), 5.0,
           "the open stream neither ended nor got a gap after the database was replaced")
    s.close()
    c = connect_until_ok(lt.port, headers={"Last-Event-ID": s.last_id}, timeout=5.0)
    c.wait_events(1, 3.0)
    g = c.events[0]
    want = {"reason": "future", "requested": ids[-1], "resumed_after": new[-1],
            "oldest": new[0], "head": new[-1]}
    check(g.type == "sselite-gap" and g.id == str(new[-1]) and json.loads(g.data) == want,
          "first event %r %r, expected a future gap %s" % (g, g.data, want))
    nxt = publish_py(env.db, "after the replacement")
    c.wait_id(nxt, 3.0)
    expect_ids(c, [new[-1], nxt], "after the replacement")
    c.close()
    check(w.alive(), "the worker died (status %s)" % w.returncode)


@case("resume and bursts beyond the in-memory ring read the database")
def t_ring(env):
    lt = spawned(env, ring_events=16, batch=7)
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(100)])
    old = open_stream(lt.port, headers={"Last-Event-ID": str(ids[4])})
    # A stream reads no further than the hub's head, so once this one has
    # the last id the hub has read every row, and a first connect starts
    # after them (on PostgreSQL the hub hears of commits by NOTIFY, which
    # can come after the client's connect).
    old.wait_id(ids[-1], 5.0)
    live = open_stream(lt.port, "channel=default&channel=other")
    burst = publish_many(env.db, [("other" if i % 3 else "default", None, "b%d" % i)
                                  for i in range(300)])
    old.wait_id(burst[-3], 5.0)  # the last "default" one of the burst
    live.wait_id(burst[-1], 5.0)
    expect_ids(old, ids[5:] + [b for i, b in enumerate(burst) if i % 3 == 0], "resume from the database")
    expect_ids(live, burst, "burst of 300 with a ring of 16")
    old.close()
    live.close()


@case("padding=1 sends a 2 KiB comment first; ping-path answers pong")
def t_padding_ping(env):
    lt = spawned(env, ping_path="/events/ping", status_path="/events/status")
    c = open_stream(lt.port, "padding=1")
    body = bytes(c.body)
    check(c.items[0][0] == "comment" and body.startswith(b":") and body.index(b"\n\n") + 2 >= 2048,
          "the stream did not start with a 2 KiB comment: %r" % body[:80])
    c.close()
    r = request(lt.port, "/events/ping", timeout=3.0)
    check(r.status == 200 and bytes(r.body).strip() == b"pong",
          "ping: status %s, body %r" % (r.status, bytes(r.body[:100])))
    r = request(lt.port, "/events/status", timeout=3.0)
    check(r.status == 200 and r.body, "status page: status %s, body %r" % (r.status, bytes(r.body[:100])))
