# pg_cases.py - the PostgreSQL cases: the event log in a real PostgreSQL 15
# primary (and a streaming hot standby), read by real workers behind lighttpd.
# SPDX-License-Identifier: MIT
#
# One primary serves the whole suite (started on first use, stopped at the
# end); each case works in a schema of its own (sselite_schema=cN), so cases
# do not see each other's events. The standby is made on first use with
# pg_basebackup -R. Every URI carries the role's password, so every case can
# check that it never shows: not in ps, not in a log, not on the status page.

import json
import os
import random
import re
import subprocess
import threading
import time

import ordering
import pgcluster
from harness import (CLI, Client, TestFailure, check, connect_until_ok, request,
                     run, tail, wait_until)
from tokens import basic, lighttpd_auth, refused, stream

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def schema_version():
    """The schema version this build writes (SSE_SCHEMA_VERSION)."""
    with open(os.path.join(REPO, "lib", "admin.h")) as f:
        m = re.search(r"^#define SSE_SCHEMA_VERSION (\d+)$", f.read(), re.M)
    check(m is not None, "SSE_SCHEMA_VERSION not found in lib/admin.h")
    return int(m.group(1))

CASES = []
_state = {"primary": None, "standby": None, "n": 0}


def case(name):
    def deco(fn):
        CASES.append((name, fn))
        return fn
    return deco


def shutdown():
    for k in ("standby", "primary"):
        if _state[k] is not None:
            _state[k].destroy()
            _state[k] = None


def primary():
    if _state["primary"] is None:
        c = pgcluster.Cluster()
        _state["primary"] = c  # destroyed by shutdown() even if set-up fails
        c.init().start().setup_app()
        c.psql("CREATE TABLE orders (id serial PRIMARY KEY, note text NOT NULL);"
               " ALTER TABLE orders OWNER TO sse", db=pgcluster.DBNAME)
    return _state["primary"]


def standby():
    if _state["standby"] is None:
        _state["standby"] = primary().standby()
    return _state["standby"]


def new_schema():
    _state["n"] += 1
    return "c%d" % _state["n"]


def log_uri(cluster, schema):
    return cluster.uri(extra="?sselite_schema=" + schema)


def cli(*args, input=None):
    return run([CLI] + list(args), input=input)


def fresh_log():
    """A schema of its own on the primary, initialised: (pg, schema, uri)."""
    pg = primary()
    schema = new_schema()
    uri = log_uri(pg, schema)
    init(uri)
    return pg, schema, uri


def init(uri):
    r = cli("init", uri)
    check(r.returncode == 0, "sselite init failed: %s" % r.stderr.strip())
    return r


def publish(cluster, schema, data, channel="default", event=None):
    """Publishes as an application would: psycopg2, in its own transaction."""
    con = cluster.connect(autocommit=False)
    try:
        cur = con.cursor()
        cur.execute("INSERT INTO %s.events (channel, event, data) VALUES (%%s, %%s, %%s)"
                    " RETURNING id" % schema, (channel, event, data))
        i = cur.fetchone()[0]
        con.commit()
        return i
    finally:
        con.close()


def no_password(text, what):
    check(pgcluster.PASSWORD not in text, "the password shows in %s" % what)


def read_file(path):
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().replace(b"\0", b" ").decode("utf-8", "replace")


def stream_ids(c):
    return [int(e.id) for e in c.events if e.type == "message"]


# ------------------------------------------------------------------ cases

@case("ordering: ids become visible in increasing order under concurrent,"
      " slow and rolled-back transactions; a plain bigserial fails the same test")
def t_ordering(env):
    pg = primary()
    schema = new_schema()
    init(log_uri(pg, schema))
    r = ordering.run(pg, schema, seconds=3.0)
    check(len(r["committed"]) > 200, "too few commits to mean anything: %d"
          % len(r["committed"]))
    check(not r["late"], "ids appeared below the reader's cursor: %s" % r["late"][:10])
    check(not r["lost"], "committed ids the cursor never read: %s" % r["lost"][:10])
    check(r["seen"] == sorted(set(r["seen"])), "ids read twice or out of order")
    # The control: the same load on a bigserial must show the defect.
    ctl = new_schema()
    ordering.make_bigserial(pg, ctl)
    c = ordering.run(pg, ctl, seconds=3.0)
    check(c["late"] and c["lost"],
          "the test cannot tell: a plain bigserial showed no late id"
          " (late %d, lost %d of %d)" % (len(c["late"]), len(c["lost"]),
                                          len(c["committed"])))
    print("#   sselite schema: %d commits, 0 late; bigserial: %d commits, %d late, %d lost"
          % (len(r["committed"]), len(c["committed"]), len(c["late"]), len(c["lost"])))


