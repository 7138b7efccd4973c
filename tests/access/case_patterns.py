# case_patterns.py - pattern subscriptions (issue 8, part 2): channel=orders/*
# on the live path (the hub's ring and its direct writes), on the backlog
# (bounded range reads from SQLite), with replay, long poll, the sselite-gap
# check over the matched channels, and in `sselite tail`. Each case runs a
# real worker behind lighttpd on a real SQLite file (tests/postgres runs
# them on PostgreSQL too).
# SPDX-License-Identifier: MIT

from harness import CLI, check, delete_ids, publish_many, request, run
from registry import case
from tokens import stream as open_stream

# Channels that share characters with the patterns below without sharing
# their separator, or that equal the prefix without it.
NEAR_MISSES = ["orders", "ordersx", "orders0", "order/1", "user/4", "user/42",
               "user/420/x", "news2", "other"]


def worker_and_lighttpd(env, **opts):
    env.init_db()
    w = env.start_worker(**opts)
    return w, env.start_lighttpd(socket_path=w.sock)


def publish_mix(db, tag, near_misses=True):
    """Publishes one row to each wanted channel and each near miss,
    interleaved; returns {id: channel} of the wanted rows."""
    wanted = ["orders/1", "orders/2/x", "news", "user/42/inbox", "orders/"]
    items, kinds = [], []
    for i, ch in enumerate(wanted):
        items.append((ch, None, "%s %s" % (tag, ch)))
        kinds.append(True)
        if near_misses and i < len(NEAR_MISSES):
            items.append((NEAR_MISSES[i], None, "%s %s" % (tag, NEAR_MISSES[i])))
            kinds.append(False)
    if near_misses:
        for ch in NEAR_MISSES[len(wanted):]:
            items.append((ch, None, "%s %s" % (tag, ch)))
            kinds.append(False)
    ids = publish_many(db, items)
    return {i: ch for i, ch, k in zip(ids, [it[0] for it in items], kinds) if k}


PATH = "/events?channel=orders/*&channel=news&channel=user/42/*"


def check_exact(c, want, what):
    got = [(int(e.id), e.data) for e in c.events]
    exp = [(i, "%s %s" % (want[1], ch)) for i, ch in sorted(want[0].items())]
    check(got == exp, "%s: got %r, want %r" % (what, got, exp))


@case("p1: channel=orders/* live: every channel under the prefix, no near miss, in id order")
def live_prefix(env):
    _, lt = worker_and_lighttpd(env)
    c = open_stream(lt.port, PATH)
    try:
        want = publish_mix(env.db, "live")
        c.wait_events(len(want), 5.0)
        # Near misses are interleaved: anything extra arrives with them.
        more = publish_mix(env.db, "more", near_misses=False)
        c.wait_events(len(want) + len(more), 5.0)
        got = [(int(e.id), e.data) for e in c.events]
        exp = [(i, "live %s" % ch) for i, ch in sorted(want.items())] + \
              [(i, "more %s" % ch) for i, ch in sorted(more.items())]
        check(got == exp, "live pattern stream: got %r, want %r" % (got, exp))
    finally:
        c.close()


