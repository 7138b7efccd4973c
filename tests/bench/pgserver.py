#!/usr/bin/env python3
# pgserver.py - a throw-away PostgreSQL 15 cluster for the benchmarks.
# SPDX-License-Identifier: MIT
#
# Usage: pgserver.py start BASE PGPASSFILE
#   initdb's a cluster in BASE/bench (tests/postgres/pgcluster.py: run as an
#   unprivileged user, on a free loopback port and a unix socket in BASE),
#   with PostgreSQL's default durability (see BENCH_CONF), starts it, creates
#   the role and database sselite uses, writes that role's password to
#   PGPASSFILE (mode 0600, so no password is on a command line) and prints
#   one line: "POSTMASTER_PID PORT URI". run.sh stops the cluster by that PID
#   (SIGINT: PostgreSQL's fast shutdown) and removes BASE.

import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "postgres"))
import pgcluster  # noqa: E402

# pgcluster.Cluster.init() tunes a cluster for fast tests (fsync and
# full_page_writes off, small shared_buffers). A benchmark that compares the
# durable paths of two engines must not: these lines come later in
# postgresql.conf, so they win, and they are PostgreSQL 15's own defaults.
# wal_level=replica, synchronous_commit=on and hot_standby=on are the
# defaults already. The publisher may lower synchronous_commit for its own
# session (--synchronous normal), as SQLite's publisher lowers its
# synchronous pragma.
BENCH_CONF = {
    "fsync": "on",
    "full_page_writes": "on",
    "synchronous_commit": "on",
    "shared_buffers": "128MB",
    "max_connections": "100",
}


def start(base, passfile):
    os.makedirs(base, exist_ok=True)
    c = pgcluster.Cluster(base, "bench").init()
    c._conf(BENCH_CONF)
    c.start()
    c.setup_app()
    with open(os.path.join(c.data, "postmaster.pid")) as f:
        pid = int(f.readline())
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("127.0.0.1:%d:%s:%s:%s\n" % (c.port, pgcluster.DBNAME,
                                             pgcluster.USER, pgcluster.PASSWORD))
    print(pid, c.port, c.uri(password=False))


def main(argv):
    if len(argv) == 4 and argv[1] == "start":
        start(argv[2], argv[3])
        return 0
    sys.stderr.write("usage: pgserver.py start BASE PGPASSFILE\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