@case("sselite init/publish/tail/stats/prune on a postgresql:// URI; limits"
      " refused; the password is never printed")
def t_cli(env):
    pg = primary()
    schema = new_schema()
    uri = log_uri(pg, schema)
    sv = schema_version()
    r = init(uri)
    check("(schema version %d)" % sv in r.stdout and r.stdout.startswith("initialised"),
          "init said %r" % r.stdout)
    r2 = init(uri)
    check("up to date (schema version %d)" % sv in r2.stdout, "second init said %r" % r2.stdout)
    ids = []
    for i in range(3):
        p = cli("publish", uri, "--channel", "news", "--event", "up", "--data",
                "line %d\nsecond" % i)
        check(p.returncode == 0, "publish: %s" % p.stderr)
        ids.append(int(p.stdout))
    check(ids == sorted(ids) and len(set(ids)) == 3, "ids %s" % ids)
    k1 = cli("publish", uri, "--channel", "news", "--idem-key", "k1", "--data", "x")
    k2 = cli("publish", uri, "--channel", "news", "--idem-key", "k1", "--data", "x")
    check(k1.returncode == 0 and k1.stdout == k2.stdout,
          "idempotent publish printed %r then %r" % (k1.stdout, k2.stdout))
    t = cli("tail", uri, "--channel", "news", "--limit", "1")
    check(t.stdout == "id: %d\nevent: up\ndata: line 0\ndata: second\n\n" % ids[0],
          "tail printed %r" % t.stdout)
    # The schema refuses what could not reach a browser, with the rule.
    big = cli("publish", uri, input="x" * (4 * 1024 * 1024 + 1))
    check(big.returncode == 2, "4 MiB + 1 accepted: %s" % big.stderr)
    nul = cli("publish", uri, "--data", "ok")  # control: a valid one works
    check(nul.returncode == 0, "publish failed: %s" % nul.stderr)
    con = pg.connect()
    for sql, rule in [("INSERT INTO %s.events (channel, data) VALUES ('a b', 'x')", "channel"),
                      ("INSERT INTO %s.events (channel, event, data) VALUES ('a', E'x\\ny', 'x')", "event"),
                      ("INSERT INTO %s.events (id, channel, data) VALUES (999, 'a', 'x')", "id"),
                      ("UPDATE %s.events SET id = id + 1000", "id")]:
        try:
            con.cursor().execute(sql % schema)
        except Exception as e:
            check(rule in str(e), "refused, but not naming %s: %s" % (rule, e))
        else:
            raise TestFailure("accepted: " + sql % schema)
    con.close()
    s = cli("stats", uri, "--json")
    st = json.loads(s.stdout)
    check(st["schema_version"] == sv and st["rows"] == 5 and st["head_id"] >= ids[-1],
          "stats %s" % s.stdout)
    pr = cli("prune", uri, "--keep", "2", "--channel", "news")
    check(pr.returncode == 0 and pr.stdout.strip() == "2", "prune printed %r %r"
          % (pr.stdout, pr.stderr))
    st2 = json.loads(cli("stats", uri, "--json").stdout)
    news = [c for c in st2["channels"] if c["name"] == "news"][0]
    check(news["rows"] == 2 and news["resume_after"] == ids[1],
          "after prune: %s" % news)
    # Retention rules walk the channels through the index, in batches.
    rules = env.path("retention.conf")
    with open(rules, "w") as f:
        f.write("news  keep 1\n*  keep 1000\n")
    rr = cli("prune", uri, "--rules", rules, "--batch", "1")
    check(rr.returncode == 0 and re.search(r"^news: deleted 1 through id %d " % ids[2],
                                          rr.stdout, re.M),
          "prune --rules printed %r %r" % (rr.stdout, rr.stderr))
    st3 = json.loads(cli("stats", uri, "--json").stdout)
    news = [c for c in st3["channels"] if c["name"] == "news"][0]
    check(news["rows"] == 1, "after the rules: %s" % news)
    # A wrong password: the reason, never the password.
    bad = pg.uri().replace(pgcluster.PASSWORD, "not-" + pgcluster.PASSWORD)
    b = cli("stats", bad + "&sselite_schema=" + schema if "?" in bad
            else bad + "?sselite_schema=" + schema)
    check(b.returncode == 1 and "password authentication failed" in b.stderr,
          "wrong password: %r" % b.stderr)
    # A long-running command hides the password from ps.
    follow = subprocess.Popen([CLI, "tail", uri, "--follow", "--timeout", "20s"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: ":***@" in cmdline(follow.pid), 5,
                   "sselite tail --follow to scrub its command line")
        no_password(cmdline(follow.pid), "the command line of sselite tail (ps)")
    finally:
        follow.kill()
        follow.wait(5)
    for out in (r.stdout, r.stderr, t.stderr, s.stderr, b.stderr, b.stdout):
        no_password(out, "the CLI's output")
    check(":***@" in b.stderr, "the URI is not shown, scrubbed: %r" % b.stderr)


@case("worker on PostgreSQL: live events woken by NOTIFY, exact resume,"
      " pruned gap; no password in ps, log or status page")
def t_worker(env):
    pg, schema, uri = fresh_log()
    # A 5 s poll: events that arrive much sooner came through NOTIFY.
    w = env.start_worker(db=uri, poll_ms=5000, status_path="/events/status")
    lt = env.start_lighttpd(socket_path=w.sock)
    c = connect_until_ok(lt.port, "/events?channel=a&channel=b")
    ids = []
    for i in range(5):
        t0 = time.monotonic()
        ids.append(publish(pg, schema, "live %d" % i, channel="a" if i % 2 else "b"))
        c.wait_id(ids[-1], 4.0)
        dt = time.monotonic() - t0
        check(dt < 2.0, "event %d took %.2f s with a 5 s poll: no NOTIFY wake-up" % (i, dt))
    publish(pg, schema, "not mine", channel="zzz")
    check(stream_ids(c) == ids, "live ids %s, expected %s" % (stream_ids(c), ids))
    c.close()
    more = [publish(pg, schema, "later %d" % i, channel="a") for i in range(3)]
    r = connect_until_ok(lt.port, "/events?channel=a&channel=b",
                         headers={"Last-Event-ID": str(ids[2])})
    r.wait_id(more[-1], 5.0)
    check(stream_ids(r) == ids[3:] + more, "resumed ids %s, expected %s"
          % (stream_ids(r), ids[3:] + more))
    r.close()
    # Pruned below the resume point: a gap event, then the rest. (A worker
    # that still holds the events in its ring would send them: a fresh one.)
    p = cli("prune", uri, "--keep", "1", "--channel", "a")
    check(p.returncode == 0, "prune: %s" % p.stderr)
    w2 = env.start_worker(db=uri, sock=env.path("w2.sock"))
    lt2 = env.start_lighttpd(socket_path=w2.sock)
    g = connect_until_ok(lt2.port, "/events?channel=a",
                         headers={"Last-Event-ID": str(ids[1])})
    g.wait_events(2, 5.0)
    check(g.events[0].type == "sselite-gap" and '"reason":"pruned"' in g.events[0].data,
          "no pruned gap: %s" % g.events)
    check(stream_ids(g) == [more[-1]], "after the gap: %s" % stream_ids(g))
    g.close()
    st = request(lt.port, "/events/status")
    check(st.status == 200, "status page: %s" % st.status)
    no_password(st.body.decode("utf-8", "replace"), "the status page")
    no_password(cmdline(w.pid), "the worker's command line (ps)")
    log = read_file(w.log)
    no_password(log, "the worker's log")
    check(":***@" in log, "the worker's start line does not name the URI: %s" % tail(w.log))


@case("kill -9 of a worker mid-stream: a new worker resumes the client exactly")
def t_kill9(env):
    pg, schema, uri = fresh_log()
    w1 = env.start_worker(db=uri, sock=env.path("w1.sock"))
    lt1 = env.start_lighttpd(socket_path=w1.sock)
    c = connect_until_ok(lt1.port, "/events?channel=k")
    first = [publish(pg, schema, "k%d" % i, channel="k") for i in range(3)]
    c.wait_id(first[-1], 5.0)
    os.kill(w1.pid, 9)
    c.wait_end(5.0, "the stream did not end when its worker was killed")
    during = [publish(pg, schema, "d%d" % i, channel="k") for i in range(3)]
    w2 = env.start_worker(db=uri, sock=env.path("w2.sock"))
    lt2 = env.start_lighttpd(socket_path=w2.sock)
    r = connect_until_ok(lt2.port, "/events?channel=k",
                         headers={"Last-Event-ID": c.last_id})
    after = publish(pg, schema, "after", channel="k")
    r.wait_id(after, 5.0)
    check(stream_ids(c) == first, "before the kill: %s" % stream_ids(c))
    check(stream_ids(r) == during + [after], "after the kill: %s, expected %s"
          % (stream_ids(r), during + [after]))


class Publishers:
    """Threads publishing on the primary while a client hops: autocommit
    INSERTs, transactions that also write the application's table (some
    rolled back), and noise on another channel. committed: the hop ids."""

    def __init__(self, pg, schema, seconds):
        self.pg, self.schema, self.seconds = pg, schema, seconds
        self.committed, self.rolled_back, self.errors = [], [], []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.work, args=(k,)) for k in range(4)]

    def work(self, k):
        rnd = random.Random(k)
        end = time.monotonic() + self.seconds
        try:
            con = self.pg.connect(autocommit=(k == 0))
            cur = con.cursor()
            n = 0
            while time.monotonic() < end:
                n += 1
                channel = "noise" if k == 3 else "hop"
                if k in (1, 2):
                    cur.execute("INSERT INTO orders (note) VALUES (%s)", ("order %d-%d" % (k, n),))
                cur.execute("INSERT INTO %s.events (channel, data) VALUES (%%s, %%s)"
                            " RETURNING id" % self.schema, (channel, "p%d-%d" % (k, n)))
                i = cur.fetchone()[0]
                rollback = k == 2 and n % 2 == 0
                if k != 0:
                    time.sleep(rnd.uniform(0, 0.01))
                    if rollback:
                        con.rollback()
                    else:
                        con.commit()
                with self.lock:
                    if rollback:
                        self.rolled_back.append(i)
                    elif channel == "hop":
                        self.committed.append(i)
                time.sleep(rnd.uniform(0.005, 0.03))
            con.close()
        except Exception as e:
            self.errors.append(e)

    def start(self):
        for t in self.threads:
            t.start()

    def join(self):
        for t in self.threads:
            t.join(30)
        check(not self.errors, "publisher failed: %s" % self.errors[:1])