@case("p2: pattern resume from the log (outside the ring): exact rows after Last-Event-ID")
def backlog_prefix(env):
    env.init_db()
    # Many rows of other channels between the wanted ones, and a ring too
    # small to hold the backlog, so the resume is read from SQLite.
    items = []
    for i in range(400):
        items.append(("noise/%d" % (i % 7), None, "n%d" % i))
        if i % 10 == 0:
            items.append(("orders/%d" % (i % 3), None, "o%d" % i))
        if i % 25 == 0:
            items.append(("user/42/x", None, "u%d" % i))
        if i % 33 == 0:
            items.append(("user/420/x", None, "miss%d" % i))
    ids = publish_many(env.db, items)
    w = env.start_worker(ring_events=16, batch=7)
    lt = env.start_lighttpd(socket_path=w.sock)
    rows = list(zip(ids, items))
    resume = rows[len(rows) // 3][0]
    exp = [(i, it[2]) for i, it in rows if i > resume and
           (it[0].startswith("orders/") or it[0].startswith("user/42/"))]
    c = open_stream(lt.port, PATH, {"Last-Event-ID": str(resume)})
    try:
        c.wait_events(len(exp), 8.0)
        tail_ids = publish_many(env.db, [("orders/9", None, "after"), ("noise/1", None, "x")])
        c.wait_events(len(exp) + 1, 5.0)
        got = [(int(e.id), e.data) for e in c.events]
        check(got == exp + [(tail_ids[0], "after")],
              "resumed pattern stream: got %d events %r..., want %d" %
              (len(got), got[:5], len(exp) + 1))
        check(not any(e.type == "sselite-gap" for e in c.events), "unexpected gap event")
    finally:
        c.close()


@case("p3: pattern replay=N and long poll: the newest N matching rows, then the next one")
def replay_longpoll_prefix(env):
    _, lt = worker_and_lighttpd(env)
    want = publish_mix(env.db, "r")
    newest = sorted(want.items())[-3:]
    c = open_stream(lt.port, PATH + "&replay=3")
    try:
        c.wait_events(3, 5.0)
        got = [(int(e.id), e.data) for e in c.events]
        check(got == [(i, "r %s" % ch) for i, ch in newest], "replay=3: got %r" % got)
    finally:
        c.close()
    last = max(want)
    r = request(lt.port, PATH + "&longpoll=1&last_event_id=%d" % (last - 4), timeout=8.0)
    got = [(int(e.id), e.data) for e in r.events]
    exp = [(i, "r %s" % ch) for i, ch in sorted(want.items()) if i > last - 4]
    check(r.status == 200 and got == exp, "long poll: status %s, got %r, want %r" % (r.status, got, exp))


@case("p4: sselite-gap over the matched channels: pruning under the prefix is a gap, elsewhere not")
def gap_prefix(env):
    _, lt = worker_and_lighttpd(env, ring_events=16)
    ids = publish_many(env.db, [("orders/1", None, "a"), ("other", None, "b"),
                                ("orders/2", None, "c"), ("other", None, "d"),
                                ("orders/1", None, "e")] +
                       [("noise", None, "n%d" % i) for i in range(40)])
    delete_ids(env.db, [ids[1], ids[3]])
    # Only "other" lost rows: a resume of orders/* from before them is whole.
    c = open_stream(lt.port, "/events?channel=orders/*", {"Last-Event-ID": str(ids[0])})
    try:
        c.wait_events(2, 5.0)
        check([(int(e.id), e.type) for e in c.events[:2]] == [(ids[2], "message"), (ids[4], "message")],
              "resume over unpruned channels: %r" % c.events[:3])
    finally:
        c.close()
    delete_ids(env.db, [ids[2]])
    c = open_stream(lt.port, "/events?channel=orders/*", {"Last-Event-ID": str(ids[0])})
    try:
        c.wait_events(2, 5.0)
        gap = c.events[0]
        check(gap.type == "sselite-gap" and '"reason":"pruned"' in gap.data and
              int(gap.id) == ids[2], "pruned under the prefix: first event %r" % gap)
        check(int(c.events[1].id) == ids[4] and c.events[1].data == "e",
              "after the gap: %r" % c.events[1])
        check(all(k not in gap.data for k in ("orders/", "other")),
              "the gap event names channels: %r" % gap.data)
    finally:
        c.close()


@case("p5: sselite tail --channel 'orders/*' prints the matching rows; bad patterns refused")
def tail_prefix(env):
    env.init_db()
    want = publish_mix(env.db, "t")
    r = run([CLI, "tail", env.db, "--channel", "orders/*", "--channel", "user/42/*",
             "--channel", "news"])
    check(r.returncode == 0, "tail failed: %s" % r.stderr)
    got = [int(line[4:]) for line in r.stdout.splitlines() if line.startswith("id: ")]
    check(got == sorted(want), "tail ids %r, want %r" % (got, sorted(want)))
    r = run([CLI, "tail", env.db, "--channel", "orders*"])
    check(r.returncode != 0 and "prefix" in r.stderr, "tail with orders*: %d %r" % (r.returncode, r.stderr))


@case("p6: malformed patterns get 400 with a one-line reason")
def bad_pattern(env):
    _, lt = worker_and_lighttpd(env)
    for q in ("channel=orders*", "channel=a/*/b", "channel=**", "channel=user/4*"):
        r = request(lt.port, "/events?" + q)
        body = bytes(r.body).decode("utf-8", "replace")
        check(r.status == 400 and "prefix" in body and body.count("\n") == 1,
              "%s: status %s body %r" % (q, r.status, body))
