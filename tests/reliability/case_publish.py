# case_publish.py - cases for issue 11 through a real lighttpd and worker:
# replay=latest (the newest event of each channel on a first connect) and
# idempotent publishing (a retried publish reaches a stream once).
# SPDX-License-Identifier: MIT

import contextlib
import sqlite3

from cases import expect_ids, open_stream, spawned
from harness import CLI, check, publish_many, publish_py, request, run
from registry import case


def publish_idem(db, channel, data, key):
    """The README's idiom: INSERT ... ON CONFLICT DO NOTHING, then the id of
    the one event with this key, in one transaction."""
    with contextlib.closing(sqlite3.connect(db, timeout=5, isolation_level=None)) as con:
        con.execute("BEGIN IMMEDIATE")
        con.execute("INSERT INTO events(channel, data, idem_key) VALUES (?, ?, ?)"
                    " ON CONFLICT DO NOTHING", (channel, data, key))
        (eid,) = con.execute("SELECT id FROM events WHERE channel = ? AND idem_key = ?",
                             (channel, key)).fetchone()
        con.execute("COMMIT")
        return eid


@case("p1: replay=latest: the newest event of each channel, in id order, then live")
def t_replay_latest(env):
    lt = spawned(env)
    ids = publish_many(env.db, [("a", None, "a1"), ("b", None, "b1"), ("a", None, "a2"),
                                ("other", None, "o1"), ("b", None, "b2"), ("a", None, "a3"),
                                ("other", None, "o2")])
    a3, b2 = ids[5], ids[4]
    variants = {
        "two channels": ("channel=a&channel=b&replay=latest", None, [b2, a3]),
        "channel without events": ("channel=a&channel=none&replay=latest", None, [a3]),
        "resume wins": ("channel=a&channel=b&replay=latest", {"Last-Event-ID": str(ids[3])}, [b2, a3]),
        "resume by query wins": ("channel=a&replay=latest&last_event_id=%d" % a3, None, []),
    }
    streams = {}
    for name, (q, h, backlog) in variants.items():
        streams[name] = open_stream(lt.port, q, h)
        if backlog:
            streams[name].wait_id(backlog[-1], 3.0)
    new_b = publish_py(env.db, "live", channel="b")
    new_a = publish_py(env.db, "live", channel="a")
    for name, (q, h, backlog) in variants.items():
        c = streams[name]
        live = [new_b, new_a] if "channel=b" in q else [new_a]
        c.wait_id(live[-1], 3.0)
        expect_ids(c, backlog + live, name)
        c.close()
    c = streams["two channels"]
    check([e.data for e in c.events[:2]] == ["b2", "a3"],
          "replay=latest sent data %s" % [e.data for e in c.events[:2]])

    # A long poll with replay=latest answers at once with the latest events.
    r = request(lt.port, "/events?channel=a&channel=b&replay=latest&longpoll=1", timeout=3.0)
    check(r.status == 200, "long poll status %s" % r.status)
    expect_ids(r, [new_b, new_a], "long poll with replay=latest")
    r = request(lt.port, "/events?replay=newest", timeout=3.0)
    check(r.status == 400, "replay=newest: status %s, not 400" % r.status)


@case("p1: the replay setting 'latest' applies to every first connect")
def t_replay_latest_setting(env):
    lt = spawned(env, replay="latest")
    ids = publish_many(env.db, [("default", None, "e%d" % i) for i in range(5)])
    c = open_stream(lt.port)
    c.wait_id(ids[-1], 3.0)
    new = publish_py(env.db, "new")
    c.wait_id(new, 3.0)
    expect_ids(c, [ids[-1], new], "replay setting latest")
    c.close()
    # replay=N in the query overrides the setting.
    c = open_stream(lt.port, "replay=2")
    c.wait_id(new, 3.0)
    expect_ids(c, [ids[-1], new], "replay=2 over the setting")
    c.close()


@case("p2: an idempotent publish retried reaches a stream once, with the first id")
def t_idempotent_retry(env):
    lt = spawned(env)
    c = open_stream(lt.port, "channel=orders")
    first = publish_idem(env.db, "orders", "paid", "order-7-paid")
    # Retries: the idiom in SQL, and the CLI.
    again = [publish_idem(env.db, "orders", "paid (retry)", "order-7-paid") for _ in range(3)]
    r = run([CLI, "publish", env.db, "--channel", "orders", "--data", "paid (cli retry)",
             "--idem-key", "order-7-paid"])
    check(r.returncode == 0, "sselite publish --idem-key: status %d: %s" % (r.returncode, r.stderr))
    again.append(int(r.stdout))
    check(again == [first] * 4, "retries got ids %s, not %d" % (again, first))
    after = publish_py(env.db, "next", channel="orders")
    c.wait_id(after, 3.0)
    expect_ids(c, [first, after], "stream after retries")
    check(c.events[0].data == "paid", "the stream got %r" % c.events[0].data)
    c.close()
