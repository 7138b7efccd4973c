#!/usr/bin/env python3
# run.py - the publisher cases (see run.sh, which prepares Node.js and Go):
# each example in deploy/publishers/ is run as a user would run it, against
# a real event log served by a real worker behind lighttpd, with the
# integration suite's harness and runner. Last line: "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Every example has the same interface: EXAMPLE DB CHANNEL COUNT NAME
# publishes COUNT events with data and idempotency key NAME-1..NAME-COUNT
# and prints their ids, one per line.

import contextlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "integration"))

import importlib.util  # noqa: E402

import cases  # noqa: E402  (the integration runner reads cases.CASES)
from cases import expect_ids, open_stream, spawned  # noqa: E402
from harness import CLI, REPO, TestFailure, check  # noqa: E402

EXAMPLES = os.path.join(REPO, "deploy", "publishers")
PROCS = 8            # processes publishing at once
PER_PROC = 40        # events each of them publishes
RUN_TIMEOUT = 45.0   # seconds for one batch of processes

# The integration runner runs cases.CASES: ours only, registered with its
# own decorator.
del cases.CASES[:]
case = cases.case


def need(prog, install):
    if shutil.which(prog) is None:
        raise TestFailure("%s not found (apt-get install %s)" % (prog, install))


# Each returns the command that runs one example, or raises TestFailure.
def argv_shell():
    return ["sh", os.path.join(EXAMPLES, "publish.sh")]


def argv_sqlite3():
    need("sqlite3", "sqlite3")
    return ["sh", os.path.join(EXAMPLES, "publish-sqlite3.sh")]


def argv_python():
    return [sys.executable, os.path.join(EXAMPLES, "publish.py")]


def argv_php_sqlite3():
    need("php", "php-cli php-sqlite3")
    return ["php", os.path.join(EXAMPLES, "publish-sqlite3.php")]


def argv_php_pdo():
    need("php", "php-cli php-sqlite3")
    return ["php", os.path.join(EXAMPLES, "publish-pdo.php")]


def argv_perl():
    need("perl", "perl libdbd-sqlite3-perl")
    return ["perl", os.path.join(EXAMPLES, "publish.pl")]


def argv_ruby():
    need("ruby", "ruby ruby-sqlite3")
    return ["ruby", os.path.join(EXAMPLES, "publish.rb")]


def argv_node():
    if os.environ.get("PUBLISHERS_NODE_ERROR"):
        raise TestFailure("Node.js sqlite3 module: " + os.environ["PUBLISHERS_NODE_ERROR"])
    return [os.environ.get("NODE", "node"), os.path.join(EXAMPLES, "publish.js")]


def argv_go():
    if not os.environ.get("PUBLISHERS_GO"):
        raise TestFailure(os.environ.get("PUBLISHERS_GO_ERROR", "run through tests/publishers/run.sh"))
    return [os.environ["PUBLISHERS_GO"]]


def argv_tcl():
    need("tclsh", "tcl libsqlite3-tcl")
    return ["tclsh", os.path.join(EXAMPLES, "publish.tcl")]


LANGUAGES = [
    ("shell, sselite publish", argv_shell),
    ("shell, sqlite3 tool", argv_sqlite3),
    ("Python, sqlite3", argv_python),
    ("PHP, SQLite3 class", argv_php_sqlite3),
    ("PHP, PDO", argv_php_pdo),
    ("Perl, DBD::SQLite", argv_perl),
    ("Ruby, sqlite3", argv_ruby),
    ("Node.js, sqlite3", argv_node),
    ("Go, database/sql + go-sqlite3", argv_go),
    ("Tcl, sqlite3", argv_tcl),
]


def child_env():
    env = dict(os.environ)
    env["SSELITE"] = CLI  # publish.sh runs the build under test
    return env


def start(argv, db, channel, count, name):
    return subprocess.Popen(argv + [db, channel, str(count), name], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=child_env())


def finish(procs, what):
    """Waits for every process (bounded); returns the ids each printed.
    A process that fails, or says anything on stderr ("database is
    locked" above all), fails the case."""
    deadline = time.monotonic() + RUN_TIMEOUT
    results = []
    for p in procs:
        try:
            out, err = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                q.kill()
                q.communicate()
            raise TestFailure("%s: still running after %.0f s" % (what, RUN_TIMEOUT))
        check("locked" not in err and "busy" not in err.lower(),
              "%s: a publisher hit the lock: %s" % (what, err.strip()[:300]))
        check(p.returncode == 0 and not err.strip(),
              "%s: status %d, stderr %r" % (what, p.returncode, err.strip()[:300]))
        try:
            results.append([int(line) for line in out.split()])
        except ValueError:
            raise TestFailure("%s printed %r, not ids" % (what, out[:200]))
    return results