@case("primary + hot standby: a client hopping between a host on each with"
      " Last-Event-ID gets exactly the committed events, in order, once")
def t_standby_hop(env):
    pg = primary()
    sb = standby()
    schema = new_schema()
    init(log_uri(pg, schema))
    pg.wait_replayed(sb)
    wa = env.start_worker(db=log_uri(pg, schema), sock=env.path("a.sock"))
    wb = env.start_worker(db=log_uri(sb, schema), sock=env.path("b.sock"), poll_ms=50)
    hosts = [env.start_lighttpd(socket_path=wa.sock).port,
             env.start_lighttpd(socket_path=wb.sock).port]
    pubs = Publishers(pg, schema, seconds=5.0)
    got, hops, last = [], 0, "0"
    rnd = random.Random(7)
    deadline = time.monotonic() + 40
    pubs.start()
    done = False
    while time.monotonic() < deadline:
        port = hosts[hops % 2]
        c = connect_until_ok(port, "/events?channel=hop", headers={"Last-Event-ID": last})
        want = rnd.randint(1, 6)
        c.wait(lambda c: len(c.events) >= want, 1.0)
        c.close()
        for e in c.events:
            check(e.type == "message", "host %d sent %s after %s: %r"
                  % (hops % 2, e.type, last, e.data))
            got.append(int(e.id))
            last = e.id
        hops += 1
        if done:
            break
        if not any(t.is_alive() for t in pubs.threads):
            pubs.join()
            pg.wait_replayed(sb)
            done = set(pubs.committed) <= set(got)
    pubs.join()
    want = sorted(pubs.committed)
    check(len(got) == len(set(got)), "ids received twice: %s"
          % sorted(i for i in set(got) if got.count(i) > 1)[:10])
    check(got == sorted(got), "ids out of order")
    check(not set(got) & set(pubs.rolled_back), "rolled-back ids delivered")
    check(got == want, "received %d ids, committed %d; missing %s, extra %s"
          % (len(got), len(want), sorted(set(want) - set(got))[:10],
             sorted(set(got) - set(want))[:10]))
    check(hops >= 10, "only %d hops" % hops)
    print("#   %d events over %d hops, %d rolled back" % (len(got), hops, len(pubs.rolled_back)))
    for w in (wa, wb):
        no_password(read_file(w.log), "a worker's log")


