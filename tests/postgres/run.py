#!/usr/bin/env python3
# run.py - runs the PostgreSQL cases (pg_cases.py) with the integration
# suite's harness and runner: one line per case, then exactly
# "N passed, N failed".
# SPDX-License-Identifier: MIT
#
# Usage: run.py [PATTERN...]   (run only cases whose "NN name" contains one)

import importlib.util
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in the source tree
HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(TESTS, "integration"))
sys.path.insert(0, os.path.join(TESTS, "reliability"))  # registry, for tests/access
sys.path.insert(0, os.path.join(TESTS, "access"))
sys.path.insert(0, HERE)

import cases  # noqa: E402  (the integration runner reads cases.CASES)
import pg_cases  # noqa: E402
import registry  # noqa: E402
import case_patterns  # noqa: E402,F401  (they register with registry)
import case_tokens  # noqa: E402,F401
import case_users  # noqa: E402,F401

_spec = importlib.util.spec_from_file_location(
    "integration_run", os.path.join(os.path.dirname(HERE), "integration", "run.py"))
integration_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(integration_run)

# The integration suite's cases run here on PostgreSQL too (one suite, two
# engines), but for those that are about a SQLite file as such.
SQLITE_ONLY = ("server-side faults: missing, corrupt, uninitialised database",
               "a replaced database ends streams; resuming gets a future gap")
integration_cases = [("integration on PostgreSQL: " + name, fn)
                     for name, fn in cases.CASES if name not in SQLITE_ONLY]
# The access suite's cases whose answer depends on the event log: pattern
# subscriptions (live, backlog, replay, long poll, gap, tail), a token's
# grant on every read path, and REMOTE_USER with the grants table.
ACCESS = ("p1:", "p2:", "p3:", "p4:", "p5:", "a5:", "u1:", "u2:", "u3:")
access_cases = [("access on PostgreSQL: " + name, fn)
                for name, fn in registry.CASES if name.startswith(ACCESS)]
cases.CASES[:] = pg_cases.CASES + integration_cases + access_cases

if __name__ == "__main__":
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        print("not ok - prerequisites: python3-psycopg2 is not installed")
        print("0 passed, 1 failed")
        sys.exit(1)
    try:
        import harness
        wanted = [c for c in integration_cases + access_cases
                  if not sys.argv[1:] or any(a in c[0] for a in sys.argv[1:])]
        if wanted:  # their Env needs the server's URI before they start
            harness.PG_BASE = pg_cases.primary().uri()
        sys.exit(integration_run.main(sys.argv[1:]))
    finally:
        pg_cases.shutdown()