def stored(db, channel):
    """{idem_key: id} of channel's events, and their count."""
    with contextlib.closing(sqlite3.connect(db, timeout=5)) as con:
        rows = con.execute("SELECT idem_key, id FROM events WHERE channel = ? ORDER BY id",
                           (channel,)).fetchall()
    return dict(rows), len(rows)


def language_case(label, get_argv):
    channel = "pub-" + "".join(c if c.isalnum() else "-" for c in label.split(",")[0]).lower()

    @case("%s: new id, idempotent retry, %d processes at once, every event streamed once"
          % (label, PROCS))
    def fn(env):
        argv = get_argv()
        lt = spawned(env)
        c = open_stream(lt.port, "channel=" + channel)

        (single,) = finish([start(argv, env.db, channel, 1, "single")], "one publish")
        check(len(single) == 1 and single[0] > 0, "one publish printed %s" % single)
        (retry,) = finish([start(argv, env.db, channel, 1, "single")], "its retry")
        check(retry == single, "the retry printed %s, not the first id %s" % (retry, single))

        names = ["p%d" % k for k in range(PROCS)]
        first = finish([start(argv, env.db, channel, PER_PROC, n) for n in names],
                       "%d processes at once" % PROCS)
        keys, count = stored(env.db, channel)
        check(count == 1 + PROCS * PER_PROC,
              "%d events stored, expected %d" % (count, 1 + PROCS * PER_PROC))
        for n, ids in zip(names, first):
            check(len(ids) == PER_PROC and ids == sorted(set(ids)),
                  "process %s printed %d ids, not %d increasing ones" % (n, len(ids), PER_PROC))
            want = [keys.get("%s-%d" % (n, i)) for i in range(1, PER_PROC + 1)]
            check(ids == want, "process %s printed ids %s..., the log has %s..." % (n, ids[:5], want[:5]))

        # The same again, all at once: every retry gets the first ids.
        again = finish([start(argv, env.db, channel, PER_PROC, n) for n in names],
                       "%d processes retrying at once" % PROCS)
        check(again == first, "the retries printed other ids than the first run")
        check(stored(env.db, channel)[1] == count, "the retries stored new events")

        all_ids = sorted(keys.values())
        c.wait_id(all_ids[-1], 10.0)
        c.close()
        expect_ids(c, all_ids, "the stream of %s" % channel)
    return fn


for _label, _argv in LANGUAGES:
    language_case(_label, _argv)


def outbox_case(label, argv_fn, script):
    @case("%s outbox: the order and its event commit together; a rolled-back one never streams"
          % label)
    def fn(env):
        argv = argv_fn() + [os.path.join(EXAMPLES, script)]
        lt = spawned(env)
        c = open_stream(lt.port, "channel=orders")

        def order(order_id, total, *extra):
            p = subprocess.run(argv + [env.db, str(order_id), str(total)] + list(extra),
                               capture_output=True, text=True, timeout=RUN_TIMEOUT)
            return p.returncode, p.stdout.strip(), p.stderr

        rc, out, err = order(1, 100)
        check(rc == 0 and out.isdigit(), "order 1: status %d, %r %r" % (rc, out, err[-300:]))
        id1 = int(out)
        rc, out, err = order(2, 200, "--fail")
        check(rc != 0 and "simulated failure" in err and not out,
              "order 2 with --fail: status %d, stdout %r, stderr %r" % (rc, out, err[-300:]))
        rc, out, err = order(3, 300)
        check(rc == 0 and out.isdigit(), "order 3: status %d, %r %r" % (rc, out, err[-300:]))
        id3 = int(out)

        c.wait_id(id3, 5.0)
        c.close()
        expect_ids(c, [id1, id3], "the orders stream")
        check(all('"id": 2' not in e.data and '"id":2' not in e.data for e in c.events),
              "the rolled-back order reached the stream: %s" % [e.data for e in c.events])
        with contextlib.closing(sqlite3.connect(env.db, timeout=5)) as con:
            orders = con.execute("SELECT id, total FROM orders ORDER BY id").fetchall()
            events = con.execute("SELECT idem_key FROM events WHERE channel = 'orders'"
                                 " ORDER BY id").fetchall()
        check(orders == [(1, 100), (3, 300)], "orders table: %s" % orders)
        check(events == [("order-1-created",), ("order-3-created",)], "order events: %s" % events)
    return fn


outbox_case("Python", lambda: [sys.executable], "outbox.py")
outbox_case("PHP (PDO)", lambda: (need("php", "php-cli php-sqlite3"), ["php"])[1], "outbox.php")

_spec = importlib.util.spec_from_file_location(
    "integration_run", os.path.join(os.path.dirname(HERE), "integration", "run.py"))
integration_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration_run)

if __name__ == "__main__":
    sys.exit(integration_run.main(sys.argv[1:]))