@case("PostgreSQL restart mid-stream: the stream ends with a retry, the worker"
      " logs the fault once, recovers by itself, and the client resumes exactly")
def t_restart(env):
    pg, schema, uri = fresh_log()
    w = env.start_worker(db=uri, error_retry_ms=200)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = connect_until_ok(lt.port, "/events?channel=r")
    before = [publish(pg, schema, "b%d" % i, channel="r") for i in range(3)]
    c.wait_id(before[-1], 5.0)
    pg.restart("fast")
    c.wait_end(10.0, "the stream did not end when PostgreSQL went away")
    check(any(t.startswith(" error:") for t, _ in c.comments),
          "no error comment at the end: %r" % bytes(c.body[-200:]))
    after = [publish(pg, schema, "a%d" % i, channel="r") for i in range(3)]
    r = connect_until_ok(lt.port, "/events?channel=r",
                         headers={"Last-Event-ID": c.last_id}, timeout=20)
    r.wait_events(3, 5.0)
    check(stream_ids(c) == before and stream_ids(r) == after,
          "before %s / after %s, expected %s / %s" % (stream_ids(c), stream_ids(r),
                                                     before, after))
    check(w.alive(), "the worker exited")
    log = read_file(w.log)
    faults = len(re.findall(r"cannot be read", log))
    back = len(re.findall(r"readable again", log))
    check(faults == 1 and back == 1,
          "expected one fault line and one recovery line, got %d and %d: %s"
          % (faults, back, tail(w.log)))
    no_password(log, "the worker's log")


def events_reads(pg, schema):
    """Tuples read from the events table of schema so far: (through its
    indexes, by sequential scans), from the statistics views, once every
    other client backend of the database has gone (a backend flushes its
    counts when it exits)."""
    con = pg.connect()
    cur = con.cursor()
    cur.execute("SELECT pg_backend_pid()")
    me = cur.fetchone()[0]

    def alone():
        cur.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s"
                    " AND backend_type = 'client backend' AND pid <> %s",
                    (pgcluster.DBNAME, me))
        return cur.fetchone()[0] == 0
    try:
        wait_until(alone, 10, "the other backends to exit and flush their counts")
        cur.execute("SELECT pg_stat_clear_snapshot()")
        cur.execute("SELECT coalesce(sum(idx_tup_read), 0) FROM pg_stat_user_indexes"
                    " WHERE schemaname = %s AND relname = 'events'", (schema,))
        idx = int(cur.fetchone()[0])
        cur.execute("SELECT coalesce(seq_tup_read, 0) FROM pg_stat_user_tables"
                    " WHERE schemaname = %s AND relname = 'events'", (schema,))
        seq = int(cur.fetchone()[0])
        return idx, seq
    finally:
        con.close()


@case("pattern subscription on PostgreSQL: a resume of orders/* is a bounded"
      " range read (index entries counted), exact, with no near miss")
def t_pattern_bounded(env):
    pg, schema, uri = fresh_log()
    # 3000 old rows under the prefix, then 3000 of another channel, then the
    # few the resume must send, among near misses. A read of the prefix's
    # whole range, or of every row after the resume point, takes thousands
    # of index entries (or a sequential scan); the walk, tens.
    con = pg.connect(autocommit=False)
    cur = con.cursor()
    cur.execute("INSERT INTO {0}.events (channel, data) SELECT 'orders/' || (g % 3),"
                " 'old ' || g FROM generate_series(1, 3000) AS g".format(schema))
    cur.execute("SELECT max(id) FROM {0}.events".format(schema))
    resume = cur.fetchone()[0]
    cur.execute("INSERT INTO {0}.events (channel, data) SELECT 'zz', 'noise ' || g"
                " FROM generate_series(1, 3000) AS g".format(schema))
    con.commit()
    con.close()
    new = []
    for ch in ("orders", "orders/1", "orders0", "orders/2/x", "ordersx", "orders.x",
               "orders/"):
        i = publish(pg, schema, "new " + ch, channel=ch)
        if ch.startswith("orders/"):
            new.append((i, "new " + ch))
    pg.psql("ANALYZE %s.events" % schema, db=pgcluster.DBNAME)
    idx0, seq0 = events_reads(pg, schema)
    w = env.start_worker(db=uri)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = connect_until_ok(lt.port, "/events?channel=orders/*",
                         headers={"Last-Event-ID": str(resume)})
    c.wait_events(len(new), 5.0)
    got = [(int(e.id), e.data) for e in c.events]
    check(got == new, "resumed orders/*: got %r, want %r" % (got, new))
    c.close()
    w.stop()
    lt.stop()
    idx1, seq1 = events_reads(pg, schema)
    print("#   index entries read: %d, rows read by sequential scans: %d"
          " (the prefix holds %d rows, the log %d)"
          % (idx1 - idx0, seq1 - seq0, 3000 + len(new), 6007))
    check(idx1 - idx0 < 300 and seq1 - seq0 < 300,
          "the resume read %d index entries and %d rows by sequential scans for"
          " %d events: not a bounded range read" % (idx1 - idx0, seq1 - seq0, len(new)))


@case("grants on PostgreSQL: a log made before schema 6 has none (refused, not a"
      " fault); sselite init adds the table; grant/revoke/grants and REMOTE_USER"
      " through the same worker")
def t_grants_upgrade(env):
    pg, schema, uri = fresh_log()
    # The log as a build of schema version 5 left it.
    pg.psql("DROP TABLE {0}.grants; UPDATE {0}.schema_version SET version = 5"
            .format(schema), db=pgcluster.DBNAME)
    ids = [publish(pg, schema, "t%d" % i, channel="team:red:%d" % i) for i in range(2)]
    w = env.start_worker(db=uri, user_channels="user/{user}/*")
    lt = lighttpd_auth(env, w.sock)
    path = "/events/private?channel=team:red:*"
    refused(lt.port, path, basic("bob"), words=("not granted",))
    g = cli("grant", uri, "bob", "team:red:*")
    check(g.returncode == 1 and "older than schema version 6" in g.stderr
          and "sselite init" in g.stderr, "grant on a version-5 log: %r" % g.stderr)
    up = init(uri)
    check("from schema version 5 to 6" in up.stdout, "init on a version-5 log said %r"
          % up.stdout)
    g = cli("grant", uri, "bob", "team:red:*")
    check(g.returncode == 0 and "granted team:red:* to bob" in g.stdout, "grant: %r %r"
          % (g.stdout, g.stderr))
    # The running worker finds the new table at the next connect.
    c = stream(lt.port, path, dict(basic("bob"), **{"Last-Event-ID": "0"}))
    try:
        c.wait_events(2)
        check([int(e.id) for e in c.events] == ids, "granted stream: %r" % c.events)
    finally:
        c.close()
    refused(lt.port, path, basic("alice"), words=("not granted",))
    cli("grant", uri, "alice", "shared:{user}", "--ttl", "1h")
    ls = cli("grants", uri)
    lines = ls.stdout.splitlines()
    check(ls.returncode == 0 and len(lines) == 2 and lines[0].startswith("alice\tshared:{user}\t")
          and lines[1] == "bob\tteam:red:*\tnever", "grants: %r" % ls.stdout)
    rv = cli("revoke", uri, "bob", "team:red:*")
    check(rv.returncode == 0 and rv.stdout.startswith("revoked"), "revoke: %r" % rv.stdout)
    refused(lt.port, path, basic("bob"), words=("not granted",))
    bad = cli("grant", uri, "x" * 257, "a")
    check(bad.returncode == 2, "a 257-byte principal: %r" % bad.stderr)
    for r in (g, up, ls, rv):
        no_password(r.stdout + r.stderr, "the CLI's output")


def worker_backends(pg):
    """Backends the sselite workers hold now (their application_name)."""
    con = pg.connect()
    try:
        cur = con.cursor()
        cur.execute("SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'sselite-fcgi'")
        return cur.fetchone()[0]
    finally:
        con.close()


@case("db-connections bounds a worker's backends: 30 clients resuming at once"
      " through 2 pooled connections (+ the detector's) get every event exactly")
def t_db_connections(env):
    pg, schema, uri = fresh_log()
    wait_until(lambda: worker_backends(pg) == 0, 15,
               "the workers of earlier cases to leave the server")
    con = pg.connect()
    cur = con.cursor()
    cur.execute("INSERT INTO %s.events (channel, data) SELECT 'p', 'row ' || g"
                " FROM generate_series(1, 300) g" % schema)
    cur.execute("SELECT id FROM %s.events WHERE channel = 'p' ORDER BY id" % schema)
    ids = [r[0] for r in cur.fetchall()]
    con.close()
    # batch 5: every resume is 60 bounded reads, so the clients' catch-ups
    # overlap and each borrows a connection many times.
    w = env.start_worker(db=uri, db_connections=2, batch=5,
                         status_path="/events/status")
    lt = env.start_lighttpd(socket_path=w.sock)
    peak = [0]
    sampling = threading.Event()

    def sample():
        while not sampling.is_set():
            peak[0] = max(peak[0], worker_backends(pg))
            sampling.wait(0.005)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    clients = []
    try:
        clients = [Client(lt.port, "/events?channel=p", {"Last-Event-ID": "0"},
                          read_timeout=30) for _ in range(30)]
        for c in clients:
            c.wait_id(ids[-1], 30.0)
    finally:
        sampling.set()
        sampler.join(10)
    for i, c in enumerate(clients):
        check(stream_ids(c) == ids, "client %d got %d ids (first %s), expected"
              " the 300 stored" % (i, len(stream_ids(c)), stream_ids(c)[:3]))
        c.close()
    check(0 < peak[0] <= 3, "the worker held %d backends at once; db-connections 2"
          " allows 2 pooled + the detector's 1" % peak[0])
    st = request(lt.port, "/events/status?format=prometheus")
    body = st.body.decode()
    m = re.search(r"^sselite_db_connections (\d+)$", body, re.M)
    check(m is not None and int(m.group(1)) <= 2, "status db_connections: %s"
          % (m.group(0) if m else body[:300]))
    check(re.search(r"^sselite_db_connection_waits_total [1-9]", body, re.M),
          "no borrower ever waited for a connection: the cap was not reached")


@case("a lock past busy-timeout-ms on PostgreSQL: the detector logs the"
      " server's reason, streams go on, and the next event arrives")
def t_busy_lock(env):
    pg, schema, uri = fresh_log()
    # A 1 s poll: the detector meets the lock at its next max(id) check,
    # and the lock is gone well before the check after that (a second busy
    # check in a row is a fault, as the SQLite d7 case checks).
    w = env.start_worker(db=uri, busy_timeout_ms=200, poll_ms=1000)
    lt = env.start_lighttpd(socket_path=w.sock)
    c = connect_until_ok(lt.port, "/events?channel=l")
    first = publish(pg, schema, "before", channel="l")
    c.wait_id(first, 5.0)
    locker = pg.connect(autocommit=False)
    try:
        locker.cursor().execute("LOCK TABLE %s.events IN ACCESS EXCLUSIVE MODE"
                                % schema)
        wait_until(lambda: "busy (" in read_file(w.log), 10,
                   "the detector to meet the lock past busy-timeout-ms")
    finally:
        locker.rollback()
        locker.close()
    after = publish(pg, schema, "after", channel="l")
    c.wait_id(after, 10.0)
    check(not c.done, "the stream ended during the lock")
    check(not any(t.startswith(" error:") for t, _ in c.comments),
          "the stream got an error comment: %r" % c.comments)
    check(stream_ids(c) == [first, after], "ids %s" % stream_ids(c))
    log = read_file(w.log)
    busy = re.findall(r"busy \(canceling statement due to (?:statement|lock)"
                      r" timeout; busy-timeout-ms 200\); retrying", log)
    check(len(busy) == 1, "expected one busy line with the server's reason:"
          " %s" % tail(w.log))
    check("cannot be read" not in log, "a lock was taken for a fault: %s" % tail(w.log))
    no_password(log, "the worker's log")
